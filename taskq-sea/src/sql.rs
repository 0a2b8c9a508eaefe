//! The hand-written statements: batch updates that sea-query cannot
//! express (a `VALUES` list joined into an `UPDATE … FROM`), one function
//! per statement, for SQLite (`?` placeholders) and PostgreSQL (`$n::type`).
//!
//! Each turns a batch into one statement that looks every row up by
//! primary key, instead of one statement per row. MySQL, which has neither
//! `UPDATE … FROM` nor `UPDATE … RETURNING`, settles with a multi-table
//! update of its own ([`settle_batch_mysql`]) and otherwise uses the
//! per-row paths of `broker`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{DbBackend, Statement, Value};
use taskq_core::{TaskId, TaskState};

use crate::entity::task::Column as C;

/// A claim made by the delivery path (Redis), to record in SQL with
/// [`claimed_batch`] or the per-row path of `handoff.rs`.
#[cfg(feature = "redis")]
pub(crate) struct Claimed<'a> {
    pub worker_id: &'a str,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
}

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
/// SQLite's limit of 32766 and PostgreSQL's of 65535).
pub(crate) const BATCH_ROWS: usize = 1000;

/// `taskq_tasks.state` as the batch statements below test it: wrapped so
/// that no index on `state` can serve the test, and each row is found by
/// its primary key. Left indexable, PostgreSQL trusted statistics that a
/// burst of submissions had made stale (few pending rows when last
/// analyzed) and read every pending or running row through the state
/// index for each batch: ~30 ms for 500 rows of a 100k-row table, not ~10.
const STATE: &str = "COALESCE(taskq_tasks.state, '')";

/// Batches above this many rows run under [`keyed_plan`] on PostgreSQL.
const KEYED_PLAN_ROWS: usize = 32;

/// For a batch of `rows` on PostgreSQL: a statement that, for the rest of
/// the current transaction, rules out the plans that read the whole
/// table (sequential scans, hash and merge joins), so the batch
/// statements below keep one primary-key probe per row. The planner
/// prices a few hundred random probes above a scan of a 100k-row table
/// (whose pages are cached) and chose the scan; small batches it probes
/// anyway, and they skip the extra round trip.
pub(crate) fn keyed_plan(backend: DbBackend, rows: usize) -> Option<Statement> {
    (backend == DbBackend::Postgres && rows > KEYED_PLAN_ROWS).then(|| {
        Statement::from_string(
            backend,
            "SELECT set_config('enable_seqscan', 'off', true), \
             set_config('enable_hashjoin', 'off', true), \
             set_config('enable_mergejoin', 'off', true)",
        )
    })
}

/// Whether the `UPDATE … FROM … RETURNING` statements below run on
/// `backend`. MySQL has neither: it settles with [`settle_batch_mysql`]
/// and takes per-row (or read-back) paths for the rest.
pub(crate) fn supports_batches(backend: DbBackend) -> bool {
    matches!(backend, DbBackend::Sqlite | DbBackend::Postgres)
}

/// A statement's text and parameters, with the placeholder syntax of its
/// backend: `?` on SQLite, `$n::type` on PostgreSQL (the cast types the
/// columns of a `VALUES` list, which PostgreSQL would otherwise infer from
/// its first row, and a NULL there as text).
struct Builder {
    backend: DbBackend,
    sql: String,
    values: Vec<Value>,
}

impl Builder {
    fn new(backend: DbBackend, capacity: usize) -> Builder {
        Builder {
            backend,
            sql: String::new(),
            values: Vec::with_capacity(capacity),
        }
    }

    fn push_sql(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    /// Appends a placeholder for `value`, of SQL type `pg_type`.
    fn param(&mut self, value: Value, pg_type: &str) {
        self.values.push(value);
        if self.backend == DbBackend::Postgres {
            self.sql.push('$');
            self.sql.push_str(&self.values.len().to_string());
            self.sql.push_str("::");
            self.sql.push_str(pg_type);
        } else {
            self.sql.push('?');
        }
    }

    /// Appends `(id, attempt), …`: the rows of a `VALUES` list.
    fn attempts(&mut self, tasks: &[(TaskId, i32)]) {
        for (n, &(id, attempt)) in tasks.iter().enumerate() {
            self.push_sql(if n > 0 { ", (" } else { "(" });
            self.param(id.into(), "uuid");
            self.push_sql(", ");
            self.param(attempt.into(), "integer");
            self.push_sql(")");
        }
    }

    fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.sql, self.values)
    }
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
    /// The attempt's history entry, the event's part as JSON text
    /// (`history::entry_text`).
    pub entry: String,
    /// 1 for a snooze (`lifecycle::settle`: the attempt given back, one
    /// more snooze counted), else 0.
    pub snoozed: i32,
}

/// Settles a batch of running attempts (first occurrence of each id only:
/// with duplicates, which row applies would be unspecified):
///
/// ```sql
/// WITH s(id, attempt, state, result, error_kind, error_message,
///        finished_at, scheduled_at, seq, entry, snoozed) AS (VALUES (?, …), …)
/// UPDATE taskq_tasks SET state = s.state,
///        result = COALESCE(s.result, taskq_tasks.result), …,
///        attempt = taskq_tasks.attempt - s.snoozed,
///        snoozes = taskq_tasks.snoozes + s.snoozed,
///        lease_until = NULL, cancel_requested = FALSE,
///        attempts = <history::append_sql with s.entry>
/// FROM s
/// WHERE taskq_tasks.id = s.id AND COALESCE(taskq_tasks.state, '') = 'RUNNING'
///   AND taskq_tasks.attempt = s.attempt
/// RETURNING taskq_tasks.id
/// ```
///
/// The returned ids are the settlements that applied. `backend` is SQLite
/// or PostgreSQL ([`supports_batches`]).
pub(crate) fn settle_batch(backend: DbBackend, rows: &[&SettleRow]) -> Statement {
    let mut b = Builder::new(backend, rows.len() * 11 + 1);
    b.push_sql(
        "WITH s(id, attempt, state, result, error_kind, error_message, \
         finished_at, scheduled_at, seq, entry, snoozed) AS (VALUES ",
    );
    for (n, row) in rows.iter().enumerate() {
        b.push_sql(if n > 0 { ", (" } else { "(" });
        b.param(row.id.into(), "uuid");
        b.push_sql(", ");
        b.param(row.attempt.into(), "integer");
        b.push_sql(", ");
        b.param(row.state.into(), "text");
        b.push_sql(", ");
        b.param(row.result.clone().into(), "json");
        b.push_sql(", ");
        b.param(row.error_kind.map(str::to_owned).into(), "text");
        b.push_sql(", ");
        b.param(row.error_message.clone().into(), "text");
        b.push_sql(", ");
        b.param(row.finished_at.into(), "timestamptz");
        b.push_sql(", ");
        b.param(row.scheduled_at.into(), "timestamptz");
        b.push_sql(", ");
        b.param(row.seq.into(), "bigint");
        b.push_sql(", ");
        b.param(row.entry.clone().into(), "text");
        b.push_sql(", ");
        b.param(row.snoozed.into(), "integer");
        b.push_sql(")");
    }
    b.push_sql(
        ") UPDATE taskq_tasks SET \
         state = s.state, \
         result = COALESCE(s.result, taskq_tasks.result), \
         error_kind = COALESCE(s.error_kind, taskq_tasks.error_kind), \
         error_message = CASE WHEN s.error_kind IS NULL \
             THEN taskq_tasks.error_message ELSE s.error_message END, \
         finished_at = COALESCE(s.finished_at, taskq_tasks.finished_at), \
         scheduled_at = COALESCE(s.scheduled_at, taskq_tasks.scheduled_at), \
         seq = COALESCE(s.seq, taskq_tasks.seq), \
         attempt = taskq_tasks.attempt - s.snoozed, \
         snoozes = taskq_tasks.snoozes + s.snoozed, \
         lease_until = NULL, \
         cancel_requested = ",
    );
    b.param(false.into(), "boolean");
    b.push_sql(", attempts = ");
    b.push_sql(&crate::history::append_sql(backend, "s.entry"));
    b.push_sql(" FROM s WHERE taskq_tasks.id = s.id AND ");
    b.push_sql(STATE);
    b.push_sql(
        " = 'RUNNING' AND taskq_tasks.attempt = s.attempt \
         RETURNING taskq_tasks.id, taskq_tasks.workflow_id",
    );
    b.build()
}

/// [`settle_batch`] for MySQL and MariaDB, which have neither `UPDATE …
/// FROM` nor `RETURNING` (nor, on MariaDB, MySQL's `VALUES ROW(…)`): the
/// rows as a derived table of `SELECT`s joined into a multi-table update,
///
/// ```sql
/// UPDATE taskq_tasks JOIN (SELECT ? AS id, ? AS attempt, … , ? AS snoozed
///                          UNION ALL SELECT ?, ?, …) AS s ON taskq_tasks.id = s.id
/// SET taskq_tasks.state = s.state, … (as settle_batch)
/// WHERE taskq_tasks.state = 'RUNNING' AND taskq_tasks.attempt = s.attempt
/// ```
///
/// No assignment reads a column another one sets (MySQL does not promise
/// the order of a multi-table update's assignments). Which rows applied
/// the caller knows from its locking read of them in the same
/// transaction (`broker::settle`).
pub(crate) fn settle_batch_mysql(rows: &[&SettleRow]) -> Statement {
    let mut b = Builder::new(DbBackend::MySql, rows.len() * 11 + 1);
    b.push_sql("UPDATE taskq_tasks JOIN (");
    for (n, row) in rows.iter().enumerate() {
        // The first SELECT names the derived table's columns.
        let named = |name: &str| {
            if n == 0 {
                format!(" AS {name}")
            } else {
                String::new()
            }
        };
        b.push_sql(if n > 0 {
            " UNION ALL SELECT "
        } else {
            "SELECT "
        });
        b.param(row.id.into(), "");
        b.push_sql(&named("id"));
        b.push_sql(", ");
        b.param(row.attempt.into(), "");
        b.push_sql(&named("attempt"));
        b.push_sql(", ");
        b.param(row.state.into(), "");
        b.push_sql(&named("state"));
        b.push_sql(", ");
        b.param(row.result.clone().into(), "");
        b.push_sql(&named("result"));
        b.push_sql(", ");
        b.param(row.error_kind.map(str::to_owned).into(), "");
        b.push_sql(&named("error_kind"));
        b.push_sql(", ");
        b.param(row.error_message.clone().into(), "");
        b.push_sql(&named("error_message"));
        b.push_sql(", ");
        b.param(row.finished_at.into(), "");
        b.push_sql(&named("finished_at"));
        b.push_sql(", ");
        b.param(row.scheduled_at.into(), "");
        b.push_sql(&named("scheduled_at"));
        b.push_sql(", ");
        b.param(row.seq.into(), "");
        b.push_sql(&named("seq"));
        b.push_sql(", ");
        b.param(row.entry.clone().into(), "");
        b.push_sql(&named("entry"));
        b.push_sql(", ");
        b.param(row.snoozed.into(), "");
        b.push_sql(&named("snoozed"));
    }
    b.push_sql(
        ") AS s ON taskq_tasks.id = s.id SET \
         taskq_tasks.state = s.state, \
         taskq_tasks.result = COALESCE(s.result, taskq_tasks.result), \
         taskq_tasks.error_kind = COALESCE(s.error_kind, taskq_tasks.error_kind), \
         taskq_tasks.error_message = CASE WHEN s.error_kind IS NULL \
             THEN taskq_tasks.error_message ELSE s.error_message END, \
         taskq_tasks.finished_at = COALESCE(s.finished_at, taskq_tasks.finished_at), \
         taskq_tasks.scheduled_at = COALESCE(s.scheduled_at, taskq_tasks.scheduled_at), \
         taskq_tasks.seq = COALESCE(s.seq, taskq_tasks.seq), \
         taskq_tasks.attempt = taskq_tasks.attempt - s.snoozed, \
         taskq_tasks.snoozes = taskq_tasks.snoozes + s.snoozed, \
         taskq_tasks.lease_until = NULL, \
         taskq_tasks.cancel_requested = FALSE, \
         taskq_tasks.attempts = ",
    );
    b.push_sql(&crate::history::append_sql(DbBackend::MySql, "s.entry"));
    b.push_sql(" WHERE taskq_tasks.state = 'RUNNING' AND taskq_tasks.attempt = s.attempt");
    b.build()
}

/// Extends the leases of a worker's running attempts:
///
/// ```sql
/// WITH h(id, attempt) AS (VALUES (?, ?), …)
/// UPDATE taskq_tasks SET lease_until = ?
/// FROM h
/// WHERE taskq_tasks.id = h.id AND taskq_tasks.attempt = h.attempt
///   AND COALESCE(taskq_tasks.state, '') = 'RUNNING' AND taskq_tasks.worker_id = ?
/// RETURNING taskq_tasks.id, taskq_tasks.attempt, taskq_tasks.cancel_requested
/// ```
///
/// `backend` is SQLite or PostgreSQL ([`supports_batches`]).
pub(crate) fn heartbeat_batch(
    backend: DbBackend,
    worker_id: &str,
    tasks: &[(TaskId, i32)],
    lease_until: DateTime<Utc>,
) -> Statement {
    let mut b = Builder::new(backend, tasks.len() * 2 + 2);
    b.push_sql("WITH h(id, attempt) AS (VALUES ");
    b.attempts(tasks);
    b.push_sql(") UPDATE taskq_tasks SET lease_until = ");
    b.param(lease_until.into(), "timestamptz");
    b.push_sql(" FROM h WHERE taskq_tasks.id = h.id AND taskq_tasks.attempt = h.attempt AND ");
    b.push_sql(STATE);
    b.push_sql(" = 'RUNNING' AND taskq_tasks.worker_id = ");
    b.param(worker_id.into(), "text");
    b.push_sql(" RETURNING taskq_tasks.id, taskq_tasks.attempt, taskq_tasks.cancel_requested");
    b.build()
}

/// Marks attempts another delivery path (Redis) claimed as running, each
/// only while the row is at the attempt before (`attempt - 1`) and
/// claimable: pending and due (a retry whose Redis copy missed its new
/// run time must not run early), or running on an expired lease with no
/// cancel requested (that delivery path requeued it on its own clock):
///
/// ```sql
/// WITH c(id, attempt) AS (VALUES (?, ?), …)
/// UPDATE taskq_tasks SET state = 'RUNNING', attempt = c.attempt,
///        started_at = ?, worker_id = ?, lease_until = ?,
///        progress_fraction = NULL, progress_message = NULL
/// FROM c
/// WHERE taskq_tasks.id = c.id AND taskq_tasks.attempt = c.attempt - 1
///   AND ((COALESCE(taskq_tasks.state, '') = 'PENDING'
///         AND taskq_tasks.scheduled_at <= ?)
///        OR (COALESCE(taskq_tasks.state, '') = 'RUNNING'
///        AND taskq_tasks.lease_until < ? AND taskq_tasks.cancel_requested = ?))
/// RETURNING taskq_tasks.id
/// ```
///
/// The returned ids are the claims that applied. `backend` is SQLite or
/// PostgreSQL ([`supports_batches`]).
#[cfg(feature = "redis")]
pub(crate) fn claimed_batch(
    backend: DbBackend,
    claim: &Claimed<'_>,
    tasks: &[(TaskId, i32)],
) -> Statement {
    let mut b = Builder::new(backend, tasks.len() * 2 + 5);
    b.push_sql("WITH c(id, attempt) AS (VALUES ");
    b.attempts(tasks);
    b.push_sql(") UPDATE taskq_tasks SET state = 'RUNNING', attempt = c.attempt, started_at = ");
    b.param(claim.now.into(), "timestamptz");
    b.push_sql(", worker_id = ");
    b.param(claim.worker_id.into(), "text");
    b.push_sql(", lease_until = ");
    b.param(claim.lease_until.into(), "timestamptz");
    b.push_sql(
        ", progress_fraction = NULL, progress_message = NULL FROM c \
         WHERE taskq_tasks.id = c.id AND taskq_tasks.attempt = c.attempt - 1 AND (",
    );
    b.push_sql("(");
    b.push_sql(STATE);
    b.push_sql(" = 'PENDING' AND taskq_tasks.scheduled_at <= ");
    b.param(claim.now.into(), "timestamptz");
    b.push_sql(") OR (");
    b.push_sql(STATE);
    b.push_sql(" = 'RUNNING' AND taskq_tasks.lease_until < ");
    b.param(claim.now.into(), "timestamptz");
    b.push_sql(" AND taskq_tasks.cancel_requested = ");
    b.param(false.into(), "boolean");
    b.push_sql(")) RETURNING taskq_tasks.id");
    b.build()
}
