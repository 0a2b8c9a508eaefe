//! Fair queues in SQL (`lifecycle::fair_round`): a fair queue's row in
//! `taskq_queues` holds its current round (`fair_round`, `NULL` when not
//! fair), `taskq_fair_lanes` each lane's next round, and every task row
//! its own round, which the claim index orders by after the priority.
//!
//! Rounds are given at submit, with two small reads (the queue's row by
//! key, its lanes by key), for a lane whose next round is ahead of the
//! current one the latest round it still holds (`latest_held`, an index
//! read), and one upsert of the lanes. A plain submit to a queue that is
//! not fair pays no round trip for this on SQLite and PostgreSQL: its one
//! `INSERT` is guarded by [`fair_queue_of`] and inserts nothing if a
//! queue is fair, and then the submit takes the transaction that gives
//! rounds (`enqueue`); MySQL reads first ([`any_fair`]). The claim stays
//! one statement over the index, and moves the queue's current round
//! after it with one `UPDATE … WHERE fair_round < $max`, monotonic, so
//! racing claimers need no lock (`lifecycle::fair_claimed`). Two racing
//! submits of one lane may give the same round; the claim order then
//! falls back to `seq`, which is all a round promises.

use std::collections::BTreeSet;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use taskq_core::lifecycle::{self, FairRounds};
use taskq_core::{Error, FairWeight, TaskRecord, TaskState};

use crate::backend::{SeaBackend, db_err};
use crate::entity::{fair_lane, queue, task};

/// A stored round as the round it is.
fn stored_round(what: &str, round: i64) -> Result<u64, Error> {
    u64::try_from(round)
        .map_err(|_| Error::backend(format!("{what}: stored round {round} is invalid")))
}

/// `SELECT 1 FROM taskq_queues WHERE name IN (…) AND fair_round IS NOT
/// NULL`: whether a queue of `tasks` is fair, as a condition a statement
/// can test (`NOT EXISTS`: the guard of `enqueue`'s one-statement insert)
/// or a read can run ([`any_fair`]).
pub(super) fn fair_queue_of(tasks: &[TaskRecord]) -> SelectStatement {
    let queues: BTreeSet<&str> = tasks.iter().map(|t| t.queue.as_str()).collect();
    Query::select()
        .expr(Expr::val(1))
        .from(queue::Entity)
        .and_where(Expr::col(queue::Column::Name).is_in(queues))
        .and_where(Expr::col(queue::Column::FairRound).is_not_null())
        .to_owned()
}

/// Whether a queue of `tasks` is fair: one read of their queues' rows.
pub(super) async fn any_fair(
    db: &impl ConnectionTrait,
    tasks: &[TaskRecord],
) -> Result<bool, Error> {
    let mut read = fair_queue_of(tasks);
    read.limit(1);
    Ok(db.query_one(&read).await.map_err(db_err)?.is_some())
}

/// The latest round a `PENDING` or `WAITING` task of `lane` in `queue`
/// holds not behind `current` (`lifecycle::owed_next`): one read of the
/// index `idx_taskq_tasks_fair_lane` per state. The literal
/// `fair_round > 0` is the index's condition, for the databases where it
/// is partial (a bound parameter would not let them use it).
async fn latest_held(
    db: &impl ConnectionTrait,
    queue: &str,
    lane: &str,
    current: u64,
) -> Result<Option<u64>, Error> {
    let current = i64::try_from(current).unwrap_or(i64::MAX);
    // `lifecycle::fair_lane`: no key and the empty key are one lane.
    let key = if lane.is_empty() {
        Expr::col(task::Column::ConcurrencyKey)
            .is_null()
            .or(Expr::col(task::Column::ConcurrencyKey).eq(""))
    } else {
        Expr::col(task::Column::ConcurrencyKey).eq(lane)
    };
    let mut latest = None;
    for state in [TaskState::Pending, TaskState::Waiting] {
        let statement = Query::select()
            .column(task::Column::FairRound)
            .from(task::Entity)
            .and_where(Expr::col(task::Column::Queue).eq(queue))
            .and_where(key.clone())
            .and_where(Expr::col(task::Column::State).eq(state.as_str()))
            .and_where(Expr::cust("fair_round > 0"))
            .and_where(Expr::col(task::Column::FairRound).gte(current))
            .order_by(task::Column::FairRound, Order::Desc)
            .limit(1)
            .to_owned();
        let Some(row) = db.query_one(&statement).await.map_err(db_err)? else {
            continue;
        };
        let round: i64 = row.try_get_by_index(0).map_err(db_err)?;
        latest = Ord::max(latest, Some(stored_round(queue, round)?));
    }
    Ok(latest)
}

/// Gives each task of a fair queue among `tasks` its round, through `db`
/// (the insert's own connection or transaction), and stores its lanes'
/// next rounds. Tasks of other queues keep round 0.
pub(crate) async fn assign_rounds(
    db: &impl ConnectionTrait,
    tasks: &mut [TaskRecord],
) -> Result<(), Error> {
    let queues: BTreeSet<String> = tasks.iter().map(|t| t.queue.clone()).collect();
    for name in queues {
        let row = queue::Entity::find_by_id(name.as_str())
            .one(db)
            .await
            .map_err(db_err)?;
        let Some(current) = row.and_then(|row| row.fair_round) else {
            continue;
        };
        let lanes: BTreeSet<String> = tasks
            .iter()
            .filter(|t| t.queue == name)
            .map(|t| lifecycle::fair_lane(t).to_owned())
            .collect();
        let mut rounds = FairRounds {
            current: stored_round(&name, current)?,
            ..FairRounds::default()
        };
        let stored = fair_lane::Entity::find()
            .filter(fair_lane::Column::Queue.eq(name.as_str()))
            .filter(fair_lane::Column::Lane.is_in(lanes.iter().map(String::as_str)))
            .all(db)
            .await
            .map_err(db_err)?;
        for lane in stored {
            if let Some(weight) = lane.weight {
                let weight = u32::try_from(weight).map_err(|_| {
                    Error::backend(format!("{name}: stored fair weight {weight} is invalid"))
                })?;
                rounds.weights.insert(lane.lane.clone(), weight);
            }
            let shared = u32::try_from(lane.shared).unwrap_or(u32::MAX);
            rounds.shared.insert(lane.lane.clone(), shared);
            rounds
                .next
                .insert(lane.lane, stored_round(&name, lane.next_round)?);
        }
        for lane in &lanes {
            if !rounds.ahead(lane) {
                continue;
            }
            let latest = latest_held(db, &name, lane, rounds.current).await?;
            rounds.owe(lane, latest);
        }
        rounds.assign(tasks.iter_mut().filter(|t| t.queue == name));
        let mut upsert = Query::insert();
        upsert.into_table(fair_lane::Entity).columns([
            fair_lane::Column::Queue,
            fair_lane::Column::Lane,
            fair_lane::Column::NextRound,
            fair_lane::Column::Shared,
        ]);
        for lane in lanes {
            let next = rounds.next.get(&lane).copied().unwrap_or(0);
            let shared = rounds.shared.get(&lane).copied().unwrap_or(1);
            upsert.values_panic([
                name.as_str().into(),
                lane.into(),
                i64::try_from(next).unwrap_or(i64::MAX).into(),
                i64::from(shared).into(),
            ]);
        }
        upsert.on_conflict(
            OnConflict::columns([fair_lane::Column::Queue, fair_lane::Column::Lane])
                .update_columns([fair_lane::Column::NextRound, fair_lane::Column::Shared])
                .to_owned(),
        );
        db.execute(&upsert).await.map_err(db_err)?;
    }
    Ok(())
}

/// After a claim of `queue` took `claimed` (`lifecycle::fair_claimed`):
/// moves the queue's current round up to the highest round taken, if it
/// is fair and that is higher. Nothing to do for tasks of round 0.
pub(crate) async fn claimed(
    db: &impl ConnectionTrait,
    queue: &str,
    claimed: &[TaskRecord],
) -> Result<(), Error> {
    let Some(max) = claimed
        .iter()
        .map(|t| t.fair_round)
        .max()
        .filter(|&r| r > 0)
    else {
        return Ok(());
    };
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    let statement = Query::update()
        .table(queue::Entity)
        .value(queue::Column::FairRound, max)
        .and_where(Expr::col(queue::Column::Name).eq(queue))
        .and_where(Expr::col(queue::Column::FairRound).lt(max))
        .to_owned();
    db.execute(&statement).await.map_err(db_err)?;
    Ok(())
}

impl SeaBackend {
    /// Sets a queue fair (a row with a current round of 0, keeping its
    /// other settings) or not (the round and the lanes forgotten, and the
    /// row deleted when nothing else keeps it).
    pub(super) async fn store_queue_fair(&self, queue: &str, fair: bool) -> Result<(), Error> {
        if fair {
            // A row if there is none; an existing one keeps its settings
            // and, already fair, its round.
            let insert = Query::insert()
                .into_table(queue::Entity)
                .columns([
                    queue::Column::Name,
                    queue::Column::Paused,
                    queue::Column::FairRound,
                ])
                .values_panic([queue.into(), false.into(), 0i64.into()])
                .on_conflict(
                    OnConflict::column(queue::Column::Name)
                        .do_nothing_on([queue::Column::Name])
                        .to_owned(),
                )
                .to_owned();
            self.db().execute(&insert).await.map_err(db_err)?;
            let update = Query::update()
                .table(queue::Entity)
                .value(queue::Column::FairRound, 0i64)
                .and_where(Expr::col(queue::Column::Name).eq(queue))
                .and_where(Expr::col(queue::Column::FairRound).is_null())
                .to_owned();
            self.db().execute(&update).await.map_err(db_err)?;
            return Ok(());
        }
        let statement = Query::update()
            .table(queue::Entity)
            .value(queue::Column::FairRound, None::<i64>)
            .and_where(Expr::col(queue::Column::Name).eq(queue))
            .to_owned();
        self.db().execute(&statement).await.map_err(db_err)?;
        // The lanes' rounds go; their weights stay (a row with a weight
        // keeps it, its rounds reset).
        fair_lane::Entity::delete_many()
            .filter(fair_lane::Column::Queue.eq(queue))
            .filter(fair_lane::Column::Weight.is_null())
            .exec(self.db())
            .await
            .map_err(db_err)?;
        let reset = Query::update()
            .table(fair_lane::Entity)
            .value(fair_lane::Column::NextRound, 0i64)
            .value(fair_lane::Column::Shared, 1i64)
            .and_where(Expr::col(fair_lane::Column::Queue).eq(queue))
            .to_owned();
        self.db().execute(&reset).await.map_err(db_err)?;
        self.forget_plain_queue(queue).await
    }

    /// A key's weight in its lane's row (made with no rounds if there is
    /// none; `None` clears it, and a row left with no round and no weight
    /// goes).
    pub(super) async fn store_fair_weight(
        &self,
        queue: &str,
        key: &str,
        weight: Option<u32>,
    ) -> Result<(), Error> {
        lifecycle::check_fair_weight(key, weight)?;
        let Some(weight) = weight else {
            let clear = Query::update()
                .table(fair_lane::Entity)
                .value(fair_lane::Column::Weight, None::<i64>)
                .and_where(Expr::col(fair_lane::Column::Queue).eq(queue))
                .and_where(Expr::col(fair_lane::Column::Lane).eq(key))
                .to_owned();
            self.db().execute(&clear).await.map_err(db_err)?;
            fair_lane::Entity::delete_many()
                .filter(fair_lane::Column::Queue.eq(queue))
                .filter(fair_lane::Column::Lane.eq(key))
                .filter(fair_lane::Column::NextRound.eq(0))
                .exec(self.db())
                .await
                .map_err(db_err)?;
            return Ok(());
        };
        let upsert = Query::insert()
            .into_table(fair_lane::Entity)
            .columns([
                fair_lane::Column::Queue,
                fair_lane::Column::Lane,
                fair_lane::Column::NextRound,
                fair_lane::Column::Shared,
                fair_lane::Column::Weight,
            ])
            .values_panic([
                queue.into(),
                key.into(),
                0i64.into(),
                1i64.into(),
                i64::from(weight).into(),
            ])
            .on_conflict(
                OnConflict::columns([fair_lane::Column::Queue, fair_lane::Column::Lane])
                    .update_column(fair_lane::Column::Weight)
                    .to_owned(),
            )
            .to_owned();
        self.db().execute(&upsert).await.map_err(db_err)?;
        Ok(())
    }

    /// The weights set in `queue`, by key.
    pub(super) async fn load_fair_weights(&self, queue: &str) -> Result<Vec<FairWeight>, Error> {
        let rows = fair_lane::Entity::find()
            .filter(fair_lane::Column::Queue.eq(queue))
            .filter(fair_lane::Column::Weight.is_not_null())
            .order_by_asc(fair_lane::Column::Lane)
            .all(self.db())
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|row| {
                let weight = row
                    .weight
                    .and_then(|w| u32::try_from(w).ok())
                    .ok_or_else(|| {
                        Error::backend(format!(
                            "{queue}: stored fair weight of {} is invalid",
                            row.lane
                        ))
                    })?;
                Ok(FairWeight {
                    key: row.lane,
                    weight,
                })
            })
            .collect()
    }
}
