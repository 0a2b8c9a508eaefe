//! The rescue of expired leases (`lifecycle::rescue`), in chunks.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use taskq_core::backend::RescueReport;
use taskq_core::lifecycle::{self, RetryPolicies, lease_failure};
use taskq_core::task::seq_for;
use taskq_core::{AttemptOutcome, Error, ErrorKind, TaskId, TaskState};
use uuid::Uuid;

use crate::backend::{SeaBackend, db_err};
use crate::convert::count_from_db;
use crate::entity::task::{self, Column as C};
use crate::history;
use crate::sql::state_is;

use super::statements::{PENDING, set_error};

/// Expired leases handled per rescue transaction.
const RESCUE_CHUNK: u64 = 500;

impl SeaBackend {
    /// [`Broker::rescue_expired`], also returning the ids it requeued (and
    /// the workflow steps the rescued tasks' ends released).
    /// Implements `lifecycle::rescue`: the rows are read, each one's
    /// retry time is drawn in Rust (`lifecycle::rescue_retry_at`), and the
    /// update is fenced by attempt and expired lease.
    pub(crate) async fn rescue(
        &self,
        now: DateTime<Utc>,
        policies: &dyn RetryPolicies,
    ) -> Result<(RescueReport, Vec<TaskId>), Error> {
        let mut report = RescueReport::default();
        let mut requeued = Vec::new();
        // Failed or cancelled in the current chunk: announced with it.
        let mut ended = Vec::new();
        let expired = || {
            Condition::all()
                .add(state_is(TaskState::Running))
                .add(Expr::col(C::LeaseUntil).lt(now))
        };
        // Usually nothing expired: find out without taking the write lock.
        let any: Option<Uuid> = task::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(expired())
            .into_tuple()
            .one(self.db())
            .await
            .map_err(db_err)?;
        if any.is_none() {
            return Ok((report, requeued));
        }
        loop {
            let txn = self.write_txn().await?;
            let expired: Vec<(Uuid, String, i32, i32, Option<String>, bool)> = task::Entity::find()
                .select_only()
                .columns([
                    C::Id,
                    C::TaskType,
                    C::Attempt,
                    C::MaxRetries,
                    C::WorkerId,
                    C::CancelRequested,
                ])
                .filter(expired())
                .limit(RESCUE_CHUNK)
                // Rows a settle or another rescuer holds are theirs: skip
                // them instead of waiting (and risking a deadlock).
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .into_tuple()
                .all(&txn)
                .await
                .map_err(db_err)?;
            if expired.is_empty() {
                break;
            }
            let full = expired.len() as u64 == RESCUE_CHUNK;
            for (id, task_type, attempt, max_retries, worker, cancel_requested) in expired {
                let worker = worker.unwrap_or_default();
                let mut update = Query::update();
                update
                    .table(task::Entity)
                    .value(C::LeaseUntil, None::<DateTime<Utc>>);
                let retry_at = lifecycle::rescue_retry_at(
                    &task_type,
                    count_from_db(attempt),
                    count_from_db(max_retries),
                    cancel_requested,
                    now,
                    policies,
                );
                let mut requeue = false;
                let (outcome, failure, counter) = if cancel_requested {
                    update
                        .value(C::State, TaskState::Cancelled.as_str())
                        .value(C::CancelRequested, false)
                        .value(C::FinishedAt, now);
                    (
                        AttemptOutcome::Cancelled,
                        lease_failure(ErrorKind::Cancelled, &worker),
                        &mut report.cancelled,
                    )
                } else if let Some(retry_at) = retry_at {
                    update
                        .value(C::State, PENDING)
                        .value(C::ScheduledAt, retry_at)
                        .value(C::Seq, seq_for(retry_at));
                    requeue = true;
                    (
                        AttemptOutcome::Retried,
                        lease_failure(ErrorKind::LeaseExpired, &worker),
                        &mut report.requeued,
                    )
                } else {
                    update
                        .value(C::State, TaskState::Failed.as_str())
                        .value(C::FinishedAt, now);
                    (
                        AttemptOutcome::Failed,
                        lease_failure(ErrorKind::LeaseExpired, &worker),
                        &mut report.failed,
                    )
                };
                // `lifecycle::end_attempt`, in the same update.
                let entry =
                    history::entry_text(count_from_db(attempt), outcome, Some(&failure), now);
                update.value(
                    C::Attempts,
                    history::append(txn.get_database_backend(), entry),
                );
                set_error(&mut update, failure);
                update.cond_where(
                    Condition::all()
                        .add(Expr::col(C::Id).eq(id))
                        .add(state_is(TaskState::Running))
                        .add(Expr::col(C::Attempt).eq(attempt))
                        .add(Expr::col(C::LeaseUntil).lt(now)),
                );
                if txn.execute(&update).await.map_err(db_err)?.rows_affected() == 1 {
                    *counter += 1;
                    if requeue {
                        requeued.push(id);
                    } else {
                        ended.push(id);
                    }
                }
            }
            // Failed and cancelled steps move their dependents; those
            // released are new pending tasks, delivered as requeued ones.
            let cascade = super::workflow::steps_ended(&txn, &ended, now).await?;
            ended.extend(cascade.ended);
            requeued.extend(cascade.released);
            self.announce_ended(&txn, &ended).await?;
            txn.commit().await.map_err(db_err)?;
            self.ended_here(ended.drain(..));
            if !full {
                break;
            }
        }
        if !requeued.is_empty() {
            self.notify();
        }
        Ok((report, requeued))
    }
}
