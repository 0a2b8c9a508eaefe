//! The statements and conditions the broker builds: the claim, settle
//! and heartbeat updates, the fence of a running attempt, and small reads.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, LockBehavior, LockType, Order, Query, SelectStatement,
    UpdateStatement,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait};
use taskq_core::backend::{ClaimRequest, Outcome, Settlement};
use taskq_core::lifecycle;
use taskq_core::task::seq_for;
use taskq_core::{Error, TaskFailure, TaskId, TaskRecord, TaskState};

use crate::backend::db_err;
use crate::convert::count_to_db;
use crate::entity::queue;
use crate::entity::task::{self, Column as C};
use crate::history;
use crate::sql::{SettleRow, state_is};

/// The largest `LIMIT`/`OFFSET` a statement binds.
pub(crate) const MAX_SQL_INT: u64 = i64::MAX as u64;

pub(super) const PENDING: &str = TaskState::Pending.as_str();
pub(super) const RUNNING: &str = TaskState::Running.as_str();

/// The claim, as one statement:
///
/// ```sql
/// UPDATE taskq_tasks
/// SET state = 'RUNNING', attempt = attempt + 1, started_at = $now,
///     worker_id = $worker, lease_until = $lease_until,
///     progress_fraction = NULL, progress_message = NULL
/// WHERE id IN (SELECT id FROM taskq_tasks
///              WHERE queue = $queue AND state = 'PENDING' AND scheduled_at <= $now
///              ORDER BY priority DESC, fair_round ASC, seq ASC, id ASC
///              LIMIT $limit)
///   AND NOT EXISTS (SELECT 1 FROM taskq_queues WHERE name = $queue
///                   AND (paused = TRUE OR running_limit IS NOT NULL
///                        OR rate_starts IS NOT NULL))
///   AND NOT EXISTS (SELECT 1 FROM taskq_task_types
///                   WHERE (running_limit IS NOT NULL OR key_limit IS NOT NULL)
///                     AND taskq_task_types.name = taskq_tasks.task_type)
/// RETURNING *
/// ```
///
/// The subquery reads `idx_taskq_tasks_claim_fair` in order and stops after
/// `limit` due rows. On PostgreSQL it ends in `FOR UPDATE SKIP LOCKED`, so
/// concurrent claimers take different rows instead of queueing on the same
/// ones; SQLite (which drops the clause) needs nothing, as a write
/// statement holds the database write lock.
///
/// A limited or rate-limited queue claims nothing here: its claim counts its running
/// tasks with its row locked ([`claim_unguarded`] in `limit`'s
/// transaction), which one statement cannot do on PostgreSQL (the count
/// would read the snapshot from before a racing claimer's commit).
pub(super) fn claim_statement(request: &ClaimRequest<'_>) -> UpdateStatement {
    let held: SelectStatement = Query::select()
        .expr(Expr::val(1))
        .from(queue::Entity)
        .and_where(Expr::col(queue::Column::Name).eq(request.queue))
        .cond_where(
            Condition::any()
                .add(Expr::col(queue::Column::Paused).eq(true))
                .add(Expr::col(queue::Column::RunningLimit).is_not_null())
                .add(Expr::col(queue::Column::RateStarts).is_not_null()),
        )
        .to_owned();
    let mut update = claim_unguarded(request);
    update.and_where(Expr::exists(held).not());
    // Nor a task of a limited type (`type_limit`): the locked claim's.
    update.cond_where(super::type_limit::not_of_limited_type());
    update
}

/// The claim of [`claim_statement`] without its check of the queue's row,
/// for a caller that read the row itself (locked) in its transaction.
pub(super) fn claim_unguarded(request: &ClaimRequest<'_>) -> UpdateStatement {
    let mut update = claim_update(request);
    update
        .and_where(Expr::col(C::Id).in_subquery(due_select(request)))
        .returning_all();
    update
}

/// `SELECT COUNT(*) FROM taskq_tasks WHERE queue = $queue AND state =
/// 'RUNNING'`: what a queue's limit counts (`lifecycle::claim_capacity`),
/// from the records themselves, so a rescued task's slot is free again.
pub(super) fn running_count(queue: &str) -> SelectStatement {
    Query::select()
        .expr_as(Expr::col(C::Id).count(), "running")
        .from(task::Entity)
        .and_where(Expr::col(C::Queue).eq(queue))
        .and_where(state_is(TaskState::Running))
        .to_owned()
}

/// `SELECT id FROM taskq_tasks WHERE <due in queue> ORDER BY <claim order>
/// LIMIT n FOR UPDATE SKIP LOCKED`.
pub(super) fn due_select(request: &ClaimRequest<'_>) -> SelectStatement {
    due_unlocked(request)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned()
}

/// [`due_select`] without its lock: a plain read of the same rows.
pub(super) fn due_unlocked(request: &ClaimRequest<'_>) -> SelectStatement {
    let mut select = Query::select();
    select.column(C::Id).from(task::Entity);
    due_in_queue(&mut select, request);
    select
        .order_by(C::Priority, Order::Desc)
        .order_by(C::FairRound, Order::Asc)
        .order_by(C::Seq, Order::Asc)
        .order_by(C::Id, Order::Asc)
        // SQL integers are signed 64-bit.
        .limit(u64::try_from(request.limit).map_or(MAX_SQL_INT, |l| Ord::min(l, MAX_SQL_INT)))
        .to_owned()
}

/// The conditions of [`due_select`]: the queue's due pending tasks of
/// the types the claim takes.
pub(super) fn due_in_queue(select: &mut SelectStatement, request: &ClaimRequest<'_>) {
    select
        .and_where(Expr::col(C::Queue).eq(request.queue))
        .and_where(state_is(TaskState::Pending))
        .and_where(Expr::col(C::ScheduledAt).lte(request.now))
        // `lifecycle::is_claimable`: never past its deadline to start (the
        // sweep expires it).
        .cond_where(
            Condition::any()
                .add(Expr::col(C::ExpiresAt).is_null())
                .add(Expr::col(C::ExpiresAt).gt(request.now)),
        );
    // `lifecycle::accepts_type`: other types stay for a worker that has them.
    if let Some(types) = request.task_types {
        select.and_where(Expr::col(C::TaskType).is_in(types.iter().copied()));
    }
}

/// The claim's `UPDATE … SET`, without its `WHERE`.
pub(super) fn claim_update(request: &ClaimRequest<'_>) -> UpdateStatement {
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
pub(super) fn settle_row(settlement: Settlement) -> SettleRow {
    // `lifecycle::end_attempt`: the attempt's entry, appended in the update.
    let (outcome, failure) = lifecycle::settled_attempt(&settlement.outcome);
    let entry = history::entry_text(settlement.attempt, outcome, failure, settlement.at);
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
        entry,
        snoozed: 0,
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
        Outcome::Snooze { run_at } => {
            row.state = PENDING;
            row.scheduled_at = Some(run_at);
            row.seq = Some(seq_for(run_at));
            row.snoozed = 1;
        }
    }
    row
}

/// One settlement as its own `UPDATE` (the portable path).
pub(super) fn settle_update(backend: DbBackend, row: &SettleRow) -> UpdateStatement {
    let mut update = Query::update();
    update
        .table(task::Entity)
        .value(C::State, row.state)
        .value(C::LeaseUntil, None::<DateTime<Utc>>)
        .value(C::CancelRequested, false)
        .value(C::Attempts, history::append(backend, row.entry.clone()));
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
    if row.snoozed != 0 {
        update
            .value(C::Attempt, Expr::col(C::Attempt).sub(row.snoozed))
            .value(C::Snoozes, Expr::col(C::Snoozes).add(row.snoozed));
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
pub(super) fn heartbeat_update(
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
pub(super) fn held_by(worker_id: &str, tasks: &[(TaskId, i32)]) -> Condition {
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

pub(super) fn set_error(update: &mut UpdateStatement, error: TaskFailure) {
    update
        .value(C::ErrorKind, error.kind.as_str())
        .value(C::ErrorMessage, error.message);
}

/// Another writer kept changing the task between our read and our write.
pub(super) fn raced(id: TaskId) -> Error {
    Error::backend(format!("task {id} kept changing concurrently; try again"))
}

/// One task's record, read through `db`.
pub(super) async fn fetch(
    db: &impl ConnectionTrait,
    id: TaskId,
) -> Result<Option<TaskRecord>, Error> {
    task::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_err)?
        .map(TaskRecord::try_from)
        .transpose()
}

/// `SELECT <aggregate> FROM taskq_tasks WHERE <condition>`.
pub(super) async fn aggregate<T>(
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
            task_types: None,
        };
        let sql = DbBackend::Sqlite.build(&claim_statement(&request)).sql;
        assert!(
            sql.starts_with(r#"UPDATE "taskq_tasks" SET "state" = ?"#),
            "{sql}"
        );
        // The literal lets SQLite use the partial claim index.
        assert!(sql.contains(r#""state" = 'PENDING'"#), "{sql}");
        // `lifecycle::is_claimable`: never past its deadline to start.
        assert!(
            sql.contains(r#"("expires_at" IS NULL OR "expires_at" > ?)"#),
            "{sql}"
        );
        assert!(
            sql.contains(
                r#"ORDER BY "priority" DESC, "fair_round" ASC, "seq" ASC, "id" ASC LIMIT ?"#
            ),
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
            task_types: None,
        };
        let sql = DbBackend::Postgres.build(&claim_statement(&request)).sql;
        assert!(
            sql.contains(r#""id" ASC LIMIT $11 FOR UPDATE SKIP LOCKED)"#),
            "{sql}"
        );
        let due = DbBackend::MySql.build(&due_select(&request)).sql;
        assert!(due.ends_with("FOR UPDATE SKIP LOCKED"), "{due}");
    }
}
