//! The hand-written statements: batch updates that sea-query cannot
//! express (a `VALUES` list joined into an `UPDATE … FROM`), one function
//! per statement, SQLite dialect (`?` placeholders).
//!
//! Each turns a batch into one statement that looks every row up by
//! primary key, instead of one statement per row. Other backends use the
//! per-row path in `broker.rs` until they get their own dialect here
//! (PostgreSQL accepts the same shape with `$n::type` placeholders).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{DbBackend, Statement, Value};
use taskq_core::{TaskId, TaskState};

use crate::entity::task::Column as C;

/// `state = 'PENDING'` with the state as a literal, not a parameter: the
/// planner can only pick a partial index (see the migration) when the
/// query's predicate visibly implies the index's.
pub(crate) fn state_is(state: TaskState) -> Expr {
    Expr::col(C::State).eq(state_literal(state))
}

/// `state IN ('FINISHED', …)` with literal states (see [`state_is`]).
pub(crate) fn state_in(states: impl IntoIterator<Item = TaskState>) -> Expr {
    Expr::col(C::State).is_in(states.into_iter().map(state_literal))
}

fn state_literal(state: TaskState) -> Expr {
    Expr::Constant(state.as_str().into())
}

/// Most rows one batch statement carries (× 10 parameters, well under
/// SQLite's limit of 32766).
pub(crate) const BATCH_ROWS: usize = 1000;

/// Whether the batch statements below run on `backend`.
pub(crate) fn supports_batches(backend: DbBackend) -> bool {
    backend == DbBackend::Sqlite
}

/// One settlement, flattened: `None` keeps the column's current value.
pub(crate) struct SettleRow {
    pub id: TaskId,
    pub attempt: i32,
    pub state: &'static str,
    pub result: Option<serde_json::Value>,
    pub error_kind: Option<&'static str>,
    pub error_message: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub seq: Option<i64>,
}

/// Settles a batch of running attempts (first occurrence of each id only:
/// with duplicates, which row applies would be unspecified):
///
/// ```sql
/// WITH s(id, attempt, state, result, error_kind, error_message,
///        finished_at, scheduled_at, seq) AS (VALUES (?, …), …)
/// UPDATE taskq_tasks SET state = s.state,
///        result = COALESCE(s.result, taskq_tasks.result), …,
///        lease_until = NULL, cancel_requested = FALSE
/// FROM s
/// WHERE taskq_tasks.id = s.id AND taskq_tasks.state = 'RUNNING'
///   AND taskq_tasks.attempt = s.attempt
/// RETURNING taskq_tasks.id
/// ```
///
/// The returned ids are the settlements that applied.
pub(crate) fn settle_batch(rows: &[&SettleRow]) -> Statement {
    let mut sql = String::from(
        "WITH s(id, attempt, state, result, error_kind, error_message, \
         finished_at, scheduled_at, seq) AS (VALUES ",
    );
    let mut values: Vec<Value> = Vec::with_capacity(rows.len() * 9 + 2);
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?)");
        values.extend([
            row.id.into(),
            row.attempt.into(),
            row.state.into(),
            row.result.clone().into(),
            row.error_kind.map(str::to_owned).into(),
            row.error_message.clone().into(),
            row.finished_at.into(),
            row.scheduled_at.into(),
            row.seq.into(),
        ]);
    }
    sql.push_str(
        ") UPDATE taskq_tasks SET \
         state = s.state, \
         result = COALESCE(s.result, taskq_tasks.result), \
         error_kind = COALESCE(s.error_kind, taskq_tasks.error_kind), \
         error_message = CASE WHEN s.error_kind IS NULL \
             THEN taskq_tasks.error_message ELSE s.error_message END, \
         finished_at = COALESCE(s.finished_at, taskq_tasks.finished_at), \
         scheduled_at = COALESCE(s.scheduled_at, taskq_tasks.scheduled_at), \
         seq = COALESCE(s.seq, taskq_tasks.seq), \
         lease_until = NULL, \
         cancel_requested = ? \
         FROM s \
         WHERE taskq_tasks.id = s.id AND taskq_tasks.state = 'RUNNING' \
         AND taskq_tasks.attempt = s.attempt \
         RETURNING taskq_tasks.id",
    );
    values.push(false.into());
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

/// Extends the leases of a worker's running attempts:
///
/// ```sql
/// WITH h(id, attempt) AS (VALUES (?, ?), …)
/// UPDATE taskq_tasks SET lease_until = ?
/// FROM h
/// WHERE taskq_tasks.id = h.id AND taskq_tasks.attempt = h.attempt
///   AND taskq_tasks.state = 'RUNNING' AND taskq_tasks.worker_id = ?
/// RETURNING taskq_tasks.id, taskq_tasks.attempt, taskq_tasks.cancel_requested
/// ```
pub(crate) fn heartbeat_batch(
    worker_id: &str,
    tasks: &[(TaskId, i32)],
    lease_until: DateTime<Utc>,
) -> Statement {
    let mut sql = String::from("WITH h(id, attempt) AS (VALUES ");
    let mut values: Vec<Value> = Vec::with_capacity(tasks.len() * 2 + 3);
    for (n, &(id, attempt)) in tasks.iter().enumerate() {
        if n > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?)");
        values.extend([id.into(), attempt.into()]);
    }
    sql.push_str(
        ") UPDATE taskq_tasks SET lease_until = ? \
         FROM h \
         WHERE taskq_tasks.id = h.id AND taskq_tasks.attempt = h.attempt \
         AND taskq_tasks.state = 'RUNNING' AND taskq_tasks.worker_id = ? \
         RETURNING taskq_tasks.id, taskq_tasks.attempt, taskq_tasks.cancel_requested",
    );
    values.extend([lease_until.into(), worker_id.into()]);
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}
