//! Queue limits in SQL: the claim of a limited or rate-limited queue,
//! and the queue row that stores the limit (`taskq_queues.running_limit`)
//! and the rate limit with its bucket (`rate_starts`, `rate_period_us`,
//! `rate_tat_us`).
//!
//! A limited queue's claim runs in one write transaction: it locks the
//! queue's row (`SELECT … FOR UPDATE`; SQLite's write transaction already
//! holds the whole database), counts the queue's `RUNNING` tasks and
//! claims at most what `lifecycle::claim_capacity` leaves. Two claimers
//! of the queue take turns on the row, and the second counts after the
//! first committed (a new snapshot per statement: PostgreSQL's and
//! MySQL's read committed), so together they never exceed the limit. A
//! rate limit's bucket is read from the same locked row, and the claim
//! writes back what it spent (`lifecycle::rate_spend`) before it commits:
//! the next claimer reads the spent bucket. An unlimited queue never
//! takes the lock: its claim stays one statement. A claim that may take
//! a limited task type comes here too, and also locks the type's row
//! (`type_limit`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, QuerySelect};
use taskq_core::backend::ClaimRequest;
use taskq_core::rate_limit::RateLimit;
use taskq_core::{Error, lifecycle};

use super::statements::{claim_unguarded, running_count};
use super::type_limit::{admitted_ids, claim_ids, limited_due, locked_type_caps};
use super::type_rate::spend_rates;
use crate::backend::{SeaBackend, db_err};
use crate::entity::queue;
use crate::entity::task;

/// A stored `running_limit` as the limit it is.
fn stored_limit(queue: &str, limit: i64) -> Result<u32, Error> {
    u32::try_from(limit)
        .map_err(|_| Error::backend(format!("queue {queue}: stored limit {limit} is invalid")))
}

/// A rate limit and its bucket's time (`None`: full).
pub(crate) type Bucket = (RateLimit, Option<DateTime<Utc>>);

/// A stored rate limit and bucket time, if the row has a rate limit.
pub(crate) fn stored_rate(row: &queue::Model) -> Result<Option<Bucket>, Error> {
    let (Some(starts), Some(period)) = (row.rate_starts, row.rate_period_us) else {
        return Ok(None);
    };
    let bad = || Error::backend(format!("queue {}: stored rate limit is invalid", row.name));
    let starts = u32::try_from(starts).map_err(|_| bad())?;
    let period = u64::try_from(period).map_err(|_| bad())?;
    let tat = row.rate_tat_us.and_then(DateTime::from_timestamp_micros);
    Ok(Some((
        RateLimit::new(starts, Duration::from_micros(period)),
        tat,
    )))
}

/// What a limited claim may take, read with the queue's row locked, and
/// the rate limit's bucket it spends from.
pub(super) struct Locked {
    pub want: usize,
    rate: Option<Bucket>,
}

impl Locked {
    /// No limit: the claim takes what it asked for.
    pub fn unlimited(requested: usize) -> Locked {
        Locked {
            want: requested,
            rate: None,
        }
    }

    /// After the claim at `now` took `taken` tasks, in its transaction:
    /// writes back the spent bucket (`lifecycle::rate_spend`) and returns
    /// when it next allows a start, if not now (`Broker::claim_hold`).
    pub async fn spend(
        &self,
        txn: &DatabaseTransaction,
        queue: &str,
        now: DateTime<Utc>,
        taken: usize,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        let Some((limit, tat)) = self.rate else {
            return Ok(None);
        };
        let spent = lifecycle::rate_spend(&limit, tat, now, taken);
        if taken > 0 {
            let statement = Query::update()
                .table(queue::Entity)
                .value(
                    queue::Column::RateTatUs,
                    spent.map(|tat| tat.timestamp_micros()),
                )
                .and_where(Expr::col(queue::Column::Name).eq(queue))
                .to_owned();
            txn.execute(&statement).await.map_err(db_err)?;
        }
        Ok(lifecycle::rate_next_start(&limit, spent, now))
    }
}

/// With the queue's row locked in `txn`: how many tasks the claim may
/// take (the least of what it asks, `lifecycle::claim_capacity` and
/// `lifecycle::rate_capacity`), or `None` when the queue is paused.
pub(super) async fn locked_capacity(
    txn: &DatabaseTransaction,
    request: &ClaimRequest<'_>,
) -> Result<Option<Locked>, Error> {
    let queue = request.queue;
    let row = queue::Entity::find_by_id(queue)
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(db_err)?;
    let Some(row) = row else {
        // Cleared meanwhile: no limit, and not paused.
        return Ok(Some(Locked::unlimited(request.limit)));
    };
    if row.paused {
        return Ok(None);
    }
    let mut want = request.limit;
    if let Some(limit) = row.running_limit {
        let limit = stored_limit(queue, limit)?;
        let running: i64 = txn
            .query_one(&running_count(queue))
            .await
            .map_err(db_err)?
            .map(|row| row.try_get("", "running"))
            .transpose()
            .map_err(db_err)?
            .unwrap_or(0);
        want = lifecycle::claim_capacity(Some(limit), u64::try_from(running).unwrap_or(0), want);
    }
    let rate = stored_rate(&row)?;
    if let Some((limit, tat)) = rate {
        want = lifecycle::rate_capacity(&limit, tat, request.now, want);
    }
    Ok(Some(Locked { want, rate }))
}

impl SeaBackend {
    /// Whether the claim the one statement left short needs the locked
    /// one: the queue is not paused, and has a limit or a rate limit, or
    /// a due task of a limited type (`type_limit::limited_due`). One plain
    /// read (`SELECT CASE WHEN EXISTS … END`), to choose the locked claim,
    /// which reads the limits again, locked.
    pub(super) async fn is_limited(&self, request: &ClaimRequest<'_>) -> Result<bool, Error> {
        let row_where = |condition: Condition| {
            Query::select()
                .expr(Expr::val(1))
                .from(queue::Entity)
                .and_where(Expr::col(queue::Column::Name).eq(request.queue))
                .cond_where(condition)
                .to_owned()
        };
        let paused = row_where(Condition::all().add(Expr::col(queue::Column::Paused).eq(true)));
        let limited = row_where(
            Condition::any()
                .add(Expr::col(queue::Column::RunningLimit).is_not_null())
                .add(Expr::col(queue::Column::RateStarts).is_not_null()),
        );
        let verdict = Expr::case(Expr::exists(paused), Expr::cust("'no'"))
            .case(Expr::exists(limited), Expr::cust("'yes'"))
            .case(Expr::exists(limited_due(request)), Expr::cust("'yes'"))
            .finally(Expr::cust("'no'"));
        let statement = Query::select().expr_as(verdict, "limited").to_owned();
        let verdict: Option<String> = self
            .db()
            .query_one(&statement)
            .await
            .map_err(db_err)?
            .map(|row| row.try_get("", "limited"))
            .transpose()
            .map_err(db_err)?;
        Ok(verdict.as_deref() == Some("yes"))
    }

    /// Claims from a limited queue on PostgreSQL and SQLite (MySQL's
    /// claim in steps does the same in its own transaction).
    pub(super) async fn claim_limited(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<Vec<task::Model>, Error> {
        let txn = self.write_txn().await?;
        let Some(locked) = locked_capacity(&txn, request).await? else {
            txn.commit().await.map_err(db_err)?;
            return Ok(Vec::new());
        };
        let mut caps = locked_type_caps(&txn, request).await?;
        let mut wake = None;
        let rows = if locked.want > 0 && !caps.is_empty() {
            let request = ClaimRequest {
                limit: locked.want,
                ..request.clone()
            };
            let ids = admitted_ids(&txn, &request, &mut caps, None).await?;
            wake = spend_rates(&txn, &caps, request.now).await?;
            claim_ids(&txn, &request, ids).await?
        } else if locked.want > 0 {
            let request = ClaimRequest {
                limit: locked.want,
                ..request.clone()
            };
            let statement = txn.get_database_backend().build(&claim_unguarded(&request));
            task::Entity::find()
                .from_raw_sql(statement)
                .all(&txn)
                .await
                .map_err(db_err)?
        } else {
            Vec::new()
        };
        let hold = locked
            .spend(&txn, request.queue, request.now, rows.len())
            .await?;
        txn.commit().await.map_err(db_err)?;
        self.holds.record(request.queue, hold);
        self.wakes.record(request.queue, wake);
        Ok(rows)
    }

    /// Stores a queue's rate limit (`Some`, keeping its pause flag, limit
    /// and bucket) or clears it with its bucket (`None`, and the row goes
    /// when nothing else keeps it).
    pub(super) async fn store_queue_rate(
        &self,
        queue: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        match limit {
            Some(limit) => {
                let statement = Query::insert()
                    .into_table(queue::Entity)
                    .columns([
                        queue::Column::Name,
                        queue::Column::Paused,
                        queue::Column::RateStarts,
                        queue::Column::RatePeriodUs,
                    ])
                    .values_panic([
                        queue.into(),
                        false.into(),
                        i64::from(limit.starts).into(),
                        limit.period_micros().into(),
                    ])
                    .on_conflict(
                        OnConflict::column(queue::Column::Name)
                            .update_columns([
                                queue::Column::RateStarts,
                                queue::Column::RatePeriodUs,
                            ])
                            .to_owned(),
                    )
                    .to_owned();
                self.db().execute(&statement).await.map_err(db_err)?;
            }
            None => {
                let statement = Query::update()
                    .table(queue::Entity)
                    .value(queue::Column::RateStarts, None::<i64>)
                    .value(queue::Column::RatePeriodUs, None::<i64>)
                    .value(queue::Column::RateTatUs, None::<i64>)
                    .and_where(Expr::col(queue::Column::Name).eq(queue))
                    .to_owned();
                self.db().execute(&statement).await.map_err(db_err)?;
                self.holds.record(queue, None);
                self.forget_plain_queue(queue).await?;
            }
        }
        Ok(())
    }

    /// Stores a queue's limit (`Some`, keeping its pause flag) or clears
    /// it (`None`, and the row goes when the queue is not paused either).
    pub(super) async fn store_queue_limit(
        &self,
        queue: &str,
        limit: Option<u32>,
    ) -> Result<(), Error> {
        match limit {
            Some(limit) => {
                let statement = Query::insert()
                    .into_table(queue::Entity)
                    .columns([
                        queue::Column::Name,
                        queue::Column::Paused,
                        queue::Column::RunningLimit,
                    ])
                    .values_panic([queue.into(), false.into(), i64::from(limit).into()])
                    .on_conflict(
                        OnConflict::column(queue::Column::Name)
                            .update_column(queue::Column::RunningLimit)
                            .to_owned(),
                    )
                    .to_owned();
                self.db().execute(&statement).await.map_err(db_err)?;
            }
            None => {
                let statement = Query::update()
                    .table(queue::Entity)
                    .value(queue::Column::RunningLimit, None::<i64>)
                    .and_where(Expr::col(queue::Column::Name).eq(queue))
                    .to_owned();
                self.db().execute(&statement).await.map_err(db_err)?;
                self.forget_plain_queue(queue).await?;
            }
        }
        Ok(())
    }

    /// Deletes the queue's row if it is neither paused, limited,
    /// rate-limited nor fair (the condition is in the `DELETE`, so a racing pause
    /// or limit stays).
    pub(super) async fn forget_plain_queue(&self, queue: &str) -> Result<(), Error> {
        let statement = Query::delete()
            .from_table(queue::Entity)
            .and_where(Expr::col(queue::Column::Name).eq(queue))
            .and_where(Expr::col(queue::Column::Paused).eq(false))
            .and_where(Expr::col(queue::Column::RunningLimit).is_null())
            .and_where(Expr::col(queue::Column::RateStarts).is_null())
            .and_where(Expr::col(queue::Column::FairRound).is_null())
            .to_owned();
        self.db().execute(&statement).await.map_err(db_err)?;
        Ok(())
    }
}
