//! Queue limits in SQL: the claim of a limited queue, and the queue row
//! that stores the limit (`taskq_queues.running_limit`).
//!
//! A limited queue's claim runs in one write transaction: it locks the
//! queue's row (`SELECT … FOR UPDATE`; SQLite's write transaction already
//! holds the whole database), counts the queue's `RUNNING` tasks and
//! claims at most what `lifecycle::claim_capacity` leaves. Two claimers
//! of the queue take turns on the row, and the second counts after the
//! first committed (a new snapshot per statement: PostgreSQL's and
//! MySQL's read committed), so together they never exceed the limit. An
//! unlimited queue never takes the lock: its claim stays one statement.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, QuerySelect};
use taskq_core::backend::ClaimRequest;
use taskq_core::{Error, lifecycle};

use super::statements::{claim_unguarded, running_count};
use crate::backend::{SeaBackend, db_err};
use crate::entity::queue;
use crate::entity::task;

/// A stored `running_limit` as the limit it is.
fn stored_limit(queue: &str, limit: i64) -> Result<u32, Error> {
    u32::try_from(limit)
        .map_err(|_| Error::backend(format!("queue {queue}: stored limit {limit} is invalid")))
}

/// With the queue's row locked in `txn`: how many tasks a claim asking for
/// `requested` may take, or `None` when the queue is paused.
pub(super) async fn locked_capacity(
    txn: &DatabaseTransaction,
    queue: &str,
    requested: usize,
) -> Result<Option<usize>, Error> {
    let row = queue::Entity::find_by_id(queue)
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(db_err)?;
    let Some(row) = row else {
        // Cleared meanwhile: no limit, and not paused.
        return Ok(Some(requested));
    };
    if row.paused {
        return Ok(None);
    }
    let Some(limit) = row.running_limit else {
        return Ok(Some(requested));
    };
    let limit = stored_limit(queue, limit)?;
    let running: i64 = txn
        .query_one(&running_count(queue))
        .await
        .map_err(db_err)?
        .map(|row| row.try_get("", "running"))
        .transpose()
        .map_err(db_err)?
        .unwrap_or(0);
    Ok(Some(lifecycle::claim_capacity(
        Some(limit),
        u64::try_from(running).unwrap_or(0),
        requested,
    )))
}

impl SeaBackend {
    /// The queue's limit when it has one and is not paused (a plain read,
    /// to choose the limited claim; the claim reads it again, locked).
    pub(super) async fn queue_limit(&self, queue: &str) -> Result<Option<u32>, Error> {
        let row = queue::Entity::find_by_id(queue)
            .one(self.db())
            .await
            .map_err(db_err)?;
        match row {
            Some(row) if !row.paused => row
                .running_limit
                .map(|limit| stored_limit(queue, limit))
                .transpose(),
            _ => Ok(None),
        }
    }

    /// Claims from a limited queue on PostgreSQL and SQLite (MySQL's
    /// claim in steps does the same in its own transaction).
    pub(super) async fn claim_limited(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<Vec<task::Model>, Error> {
        let txn = self.write_txn().await?;
        let want = locked_capacity(&txn, request.queue, request.limit).await?;
        let rows = match want {
            Some(want) if want > 0 => {
                let request = ClaimRequest {
                    limit: want,
                    ..request.clone()
                };
                let statement = txn.get_database_backend().build(&claim_unguarded(&request));
                task::Entity::find()
                    .from_raw_sql(statement)
                    .all(&txn)
                    .await
                    .map_err(db_err)?
            }
            _ => Vec::new(),
        };
        txn.commit().await.map_err(db_err)?;
        Ok(rows)
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

    /// Deletes the queue's row if it is neither paused nor limited (the
    /// condition is in the `DELETE`, so a racing pause or limit stays).
    pub(super) async fn forget_plain_queue(&self, queue: &str) -> Result<(), Error> {
        let statement = Query::delete()
            .from_table(queue::Entity)
            .and_where(Expr::col(queue::Column::Name).eq(queue))
            .and_where(Expr::col(queue::Column::Paused).eq(false))
            .and_where(Expr::col(queue::Column::RunningLimit).is_null())
            .to_owned();
        self.db().execute(&statement).await.map_err(db_err)?;
        Ok(())
    }
}
