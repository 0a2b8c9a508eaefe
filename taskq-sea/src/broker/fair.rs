//! Fair queues in SQL (`lifecycle::fair_round`): a fair queue's row in
//! `taskq_queues` holds its current round (`fair_round`, `NULL` when not
//! fair), `taskq_fair_lanes` each lane's next round, and every task row
//! its own round, which the claim index orders by after the priority.
//!
//! Rounds are given at submit, with two small reads (the queue's row by
//! key, its lanes by key) and one upsert of the lanes. A plain submit to
//! a queue that is not fair pays no round trip for this on SQLite and
//! PostgreSQL: its one `INSERT` is guarded by [`fair_queue_of`] and
//! inserts nothing if a queue is fair, and then the submit takes the
//! transaction that gives rounds (`enqueue`); MySQL reads first
//! ([`any_fair`]). The claim stays one statement over the index, and
//! moves the queue's current round after it with one `UPDATE … WHERE
//! fair_round < $max`, monotonic, so racing claimers need no lock
//! (`lifecycle::fair_claimed`). Two racing submits of one lane may give
//! the same round; the claim order then falls back to `seq`, which is
//! all a round promises.

use std::collections::{BTreeSet, HashMap};

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use taskq_core::lifecycle::{self, FairRounds};
use taskq_core::{Error, TaskRecord};

use crate::backend::{SeaBackend, db_err};
use crate::entity::{fair_lane, queue};

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
            next: HashMap::new(),
        };
        let stored = fair_lane::Entity::find()
            .filter(fair_lane::Column::Queue.eq(name.as_str()))
            .filter(fair_lane::Column::Lane.is_in(lanes.iter().map(String::as_str)))
            .all(db)
            .await
            .map_err(db_err)?;
        for lane in stored {
            rounds
                .next
                .insert(lane.lane, stored_round(&name, lane.next_round)?);
        }
        rounds.assign(tasks.iter_mut().filter(|t| t.queue == name));
        let mut upsert = Query::insert();
        upsert.into_table(fair_lane::Entity).columns([
            fair_lane::Column::Queue,
            fair_lane::Column::Lane,
            fair_lane::Column::NextRound,
        ]);
        for lane in lanes {
            let next = rounds.next.get(&lane).copied().unwrap_or(0);
            upsert.values_panic([
                name.as_str().into(),
                lane.into(),
                i64::try_from(next).unwrap_or(i64::MAX).into(),
            ]);
        }
        upsert.on_conflict(
            OnConflict::columns([fair_lane::Column::Queue, fair_lane::Column::Lane])
                .update_column(fair_lane::Column::NextRound)
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
        fair_lane::Entity::delete_many()
            .filter(fair_lane::Column::Queue.eq(queue))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        self.forget_plain_queue(queue).await
    }
}
