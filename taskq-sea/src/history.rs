//! `lifecycle::end_attempt` in SQL: the expression that appends an ended
//! attempt's entry to `taskq_tasks.attempts` inside the statement that
//! ends the attempt (settle, release, rescue), one per dialect.
//!
//! Rust gives the event's part of the entry as JSON text
//! ([`entry_text`]); the statement adds the worker and start from the
//! row it updates (the claim wrote them, the end leaves them), drops the
//! oldest entry when [`HISTORY_MAX`](taskq_core::lifecycle::HISTORY_MAX)
//! are kept, and appends. No read before the write: the append costs the
//! updated row's JSON, not a round trip.

use chrono::{DateTime, Utc};
use sea_orm::DbBackend;
use sea_orm::sea_query::Expr;
use taskq_core::lifecycle::{HISTORY_MAX, event_entry};
use taskq_core::{AttemptOutcome, TaskFailure};

/// The event's part of an attempt's entry, as JSON text.
pub(crate) fn entry_text(
    attempt: u32,
    outcome: AttemptOutcome,
    error: Option<&TaskFailure>,
    at: DateTime<Utc>,
) -> String {
    // An entry is numbers, enums, a time and strings: it serializes.
    serde_json::to_string(&event_entry(attempt, outcome, error, at)).unwrap_or_default()
}

/// The new value of `attempts`, with `entry` (SQL text of a JSON text
/// value: a placeholder, or a column of a `VALUES` list) appended and
/// numbered: its `ordinal` one past the last entry's, or past the number
/// of entries when that is more (`lifecycle::next_ordinal`).
pub(crate) fn append_sql(backend: DbBackend, entry: &str) -> String {
    let max = HISTORY_MAX;
    let h = "taskq_tasks.attempts";
    match backend {
        DbBackend::Postgres => format!(
            "(CASE WHEN jsonb_array_length(COALESCE({h}, '[]'::jsonb)) >= {max} \
             THEN {h} - 0 ELSE COALESCE({h}, '[]'::jsonb) END) \
             || jsonb_build_array(CAST({entry} AS jsonb) || jsonb_build_object(\
             'worker_id', taskq_tasks.worker_id, 'started_at', taskq_tasks.started_at, \
             'ordinal', GREATEST(COALESCE(CAST({h} -> -1 ->> 'ordinal' AS integer), 0), \
             jsonb_array_length(COALESCE({h}, '[]'::jsonb))) + 1))"
        ),
        // MySQL's DATETIME(6) holds UTC without a zone: formatted as one.
        // The last entry by a computed path: MariaDB before 10.9 has no
        // `$[last]`.
        DbBackend::MySql => format!(
            "JSON_ARRAY_APPEND(CASE WHEN JSON_LENGTH(COALESCE({h}, JSON_ARRAY())) >= {max} \
             THEN JSON_REMOVE({h}, '$[0]') ELSE COALESCE({h}, JSON_ARRAY()) END, '$', \
             JSON_SET({entry}, '$.worker_id', taskq_tasks.worker_id, \
             '$.started_at', DATE_FORMAT(taskq_tasks.started_at, '%Y-%m-%dT%H:%i:%s.%f+00:00'), \
             '$.ordinal', CAST(GREATEST(COALESCE(CASE WHEN JSON_LENGTH({h}) > 0 THEN \
             CAST(JSON_UNQUOTE(JSON_EXTRACT({h}, CONCAT('$[', JSON_LENGTH({h}) - 1, '].ordinal'))) \
             AS UNSIGNED) END, 0), COALESCE(JSON_LENGTH({h}), 0)) + 1 AS UNSIGNED)))"
        ),
        _ => format!(
            "json_insert(CASE WHEN json_array_length(COALESCE({h}, '[]')) >= {max} \
             THEN json_remove({h}, '$[0]') ELSE COALESCE({h}, '[]') END, '$[#]', \
             json_set({entry}, '$.worker_id', taskq_tasks.worker_id, \
             '$.started_at', taskq_tasks.started_at, \
             '$.ordinal', max(COALESCE(json_extract({h}, '$[#-1].ordinal'), 0), \
             json_array_length(COALESCE({h}, '[]'))) + 1))"
        ),
    }
}

/// [`append_sql`] with the entry bound, for a sea-query `UPDATE`.
pub(crate) fn append(backend: DbBackend, entry: String) -> Expr {
    // sea-query numbers a custom expression's own `$n` on PostgreSQL.
    let placeholder = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    Expr::cust_with_values(append_sql(backend, placeholder), [entry])
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::Query;

    use super::*;
    use crate::entity::task::{self, Column as C};

    #[test]
    fn the_append_binds_its_entry_on_every_dialect() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
            let update = Query::update()
                .table(task::Entity)
                .value(C::State, "x")
                .value(C::Attempts, append(backend, "{}".into()))
                .value(C::Seq, 1)
                .to_owned();
            let built = backend.build(&update);
            assert_eq!(built.values.map(|v| v.0.len()), Some(3), "{backend:?}");
            let sql = built.sql;
            if backend == DbBackend::Postgres {
                assert!(sql.contains("CAST($2 AS jsonb)"), "{sql}");
                assert!(sql.contains("\"seq\" = $3"), "{sql}");
            } else {
                assert!(sql.contains("'$[0]'"), "{sql}");
                assert!(
                    sql.contains("'%Y-%m-%dT%H:%i:%s.%f+00:00'") || backend == DbBackend::Sqlite,
                    "{sql}"
                );
            }
        }
    }
}
