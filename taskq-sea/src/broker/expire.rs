//! The expiry sweep (`lifecycle::expire`): pending tasks past their
//! deadline to start end `EXPIRED`, a batch per transaction, read through
//! the partial index on (state, expires_at).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use taskq_core::lifecycle::expired_failure;
use taskq_core::{Error, TaskId, TaskState};
use uuid::Uuid;

use crate::backend::{SeaBackend, db_err};
use crate::entity::task::{self, Column as C};
use crate::sql::{self, state_is};

use super::statements::{MAX_SQL_INT, set_error};

impl SeaBackend {
    /// [`Broker::expire_overdue`](taskq_core::backend::Broker::expire_overdue),
    /// also returning the workflow steps the expired steps' ends released
    /// (SQL records with Redis delivery must deliver those).
    pub(crate) async fn expire(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<(u64, Vec<TaskId>), Error> {
        // `lifecycle::is_expired`, with the literal state and the non-null
        // deadline the partial index states.
        let overdue = || {
            Condition::all()
                .add(state_is(TaskState::Pending))
                .add(Expr::col(C::ExpiresAt).is_not_null())
                .add(Expr::col(C::ExpiresAt).lte(now))
        };
        let limit = u64::try_from(limit).map_or(MAX_SQL_INT, |l| Ord::min(l, MAX_SQL_INT));
        // Usually nothing is overdue: find out without the write lock.
        let any: Option<Uuid> = task::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(overdue())
            .into_tuple()
            .one(self.db())
            .await
            .map_err(db_err)?;
        if any.is_none() || limit == 0 {
            return Ok((0, Vec::new()));
        }
        let txn = self.write_txn().await?;
        let ids: Vec<Uuid> = task::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(overdue())
            // Earliest deadline first, read in the index's order.
            .order_by_asc(C::ExpiresAt)
            .limit(limit)
            // Rows a claim or a cancel holds are theirs: skip them.
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .into_tuple()
            .all(&txn)
            .await
            .map_err(db_err)?;
        let mut ended = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(sql::BATCH_ROWS) {
            let mut update = Query::update();
            update
                .table(task::Entity)
                .value(C::State, TaskState::Expired.as_str())
                .value(C::FinishedAt, now)
                .cond_where(overdue().add(Expr::col(C::Id).is_in(chunk.iter().copied())));
            set_error(&mut update, expired_failure());
            txn.execute(&update).await.map_err(db_err)?;
            // The rows are locked (or the database is, on SQLite): every
            // one selected was still overdue.
            ended.extend_from_slice(chunk);
        }
        let expired = ended.len() as u64;
        // Expired steps are parents that did not finish (the cascade reads
        // only the rows of steps among them).
        let cascade = super::workflow::steps_ended(&txn, &ended, now).await?;
        ended.extend(cascade.ended);
        self.announce_ended(&txn, &ended).await?;
        if !cascade.released.is_empty() {
            self.notify_others(&txn).await?;
        }
        txn.commit().await.map_err(db_err)?;
        self.ended_here(ended);
        if !cascade.released.is_empty() {
            self.notify();
        }
        Ok((expired, cascade.released))
    }
}
