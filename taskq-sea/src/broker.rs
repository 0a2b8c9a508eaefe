//! [`Broker`] for [`SeaBackend`]: the state machine of live tasks, with the
//! semantics of `taskq_core::memory`.
//!
//! Every transition is fenced in its `WHERE` clause (state, and attempt
//! where a running attempt acts), so it is safe against other processes
//! even where a statement runs outside a transaction.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, LockBehavior, LockType, OnConflict, Order, Query, SelectStatement,
    UpdateStatement,
};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, SqlErr, TransactionSession, TransactionTrait,
};
use taskq_core::backend::{
    Broker, ClaimRequest, LeaseStatus, Outcome, Position, RescueReport, Settlement,
};
use taskq_core::lifecycle::{self, RetryPolicies, check_before_target, lease_failure};
use taskq_core::task::seq_for;
use taskq_core::{Error, ErrorKind, TaskFailure, TaskId, TaskRecord, TaskState};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::backend::{SeaBackend, db_err};
use crate::convert::{count_from_db, count_to_db, records};
use crate::entity::queue;
use crate::entity::task::{self, Column as C};
use crate::sql::{self, SettleRow, state_is};

/// Rows per multi-row `INSERT`: 23 columns × 400 rows stays well under
/// SQLite's (32766), PostgreSQL's and MySQL's (65535) parameter limits.
const INSERT_CHUNK: usize = 400;
/// Expired leases handled per rescue transaction.
const RESCUE_CHUNK: u64 = 500;
/// Attempts of an optimistic read-then-fenced-write before giving up.
const RACE_RETRIES: usize = 16;

/// The largest `LIMIT`/`OFFSET` a statement binds.
pub(crate) const MAX_SQL_INT: u64 = i64::MAX as u64;

const PENDING: &str = TaskState::Pending.as_str();
const RUNNING: &str = TaskState::Running.as_str();

#[async_trait]
impl Broker for SeaBackend {
    async fn enqueue(&self, tasks: Vec<TaskRecord>) -> Result<(), Error> {
        if tasks.is_empty() {
            return Ok(());
        }
        self.insert_pending(tasks).await?;
        // After the commit: a woken worker finds the tasks.
        self.wake_others().await;
        self.notify();
        Ok(())
    }

    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Vec<TaskRecord>, Error> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        let backend = self.db().get_database_backend();
        let rows = if backend == DbBackend::MySql {
            self.claim_in_steps(&request).await?
        } else {
            task::Entity::find()
                .from_raw_sql(backend.build(&claim_statement(&request)))
                .all(self.db())
                .await
                .map_err(db_err)?
        };
        let mut claimed = records(rows)?;
        // RETURNING gives no order: restore the claim order.
        claimed.sort_by_key(|r| (Reverse(r.priority), r.seq, r.id));
        Ok(claimed)
    }

    async fn settle(&self, settlements: Vec<Settlement>) -> Result<Vec<bool>, Error> {
        if settlements.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<SettleRow> = settlements.into_iter().map(settle_row).collect();
        let txn = self.write_txn().await?;
        let mut applied = vec![false; rows.len()];
        // Indexes of the rows to apply one statement at a time.
        let mut one_by_one: Vec<usize> = Vec::new();
        if sql::supports_batches(txn.get_database_backend()) {
            // Batch the first settlement of each id; repeats follow one by
            // one, after it, as sequential application would see them.
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
                for row in txn
                    .query_all_raw(sql::settle_batch(txn.get_database_backend(), &batch))
                    .await
                    .map_err(db_err)?
                {
                    done.insert(row.try_get::<Uuid>("", "id").map_err(db_err)?);
                }
                for &i in chunk {
                    applied[i] = done.contains(&rows[i].id);
                }
            }
        } else {
            one_by_one.extend(0..rows.len());
        }
        for i in one_by_one {
            let update = settle_update(&rows[i]);
            applied[i] = txn.execute(&update).await.map_err(db_err)?.rows_affected() == 1;
        }
        txn.commit().await.map_err(db_err)?;
        let requeued = rows
            .iter()
            .zip(&applied)
            .any(|(row, applied)| *applied && row.state == PENDING);
        if requeued {
            self.notify();
        }
        Ok(applied)
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

    async fn release(&self, worker_id: &str, tasks: &[(TaskId, u32)]) -> Result<(), Error> {
        if !tasks.is_empty() {
            let txn = self.write_txn().await?;
            for &(id, attempt) in tasks {
                let statement = Query::update()
                    .table(task::Entity)
                    .value(C::State, PENDING)
                    .value(C::Attempt, Expr::col(C::Attempt).sub(1))
                    .value(C::LeaseUntil, None::<DateTime<Utc>>)
                    .cond_where(
                        running_attempt(id, attempt).add(Expr::col(C::WorkerId).eq(worker_id)),
                    )
                    .to_owned();
                txn.execute(&statement).await.map_err(db_err)?;
            }
            txn.commit().await.map_err(db_err)?;
        }
        self.notify();
        Ok(())
    }

    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        for _ in 0..RACE_RETRIES {
            let state = self.state_of(id).await?;
            let mut update = Query::update();
            update.table(task::Entity);
            match state {
                TaskState::Pending => {
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
            if let Some(record) = self.update_returning(self.db(), id, update).await? {
                return Ok(record);
            }
        }
        Err(raced(id))
    }

    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        for _ in 0..RACE_RETRIES {
            let state = self.state_of(id).await?;
            if !matches!(state, TaskState::Failed | TaskState::Cancelled) {
                return Err(Error::InvalidTransition {
                    id,
                    state,
                    action: "retry",
                });
            }
            let mut update = Query::update();
            update
                .table(task::Entity)
                .value(C::State, PENDING)
                .value(C::ScheduledAt, now)
                .value(C::Seq, seq_for(now))
                .value(C::FinishedAt, None::<DateTime<Utc>>)
                .value(C::Result, None::<serde_json::Value>)
                .value(C::CancelRequested, false)
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
            if let Some(record) = self.update_returning(self.db(), id, update).await? {
                self.wake_others().await;
                self.notify();
                return Ok(record);
            }
        }
        Err(raced(id))
    }

    async fn reorder(&self, id: TaskId, position: Position) -> Result<TaskRecord, Error> {
        let txn = self.write_txn().await?;
        let record = fetch(&txn, id).await?.ok_or(Error::NotFound(id))?;
        if record.state != TaskState::Pending {
            return Err(Error::InvalidTransition {
                id,
                state: record.state,
                action: "reorder",
            });
        }
        // The other pending tasks of the queue.
        let others = || {
            Condition::all()
                .add(Expr::col(C::Queue).eq(record.queue.as_str()))
                .add(state_is(TaskState::Pending))
                .add(Expr::col(C::Id).ne(id))
        };
        let (priority, seq) = match position {
            Position::Front => {
                let top: Option<i32> =
                    aggregate(&txn, Expr::col(C::Priority).max(), others()).await?;
                let priority = top.map_or(record.priority, |top| Ord::max(top, record.priority));
                let first: Option<i64> = aggregate(
                    &txn,
                    Expr::col(C::Seq).min(),
                    others().add(Expr::col(C::Priority).eq(priority)),
                )
                .await?;
                (priority, first.map_or(record.seq, |s| s - 1))
            }
            Position::Back => {
                let bottom: Option<i32> =
                    aggregate(&txn, Expr::col(C::Priority).min(), others()).await?;
                let priority = bottom.map_or(record.priority, |b| Ord::min(b, record.priority));
                let last: Option<i64> = aggregate(
                    &txn,
                    Expr::col(C::Seq).max(),
                    others().add(Expr::col(C::Priority).eq(priority)),
                )
                .await?;
                (priority, last.map_or(record.seq, |s| s + 1))
            }
            Position::Before(target) => {
                let target = fetch(&txn, target).await?.ok_or(Error::NotFound(target))?;
                check_before_target(&record, &target)?;
                // Pending tasks of the target's priority that run before it.
                let ahead = || {
                    others()
                        .add(Expr::col(C::Priority).eq(target.priority))
                        .add(
                            Condition::any().add(Expr::col(C::Seq).lt(target.seq)).add(
                                Condition::all()
                                    .add(Expr::col(C::Seq).eq(target.seq))
                                    .add(Expr::col(C::Id).lt(target.id)),
                            ),
                        )
                };
                let predecessor: Option<i64> =
                    aggregate(&txn, Expr::col(C::Seq).max(), ahead()).await?;
                match predecessor {
                    Some(p) if target.seq - p < 2 => {
                        // No room between the two: shift everything ahead
                        // of the target back by two, keeping their order.
                        let shift = Query::update()
                            .table(task::Entity)
                            .value(C::Seq, Expr::col(C::Seq).sub(2))
                            .cond_where(ahead())
                            .to_owned();
                        txn.execute(&shift).await.map_err(db_err)?;
                        (target.priority, target.seq - 1)
                    }
                    Some(p) => (target.priority, p + (target.seq - p) / 2),
                    None => (target.priority, target.seq - 1),
                }
            }
        };
        let mut update = Query::update();
        update
            .table(task::Entity)
            .value(C::Priority, priority)
            .value(C::Seq, seq)
            .cond_where(
                Condition::all()
                    .add(Expr::col(C::Id).eq(id))
                    .add(state_is(TaskState::Pending)),
            );
        let record = self
            .update_returning(&txn, id, update)
            .await?
            .ok_or_else(|| raced(id))?;
        txn.commit().await.map_err(db_err)?;
        Ok(record)
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
            let statement = Query::delete()
                .from_table(queue::Entity)
                .and_where(Expr::col(queue::Column::Name).eq(queue))
                .to_owned();
            self.db().execute(&statement).await.map_err(db_err)?;
            self.wake_others().await;
            self.notify();
        }
        Ok(())
    }

    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        policies: &dyn RetryPolicies,
    ) -> Result<RescueReport, Error> {
        Ok(self.rescue(now, policies).await?.0)
    }

    fn work_signal(&self) -> Option<Arc<Notify>> {
        Some(self.signal())
    }
}

/// Inserts new task rows through `db`, in multi-row chunks.
async fn insert(db: &impl ConnectionTrait, tasks: Vec<TaskRecord>) -> Result<(), sea_orm::DbErr> {
    let mut rows = tasks
        .into_iter()
        .map(|t| task::Model::from(t).into_active_model());
    loop {
        let chunk: Vec<task::ActiveModel> = rows.by_ref().take(INSERT_CHUNK).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        task::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
}

/// The claim, as one statement:
///
/// ```sql
/// UPDATE taskq_tasks
/// SET state = 'RUNNING', attempt = attempt + 1, started_at = $now,
///     worker_id = $worker, lease_until = $lease_until,
///     progress_fraction = NULL, progress_message = NULL
/// WHERE id IN (SELECT id FROM taskq_tasks
///              WHERE queue = $queue AND state = 'PENDING' AND scheduled_at <= $now
///              ORDER BY priority DESC, seq ASC, id ASC LIMIT $limit)
///   AND NOT EXISTS (SELECT 1 FROM taskq_queues WHERE name = $queue AND paused = TRUE)
/// RETURNING *
/// ```
///
/// The subquery reads `idx_taskq_tasks_claim` in order and stops after
/// `limit` due rows. On PostgreSQL it ends in `FOR UPDATE SKIP LOCKED`, so
/// concurrent claimers take different rows instead of queueing on the same
/// ones; SQLite (which drops the clause) needs nothing, as a write
/// statement holds the database write lock.
fn claim_statement(request: &ClaimRequest<'_>) -> UpdateStatement {
    let paused: SelectStatement = Query::select()
        .expr(Expr::val(1))
        .from(queue::Entity)
        .and_where(Expr::col(queue::Column::Name).eq(request.queue))
        .and_where(Expr::col(queue::Column::Paused).eq(true))
        .to_owned();
    let mut update = claim_update(request);
    update
        .and_where(Expr::col(C::Id).in_subquery(due_select(request)))
        .and_where(Expr::exists(paused).not())
        .returning_all();
    update
}

/// `SELECT id FROM taskq_tasks WHERE <due in queue> ORDER BY <claim order>
/// LIMIT n FOR UPDATE SKIP LOCKED`.
fn due_select(request: &ClaimRequest<'_>) -> SelectStatement {
    Query::select()
        .column(C::Id)
        .from(task::Entity)
        .and_where(Expr::col(C::Queue).eq(request.queue))
        .and_where(state_is(TaskState::Pending))
        .and_where(Expr::col(C::ScheduledAt).lte(request.now))
        .order_by(C::Priority, Order::Desc)
        .order_by(C::Seq, Order::Asc)
        .order_by(C::Id, Order::Asc)
        // SQL integers are signed 64-bit.
        .limit(u64::try_from(request.limit).map_or(MAX_SQL_INT, |l| Ord::min(l, MAX_SQL_INT)))
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned()
}

/// The claim's `UPDATE … SET`, without its `WHERE`.
fn claim_update(request: &ClaimRequest<'_>) -> UpdateStatement {
    Query::update()
        .table(task::Entity)
        .value(C::State, RUNNING)
        .value(C::Attempt, Expr::col(C::Attempt).add(1))
        .value(C::StartedAt, request.now)
        .value(C::WorkerId, request.worker_id)
        .value(C::LeaseUntil, request.now + request.lease)
        .value(C::ProgressFraction, None::<f64>)
        .value(C::ProgressMessage, None::<String>)
        .to_owned()
}

/// A settlement as the columns it sets (see [`sql::settle_batch`]).
fn settle_row(settlement: Settlement) -> SettleRow {
    let mut row = SettleRow {
        id: settlement.id,
        attempt: count_to_db(settlement.attempt),
        state: PENDING,
        result: None,
        error_kind: None,
        error_message: None,
        finished_at: None,
        scheduled_at: None,
        seq: None,
    };
    let error = |row: &mut SettleRow, error: TaskFailure| {
        row.error_kind = Some(error.kind.as_str());
        row.error_message = Some(error.message);
    };
    match settlement.outcome {
        Outcome::Finished(result) => {
            row.state = TaskState::Finished.as_str();
            row.result = Some(result);
            row.finished_at = Some(settlement.at);
        }
        Outcome::Failed(failure) => {
            row.state = TaskState::Failed.as_str();
            error(&mut row, failure);
            row.finished_at = Some(settlement.at);
        }
        Outcome::Cancelled(failure) => {
            row.state = TaskState::Cancelled.as_str();
            error(&mut row, failure);
            row.finished_at = Some(settlement.at);
        }
        Outcome::Retry {
            error: failure,
            run_at,
        } => {
            row.state = PENDING;
            error(&mut row, failure);
            row.scheduled_at = Some(run_at);
            row.seq = Some(seq_for(run_at));
        }
    }
    row
}

/// One settlement as its own `UPDATE` (the portable path).
fn settle_update(row: &SettleRow) -> UpdateStatement {
    let mut update = Query::update();
    update
        .table(task::Entity)
        .value(C::State, row.state)
        .value(C::LeaseUntil, None::<DateTime<Utc>>)
        .value(C::CancelRequested, false);
    if let Some(result) = &row.result {
        update.value(C::Result, result.clone());
    }
    if let Some(kind) = row.error_kind {
        update
            .value(C::ErrorKind, kind)
            .value(C::ErrorMessage, row.error_message.clone());
    }
    if let Some(finished_at) = row.finished_at {
        update.value(C::FinishedAt, finished_at);
    }
    if let Some(scheduled_at) = row.scheduled_at {
        update.value(C::ScheduledAt, scheduled_at);
    }
    if let Some(seq) = row.seq {
        update.value(C::Seq, seq);
    }
    update.cond_where(
        Condition::all()
            .add(Expr::col(C::Id).eq(row.id))
            .add(state_is(TaskState::Running))
            .add(Expr::col(C::Attempt).eq(row.attempt)),
    );
    update
}

/// A heartbeat as one portable `UPDATE … WHERE (id, attempt) IN (…)`
/// (no `RETURNING`: MySQL has none; see [`held_by`]).
fn heartbeat_update(
    worker_id: &str,
    tasks: &[(TaskId, i32)],
    lease_until: DateTime<Utc>,
) -> UpdateStatement {
    Query::update()
        .table(task::Entity)
        .value(C::LeaseUntil, lease_until)
        .cond_where(held_by(worker_id, tasks))
        .to_owned()
}

/// `state = 'RUNNING' AND worker_id = ? AND (id, attempt) IN ((?, ?), …)`
/// (a flat list: a chain of a thousand `OR`s would nest that deep).
fn held_by(worker_id: &str, tasks: &[(TaskId, i32)]) -> Condition {
    Condition::all()
        .add(state_is(TaskState::Running))
        .add(Expr::col(C::WorkerId).eq(worker_id))
        .add(
            Expr::tuple([Expr::col(C::Id), Expr::col(C::Attempt)]).in_tuples(tasks.iter().copied()),
        )
}

/// `id = ? AND state = 'RUNNING' AND attempt = ?`: the fence of calls that
/// act for one running attempt.
pub(crate) fn running_attempt(id: TaskId, attempt: u32) -> Condition {
    Condition::all()
        .add(Expr::col(C::Id).eq(id))
        .add(state_is(TaskState::Running))
        .add(Expr::col(C::Attempt).eq(count_to_db(attempt)))
}

fn set_error(update: &mut UpdateStatement, error: TaskFailure) {
    update
        .value(C::ErrorKind, error.kind.as_str())
        .value(C::ErrorMessage, error.message);
}

/// Another writer kept changing the task between our read and our write.
fn raced(id: TaskId) -> Error {
    Error::backend(format!("task {id} kept changing concurrently; try again"))
}

/// One task's record, read through `db`.
async fn fetch(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<TaskRecord>, Error> {
    task::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_err)?
        .map(TaskRecord::try_from)
        .transpose()
}

/// `SELECT <aggregate> FROM taskq_tasks WHERE <condition>`.
async fn aggregate<T>(
    txn: &DatabaseTransaction,
    aggregate: Expr,
    condition: Condition,
) -> Result<Option<T>, Error>
where
    T: sea_orm::TryGetable,
{
    let statement = Query::select()
        .expr_as(aggregate, "value")
        .from(task::Entity)
        .cond_where(condition)
        .to_owned();
    match txn.query_one(&statement).await.map_err(db_err)? {
        Some(row) => row.try_get::<Option<T>>("", "value").map_err(db_err),
        None => Ok(None),
    }
}

impl SeaBackend {
    /// [`Broker::rescue_expired`], also returning the ids it requeued.
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
                let counter = if cancel_requested {
                    set_error(&mut update, lease_failure(ErrorKind::Cancelled, &worker));
                    update
                        .value(C::State, TaskState::Cancelled.as_str())
                        .value(C::CancelRequested, false)
                        .value(C::FinishedAt, now);
                    &mut report.cancelled
                } else if let Some(retry_at) = retry_at {
                    set_error(&mut update, lease_failure(ErrorKind::LeaseExpired, &worker));
                    update
                        .value(C::State, PENDING)
                        .value(C::ScheduledAt, retry_at)
                        .value(C::Seq, seq_for(retry_at));
                    requeue = true;
                    &mut report.requeued
                } else {
                    set_error(&mut update, lease_failure(ErrorKind::LeaseExpired, &worker));
                    update
                        .value(C::State, TaskState::Failed.as_str())
                        .value(C::FinishedAt, now);
                    &mut report.failed
                };
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
                    }
                }
            }
            txn.commit().await.map_err(db_err)?;
            if !full {
                break;
            }
        }
        if report.requeued > 0 {
            self.notify();
        }
        Ok((report, requeued))
    }

    /// Enqueues new `PENDING` tasks inside the host's own transaction (or
    /// connection): they exist only if `txn` commits, and workers in other
    /// processes are woken at the commit (on PostgreSQL, by a `NOTIFY` that
    /// a rollback discards). Build the records with
    /// [`taskq_core::Submission::into_record`].
    ///
    /// ```no_run
    /// # async fn run(backend: &taskq_sea::SeaBackend, client: &taskq_core::Client)
    /// #     -> Result<(), taskq_core::Error> {
    /// use taskq_sea::sea_orm::TransactionTrait;
    /// let txn = backend.connection().begin().await.map_err(taskq_core::Error::backend)?;
    /// // … the host's own writes through `txn` …
    /// let record = client
    ///     .submit_json("send_welcome_mail", serde_json::json!({ "user": 42 }))
    ///     .into_record()?;
    /// backend.enqueue_in(&txn, vec![record]).await?;
    /// txn.commit().await.map_err(taskq_core::Error::backend)?;
    /// # Ok(()) }
    /// ```
    ///
    /// A duplicate id is an [`Error::InvalidArgument`]; on PostgreSQL the
    /// failed statement aborts the host's transaction, as any failed
    /// statement does there.
    pub async fn enqueue_in(
        &self,
        txn: &impl ConnectionTrait,
        tasks: Vec<TaskRecord>,
    ) -> Result<(), Error> {
        if tasks.is_empty() {
            return Ok(());
        }
        lifecycle::check_batch_ids(&tasks)?;
        if let Err(err) = insert(txn, tasks).await {
            return Err(match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => {
                    Error::InvalidArgument("a task id of the batch already exists".into())
                }
                _ => db_err(err),
            });
        }
        self.notify_others(txn).await?;
        // Local workers may look before the commit and find nothing; their
        // poll (or the next signal) picks the tasks up.
        self.notify();
        Ok(())
    }

    /// Stores new pending tasks, all or none, and wakes nobody (the
    /// caller does, after this returns). A batch that fits one `INSERT`
    /// is that one statement, outside a transaction: one round trip and
    /// one commit, which is most of a single submit's latency.
    pub(crate) async fn insert_pending(&self, tasks: Vec<TaskRecord>) -> Result<(), Error> {
        // `lifecycle::check_new_ids`: repeats first, then the stored ids
        // the unique key finds.
        lifecycle::check_batch_ids(&tasks)?;
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
        let inserted = if tasks.len() <= INSERT_CHUNK {
            insert(self.db(), tasks).await
        } else {
            let txn = self.write_txn().await?;
            match insert(&txn, tasks).await {
                Ok(()) => txn.commit().await,
                Err(err) => Err(err),
            }
        };
        match inserted {
            Ok(()) => Ok(()),
            Err(err) => Err(match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => self.duplicate(&ids).await,
                _ => db_err(err),
            }),
        }
    }

    /// [`SeaBackend::notify_others`] after a change that already
    /// committed: a failure only delays other processes until they poll.
    async fn wake_others(&self) {
        if let Err(err) = self.notify_others(self.db()).await {
            tracing::warn!(error = %err, "could not notify other workers");
        }
    }

    /// The current state of a task, or [`Error::NotFound`].
    async fn state_of(&self, id: TaskId) -> Result<TaskState, Error> {
        let state: Option<String> = task::Entity::find_by_id(id)
            .select_only()
            .column(C::State)
            .into_tuple()
            .one(self.db())
            .await
            .map_err(db_err)?;
        let state = state.ok_or(Error::NotFound(id))?;
        state
            .parse()
            .map_err(|_| Error::backend(format!("task {id}: stored state is invalid")))
    }

    /// Claims on MySQL, which allows neither `UPDATE … RETURNING` nor a
    /// subquery on the updated table: in one transaction, lock the due rows
    /// (`FOR UPDATE SKIP LOCKED`), update them by id, read them back.
    async fn claim_in_steps(&self, request: &ClaimRequest<'_>) -> Result<Vec<task::Model>, Error> {
        let txn = self.write_txn().await?;
        let paused = queue::Entity::find()
            .filter(Expr::col(queue::Column::Name).eq(request.queue))
            .filter(Expr::col(queue::Column::Paused).eq(true))
            .one(&txn)
            .await
            .map_err(db_err)?;
        if paused.is_some() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<Uuid> = Vec::with_capacity(request.limit.min(1024));
        for row in txn.query_all(&due_select(request)).await.map_err(db_err)? {
            ids.push(row.try_get("", "id").map_err(db_err)?);
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut update = claim_update(request);
        update.and_where(Expr::col(C::Id).is_in(ids.iter().copied()));
        txn.execute(&update).await.map_err(db_err)?;
        let rows = task::Entity::find()
            .filter(Expr::col(C::Id).is_in(ids))
            .all(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(rows)
    }

    /// Runs `update … RETURNING *` for task `id`; `None` when it matched
    /// no row. On MySQL (no `RETURNING`): the update, then a read of the
    /// row in the same transaction.
    async fn update_returning<D>(
        &self,
        db: &D,
        id: TaskId,
        mut update: UpdateStatement,
    ) -> Result<Option<TaskRecord>, Error>
    where
        D: ConnectionTrait + TransactionTrait,
    {
        if db.get_database_backend() == DbBackend::MySql {
            let txn = db.begin().await.map_err(db_err)?;
            if txn.execute(&update).await.map_err(db_err)?.rows_affected() == 0 {
                return Ok(None);
            }
            let record = fetch(&txn, id).await?;
            txn.commit().await.map_err(db_err)?;
            return Ok(record);
        }
        update.returning_all();
        let statement = db.get_database_backend().build(&update);
        let row = task::Entity::find()
            .from_raw_sql(statement)
            .one(db)
            .await
            .map_err(db_err)?;
        row.map(TaskRecord::try_from).transpose()
    }

    /// The error of an enqueue that hit an existing id (or repeated one).
    async fn duplicate(&self, ids: &[TaskId]) -> Error {
        for chunk in ids.chunks(INSERT_CHUNK) {
            let existing: Result<Option<Uuid>, _> = task::Entity::find()
                .select_only()
                .column(C::Id)
                .filter(Expr::col(C::Id).is_in(chunk.iter().copied()))
                .into_tuple()
                .one(self.db())
                .await;
            match existing {
                Ok(Some(id)) => return duplicate_id(id),
                Ok(None) => {}
                Err(err) => return db_err(err),
            }
        }
        // Another writer deleted the stored id since the insert failed.
        Error::InvalidArgument("a task id of the batch already exists".into())
    }
}

fn duplicate_id(id: TaskId) -> Error {
    lifecycle::id_exists(id)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::DbBackend;

    use super::*;

    #[test]
    fn claim_is_one_statement_with_literal_state() {
        let request = ClaimRequest {
            queue: "q",
            limit: 10,
            worker_id: "w",
            lease: Duration::from_secs(30),
            now: Utc::now(),
        };
        let sql = DbBackend::Sqlite.build(&claim_statement(&request)).sql;
        assert!(
            sql.starts_with(r#"UPDATE "taskq_tasks" SET "state" = ?"#),
            "{sql}"
        );
        // The literal lets SQLite use the partial claim index.
        assert!(sql.contains(r#""state" = 'PENDING'"#), "{sql}");
        assert!(
            sql.contains(r#"ORDER BY "priority" DESC, "seq" ASC, "id" ASC LIMIT ?"#),
            "{sql}"
        );
        assert!(sql.contains("NOT EXISTS"), "{sql}");
        assert!(sql.ends_with("RETURNING *"), "{sql}");
        // SQLite has no row locks; the write statement holds the database.
        assert!(!sql.contains("FOR UPDATE"), "{sql}");
    }

    #[test]
    fn postgres_claim_skips_locked_rows() {
        let request = ClaimRequest {
            queue: "q",
            limit: 10,
            worker_id: "w",
            lease: Duration::from_secs(30),
            now: Utc::now(),
        };
        let sql = DbBackend::Postgres.build(&claim_statement(&request)).sql;
        assert!(
            sql.contains(r#""id" ASC LIMIT $10 FOR UPDATE SKIP LOCKED)"#),
            "{sql}"
        );
        let due = DbBackend::MySql.build(&due_select(&request)).sql;
        assert!(due.ends_with("FOR UPDATE SKIP LOCKED"), "{due}");
    }
}
