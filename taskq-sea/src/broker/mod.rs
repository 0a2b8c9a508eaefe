//! [`Broker`] for [`SeaBackend`]: the state machine of live tasks, the rules
//! of `taskq_core::lifecycle` in SQL.
//!
//! Every transition is fenced in its `WHERE` clause (state, and attempt
//! where a running attempt acts), so it is safe against other processes
//! even where a statement runs outside a transaction.
//!
//! # Layout
//! - this file: the [`Broker`] methods.
//! - `statements`: the claim, settle and heartbeat statements and fences.
//! - `settle`: a batch of settlements in each dialect's statements.
//! - `enqueue`: inserts, and duplicate ids.
//! - `fair`: fair queues' rounds, given at submit and moved by claims.
//! - `limit`: queue limits and rate limits, and the claim of a limited queue.
//! - `type_limit`: task type limits, and the claim that may take a limited type.
//! - `unique`: the unique keys a submit takes.
//! - `reorder`: a pending task's move within its queue.
//! - `rescue`: expired leases.
//! - `expire`: pending tasks past their deadline to start.
//! - `steps`: reads and updates the methods share (and MySQL's claim).
//! - `workflow`: what a workflow step's end and retry do to the others.

mod enqueue;
mod expire;
mod fair;
pub(crate) use fair::assign_rounds as assign_fair_rounds;
// The Redis delivery's claim keeps SQL's fair rounds moving.
#[cfg(feature = "redis")]
pub(crate) use fair::claimed as fair_claimed;
mod limit;
pub(crate) use limit::stored_rate;
mod reorder;
mod rescue;
mod settle;
mod statements;
mod steps;
mod type_limit;
mod type_rate;
mod unique;
mod workflow;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait};
use taskq_core::backend::{
    Broker, ClaimRequest, Enqueued, LeaseStatus, Position, RescueReport, Settlement,
};
use taskq_core::lifecycle::{self, RetryPolicies};
use taskq_core::rate_limit::RateLimit;
use taskq_core::task::seq_for;
use taskq_core::{AttemptOutcome, Error, TaskId, TaskRecord, TaskState};
use tokio::sync::Notify;
use uuid::Uuid;

pub(crate) use self::statements::{MAX_SQL_INT, running_attempt};
use self::statements::{
    PENDING, claim_statement, fetch, heartbeat_update, held_by, raced, set_error, settle_row,
    settle_update,
};
use crate::backend::{SeaBackend, db_err};
use crate::convert::{count_to_db, records};
use crate::entity::queue;
use crate::entity::task::{self, Column as C};
use crate::entity::task_type::Column as TypeColumn;
use crate::history;
use crate::sql::{self, SettleRow, state_is};

/// Attempts of an optimistic read-then-fenced-write before giving up.
const RACE_RETRIES: usize = 16;

#[async_trait]
impl Broker for SeaBackend {
    async fn enqueue(&self, tasks: Vec<TaskRecord>) -> Result<Enqueued, Error> {
        if tasks.is_empty() {
            return Ok(Enqueued::ALL);
        }
        let enqueued = self.insert_pending(tasks).await?;
        // After the commit: a woken worker finds the tasks.
        self.wake_others().await;
        self.notify();
        Ok(enqueued)
    }

    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Vec<TaskRecord>, Error> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        let backend = self.db().get_database_backend();
        let rows = if backend == DbBackend::MySql {
            self.claim_in_steps(&request).await?
        } else {
            let mut rows = task::Entity::find()
                .from_raw_sql(backend.build(&claim_statement(&request)))
                .all(self.db())
                .await
                .map_err(db_err)?;
            // The one statement claims nothing from a limited queue, and
            // no task of a limited type: a claim it left short may take
            // those in the locked transaction (`limit`, `type_limit`).
            if rows.len() < request.limit && self.is_limited(&request).await? {
                let rest = ClaimRequest {
                    limit: request.limit - rows.len(),
                    ..request.clone()
                };
                rows.extend(self.claim_limited(&rest).await?);
            } else {
                self.holds.record(request.queue, None);
                self.wakes.record(request.queue, None);
            }
            rows
        };
        let mut claimed = records(rows)?;
        // RETURNING gives no order: restore the claim order.
        claimed.sort_by_key(lifecycle::claim_order);
        fair::claimed(self.db(), request.queue, &claimed).await?;
        Ok(claimed)
    }

    async fn settle(&self, settlements: Vec<Settlement>) -> Result<Vec<bool>, Error> {
        Ok(self.settle_cascading(settlements).await?.0)
    }

    async fn heartbeat(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, Error> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let tasks: Vec<(TaskId, i32)> = tasks
            .iter()
            .map(|&(id, attempt)| (id, count_to_db(attempt)))
            .collect();
        let txn = self.write_txn().await?;
        let backend = txn.get_database_backend();
        // (id, attempt) still held → whether cancel was requested.
        let mut held: HashMap<(Uuid, i32), bool> = HashMap::with_capacity(tasks.len());
        if let Some(plan) = sql::keyed_plan(backend, tasks.len()) {
            txn.execute_raw(plan).await.map_err(db_err)?;
        }
        for chunk in tasks.chunks(sql::BATCH_ROWS) {
            let rows = if sql::supports_batches(backend) {
                txn.query_all_raw(sql::heartbeat_batch(backend, worker_id, chunk, lease_until))
                    .await
                    .map_err(db_err)?
            } else {
                // No RETURNING on MySQL: update, then read back what this
                // transaction now holds (its row locks keep it so).
                txn.execute(&heartbeat_update(worker_id, chunk, lease_until))
                    .await
                    .map_err(db_err)?;
                let held = Query::select()
                    .columns([C::Id, C::Attempt, C::CancelRequested])
                    .from(task::Entity)
                    .cond_where(held_by(worker_id, chunk))
                    .to_owned();
                txn.query_all(&held).await.map_err(db_err)?
            };
            for row in rows {
                let id: Uuid = row.try_get("", "id").map_err(db_err)?;
                let attempt: i32 = row.try_get("", "attempt").map_err(db_err)?;
                let cancel: bool = row.try_get("", "cancel_requested").map_err(db_err)?;
                held.insert((id, attempt), cancel);
            }
        }
        txn.commit().await.map_err(db_err)?;
        Ok(tasks
            .iter()
            .map(|key| match held.get(key) {
                Some(true) => LeaseStatus::CancelRequested,
                Some(false) => LeaseStatus::Held,
                None => LeaseStatus::Lost,
            })
            .collect())
    }

    async fn release(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.release_cascading(worker_id, tasks, now)
            .await
            .map(drop)
    }

    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        Ok(self.cancel_cascading(id, now).await?.0)
    }

    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        for _ in 0..RACE_RETRIES {
            let txn = self.write_txn().await?;
            let current = fetch(&txn, id).await?.ok_or(Error::NotFound(id))?;
            let state = current.state;
            if !lifecycle::is_retryable_state(state) {
                return Err(Error::InvalidTransition {
                    id,
                    state,
                    action: "retry",
                });
            }
            // `lifecycle::plan_resume`: what the step's end cancelled
            // waits again (or the retry is refused).
            let plan = workflow::plan_resume(&txn, &current).await?;
            let mut update = Query::update();
            update
                .table(task::Entity)
                .value(C::State, PENDING)
                .value(C::ScheduledAt, now)
                .value(C::Seq, seq_for(now))
                .value(C::FinishedAt, None::<DateTime<Utc>>)
                .value(C::Result, None::<serde_json::Value>)
                .value(C::CancelRequested, false)
                // Afresh: no deadline, no snoozes counted.
                .value(C::ExpiresAt, None::<DateTime<Utc>>)
                .value(C::Snoozes, 0)
                .value(
                    C::MaxRetries,
                    Expr::case(
                        Expr::col(C::Attempt).gt(Expr::col(C::MaxRetries)),
                        Expr::col(C::Attempt),
                    )
                    .finally(Expr::col(C::MaxRetries)),
                )
                .cond_where(
                    Condition::all()
                        .add(Expr::col(C::Id).eq(id))
                        .add(state_is(state)),
                );
            if let Some(record) = self.update_returning(&txn, id, update).await? {
                workflow::apply_resume(&txn, &plan).await?;
                txn.commit().await.map_err(db_err)?;
                self.wake_others().await;
                self.notify();
                return Ok(record);
            }
        }
        Err(raced(id))
    }

    async fn reorder(&self, id: TaskId, position: Position) -> Result<TaskRecord, Error> {
        self.reorder_task(id, position).await
    }

    async fn set_queue_paused(&self, queue: &str, paused: bool) -> Result<(), Error> {
        if paused {
            let statement = Query::insert()
                .into_table(queue::Entity)
                .columns([queue::Column::Name, queue::Column::Paused])
                .values_panic([queue.into(), true.into()])
                .on_conflict(
                    OnConflict::column(queue::Column::Name)
                        .update_column(queue::Column::Paused)
                        .to_owned(),
                )
                .to_owned();
            self.db().execute(&statement).await.map_err(db_err)?;
        } else {
            let statement = Query::update()
                .table(queue::Entity)
                .value(queue::Column::Paused, false)
                .and_where(Expr::col(queue::Column::Name).eq(queue))
                .to_owned();
            self.db().execute(&statement).await.map_err(db_err)?;
            // The row stays while the queue keeps a limit.
            self.forget_plain_queue(queue).await?;
            self.wake_others().await;
            self.notify();
        }
        Ok(())
    }

    async fn set_queue_fair(&self, queue: &str, fair: bool) -> Result<(), Error> {
        self.store_queue_fair(queue, fair).await
    }

    async fn set_fair_weight(
        &self,
        queue: &str,
        key: &str,
        weight: Option<u32>,
    ) -> Result<(), Error> {
        self.store_fair_weight(queue, key, weight).await
    }

    async fn fair_weights(&self, queue: &str) -> Result<Vec<taskq_core::FairWeight>, Error> {
        self.load_fair_weights(queue).await
    }

    async fn set_queue_rate_limit(
        &self,
        queue: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        lifecycle::check_rate_limit(limit.as_ref())?;
        self.store_queue_rate(queue, limit).await?;
        // A raised or cleared rate limit may let held tasks start.
        self.wake_others().await;
        self.notify();
        Ok(())
    }

    fn claim_hold(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.holds.get(queue)
    }

    fn claim_wake(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.wakes.get(queue)
    }

    async fn set_type_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        lifecycle::check_type_rate_limit(limit.as_ref())?;
        self.store_type_rate(task_type, false, limit).await?;
        // A raised or cleared rate limit may let held tasks start.
        self.wake_others().await;
        self.notify();
        Ok(())
    }

    async fn set_key_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        lifecycle::check_type_rate_limit(limit.as_ref())?;
        self.store_type_rate(task_type, true, limit).await?;
        self.wake_others().await;
        self.notify();
        Ok(())
    }

    async fn set_queue_limit(&self, queue: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_queue_limit(limit)?;
        self.store_queue_limit(queue, limit).await?;
        // A raised or cleared limit may free slots.
        self.wake_others().await;
        self.notify();
        Ok(())
    }

    async fn set_type_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_type_limit(limit)?;
        self.store_type_limit(task_type, TypeColumn::RunningLimit, limit)
            .await?;
        // A raised or cleared limit may free slots.
        self.wake_others().await;
        self.notify();
        Ok(())
    }

    async fn set_key_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_type_limit(limit)?;
        self.store_type_limit(task_type, TypeColumn::KeyLimit, limit)
            .await?;
        self.wake_others().await;
        self.notify();
        Ok(())
    }

    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        policies: &dyn RetryPolicies,
    ) -> Result<RescueReport, Error> {
        Ok(self.rescue(now, policies).await?.0)
    }

    async fn expire_overdue(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, Error> {
        Ok(self.expire(now, limit).await?.0)
    }

    fn work_signal(&self) -> Option<Arc<Notify>> {
        Some(self.signal())
    }
}

/// The transitions that end tasks, with the workflow steps their ends
/// release (SQL records with Redis delivery must deliver those).
impl SeaBackend {
    /// [`Broker::settle`], also giving the workflow steps the settled
    /// steps' ends released.
    pub(crate) async fn settle_cascading(
        &self,
        settlements: Vec<Settlement>,
    ) -> Result<(Vec<bool>, Vec<TaskId>), Error> {
        if settlements.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let rows: Vec<SettleRow> = settlements.into_iter().map(settle_row).collect();
        let txn = self.write_txn().await?;
        let mut applied = vec![false; rows.len()];
        // Settled workflow steps, whose ends move their dependents.
        let mut steps: Vec<TaskId> = Vec::new();
        // Batch the first settlement of each id; repeats follow one by
        // one, after it, as sequential application would see them.
        let mut one_by_one: Vec<usize> = Vec::new();
        let mut seen = HashSet::with_capacity(rows.len());
        let mut batched = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            if seen.insert(row.id) {
                batched.push(i);
            } else {
                one_by_one.push(i);
            }
        }
        if let Some(plan) = sql::keyed_plan(txn.get_database_backend(), batched.len()) {
            txn.execute_raw(plan).await.map_err(db_err)?;
        }
        for chunk in batched.chunks(sql::BATCH_ROWS) {
            let batch: Vec<&SettleRow> = chunk.iter().map(|&i| &rows[i]).collect();
            let mut done = HashSet::with_capacity(chunk.len());
            for settled in settle::settle_batch(&txn, &batch).await? {
                if settled.step {
                    steps.push(settled.id);
                }
                done.insert(settled.id);
            }
            for &i in chunk {
                applied[i] = done.contains(&rows[i].id);
            }
        }
        let mut unknown = Vec::new();
        for i in one_by_one {
            let update = settle_update(txn.get_database_backend(), &rows[i]);
            applied[i] = txn.execute(&update).await.map_err(db_err)?.rows_affected() == 1;
            if applied[i] && rows[i].state != PENDING {
                unknown.push(rows[i].id);
            }
        }
        // Repeats return nothing: the cascade's own read tells the steps
        // apart (it reads only rows of steps).
        steps.extend(unknown);
        let mut ended: Vec<TaskId> = rows
            .iter()
            .zip(&applied)
            .filter(|(row, applied)| **applied && row.state != PENDING)
            .map(|(row, _)| row.id)
            .collect();
        // Released steps are due when their last parent ended (the batch's
        // latest end: the ends of one batch are moments apart).
        let ended_at = rows
            .iter()
            .filter_map(|row| row.finished_at)
            .max()
            .unwrap_or_else(Utc::now);
        let cascade = workflow::steps_ended(&txn, &steps, ended_at).await?;
        ended.extend(&cascade.ended);
        self.announce_ended(&txn, &ended).await?;
        if !cascade.released.is_empty() {
            self.notify_others(&txn).await?;
        }
        txn.commit().await.map_err(db_err)?;
        self.ended_here(ended.iter().copied());
        let requeued = rows
            .iter()
            .zip(&applied)
            .any(|(row, applied)| *applied && row.state == PENDING);
        if requeued || !cascade.released.is_empty() {
            self.notify();
        }
        Ok((applied, cascade.released))
    }

    /// [`Broker::release`], also giving the workflow steps released by
    /// the ends of attempts whose cancel was requested.
    pub(crate) async fn release_cascading(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        now: DateTime<Utc>,
    ) -> Result<Vec<TaskId>, Error> {
        let mut released = Vec::new();
        if !tasks.is_empty() {
            let txn = self.write_txn().await?;
            let mut ended = Vec::new();
            for &(id, attempt) in tasks {
                // `lifecycle::release`: back to PENDING, or CANCELLED when
                // a cancel was requested. Each statement fences on the flag,
                // so at most one of the two applies.
                let held =
                    || running_attempt(id, attempt).add(Expr::col(C::WorkerId).eq(worker_id));
                // `lifecycle::end_attempt`: either way the attempt's entry.
                let backend = txn.get_database_backend();
                let released = history::entry_text(attempt, AttemptOutcome::Released, None, now);
                let failure = lifecycle::released_after_cancel(worker_id);
                let cancelled =
                    history::entry_text(attempt, AttemptOutcome::Cancelled, Some(&failure), now);
                let requeue = Query::update()
                    .table(task::Entity)
                    .value(C::State, PENDING)
                    .value(C::Attempts, history::append(backend, released))
                    .value(C::Attempt, Expr::col(C::Attempt).sub(1))
                    .value(C::LeaseUntil, None::<DateTime<Utc>>)
                    .cond_where(held().add(Expr::col(C::CancelRequested).eq(false)))
                    .to_owned();
                let mut cancel = Query::update();
                cancel
                    .table(task::Entity)
                    .value(C::State, TaskState::Cancelled.as_str())
                    .value(C::Attempts, history::append(backend, cancelled))
                    .value(C::FinishedAt, now)
                    .value(C::CancelRequested, false)
                    .value(C::LeaseUntil, None::<DateTime<Utc>>)
                    .cond_where(held().add(Expr::col(C::CancelRequested).eq(true)));
                set_error(&mut cancel, failure);
                if txn.execute(&cancel).await.map_err(db_err)?.rows_affected() == 1 {
                    ended.push(id);
                }
                txn.execute(&requeue).await.map_err(db_err)?;
            }
            let cascade = workflow::steps_ended(&txn, &ended, now).await?;
            ended.extend(cascade.ended);
            released = cascade.released;
            self.announce_ended(&txn, &ended).await?;
            txn.commit().await.map_err(db_err)?;
            self.ended_here(ended);
        }
        self.notify();
        Ok(released)
    }

    /// [`Broker::cancel`], also giving the workflow steps its cascade
    /// released.
    pub(crate) async fn cancel_cascading(
        &self,
        id: TaskId,
        now: DateTime<Utc>,
    ) -> Result<(TaskRecord, Vec<TaskId>), Error> {
        for _ in 0..RACE_RETRIES {
            let state = self.state_of(id).await?;
            let mut update = Query::update();
            update.table(task::Entity);
            match state {
                TaskState::Pending | TaskState::Waiting => {
                    set_error(&mut update, lifecycle::cancelled_before_run());
                    update
                        .value(C::State, TaskState::Cancelled.as_str())
                        .value(C::FinishedAt, now);
                }
                TaskState::Running => {
                    update.value(C::CancelRequested, true);
                }
                terminal => {
                    return Err(Error::InvalidTransition {
                        id,
                        state: terminal,
                        action: "cancel",
                    });
                }
            }
            update.cond_where(
                Condition::all()
                    .add(Expr::col(C::Id).eq(id))
                    .add(state_is(state)),
            );
            let txn = self.write_txn().await?;
            let Some(record) = self.update_returning(&txn, id, update).await? else {
                continue;
            };
            let mut ended = Vec::new();
            let mut released = Vec::new();
            if record.state.is_terminal() {
                ended.push(id);
                if record.step.is_some() {
                    let cascade = workflow::steps_ended(&txn, &[id], now).await?;
                    ended.extend(cascade.ended);
                    released = cascade.released;
                }
                self.announce_ended(&txn, &ended).await?;
            }
            txn.commit().await.map_err(db_err)?;
            self.ended_here(ended);
            if !released.is_empty() {
                self.wake_others().await;
                self.notify();
            }
            return Ok((record, released));
        }
        Err(raced(id))
    }
}
