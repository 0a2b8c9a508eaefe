//! `lifecycle::has_metadata` in SQL: the condition a list adds for each
//! metadata pair of its filter, one per dialect.
//!
//! The key and the value are bound, never spliced into the text: on
//! SQLite and MySQL the key travels as a JSON path (`$."key"`, which a key
//! of [`is_valid_metadata_key`] cannot break), on PostgreSQL as the text
//! argument of `json_extract_path` (the column is `json`). Each condition
//! checks the stored value's JSON type before its value, so that `"7"` is
//! no match for `7` and `true` none for `1` (SQLite's `json_extract` gives
//! `1` for both `true` and `1`); numbers compare by value (`7` = `7.0`),
//! strings byte for byte (MySQL's collations would ignore case).
//! A task without metadata has `NULL` there, which no condition matches.

use sea_orm::DbBackend;
use sea_orm::sea_query::{Expr, Value as SqlValue};
use serde_json::Value;
use taskq_core::Error;
use taskq_core::lifecycle::is_valid_metadata_key;

/// The stored column, as the list's `FROM taskq_tasks` names it.
const M: &str = "taskq_tasks.metadata";

/// The condition "metadata has `key` equal to `value`" (a scalar, see
/// [`taskq_core::lifecycle::check_metadata_filter`]) on `backend`.
pub(crate) fn metadata_is(backend: DbBackend, key: &str, value: &Value) -> Result<Expr, Error> {
    // The filter was checked by the client; a direct caller of the store
    // gets the same typed error rather than a malformed path.
    if !is_valid_metadata_key(key) || matches!(value, Value::Array(_) | Value::Object(_)) {
        let mut one = std::collections::BTreeMap::new();
        one.insert(key.to_owned(), value.clone());
        taskq_core::lifecycle::check_metadata_filter(&one)?;
    }
    let number = |n: &serde_json::Number| match n.as_i64() {
        Some(i) => SqlValue::from(i),
        None => SqlValue::from(n.as_f64().unwrap_or(f64::NAN)),
    };
    let text = |s: &str| SqlValue::from(s.to_owned());
    let (sql, values): (String, Vec<SqlValue>) = match backend {
        DbBackend::Postgres => {
            // sea-query numbers a custom expression's own `$n`; a repeat
            // binds the value again.
            let part = format!("json_typeof(json_extract_path({M}, $1))");
            let stored = format!("json_extract_path_text({M}, $1)");
            match value {
                Value::String(s) => (
                    format!("({part} = 'string' AND {stored} = $2)"),
                    vec![text(key), text(s)],
                ),
                Value::Bool(b) => (
                    format!("({part} = 'boolean' AND {stored} = $2)"),
                    vec![text(key), text(&b.to_string())],
                ),
                // The cast only where the value is a number: CASE orders
                // what AND may not.
                Value::Number(n) => (
                    format!(
                        "(CASE WHEN {part} = 'number' \
                         THEN CAST({stored} AS numeric) = CAST($2 AS numeric) ELSE false END)"
                    ),
                    vec![text(key), text(&n.to_string())],
                ),
                _ => (format!("({part} = 'null')"), vec![text(key)]),
            }
        }
        DbBackend::MySql => {
            let path = text(&format!("$.\"{key}\""));
            let x = format!("JSON_EXTRACT({M}, ?)");
            match value {
                Value::String(s) => (
                    format!(
                        "(JSON_TYPE({x}) = 'STRING' \
                         AND CAST(JSON_UNQUOTE({x}) AS BINARY) = CAST(? AS BINARY))"
                    ),
                    vec![path.clone(), path, text(s)],
                ),
                Value::Bool(b) => (
                    format!("(JSON_TYPE({x}) = 'BOOLEAN' AND JSON_UNQUOTE({x}) = ?)"),
                    vec![path.clone(), path, text(&b.to_string())],
                ),
                // MariaDB's JSON_EXTRACT answers text, compared with a
                // number as a number; MySQL's a JSON value, likewise.
                Value::Number(n) => (
                    format!(
                        "(JSON_TYPE({x}) IN ('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL') \
                         AND {x} = ?)"
                    ),
                    vec![path.clone(), path, number(n)],
                ),
                _ => (format!("(JSON_TYPE({x}) = 'NULL')"), vec![path]),
            }
        }
        _ => {
            let path = text(&format!("$.\"{key}\""));
            match value {
                Value::String(s) => (
                    format!("(json_type({M}, ?) = 'text' AND json_extract({M}, ?) = ?)"),
                    vec![path.clone(), path, text(s)],
                ),
                // json_type names `true` and `false` apart.
                Value::Bool(b) => (
                    format!("(json_type({M}, ?) = ?)"),
                    vec![path, text(&b.to_string())],
                ),
                Value::Number(n) => (
                    format!(
                        "(json_type({M}, ?) IN ('integer', 'real') AND json_extract({M}, ?) = ?)"
                    ),
                    vec![path.clone(), path, number(n)],
                ),
                _ => (format!("(json_type({M}, ?) = 'null')"), vec![path]),
            }
        }
    };
    Ok(Expr::cust_with_values(sql, values))
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Query, SelectStatement};
    use serde_json::json;

    use super::*;
    use crate::entity::task::{self, Column as C};

    fn select(backend: DbBackend, key: &str, value: &Value) -> (String, usize) {
        let condition = metadata_is(backend, key, value).expect("valid");
        let select: SelectStatement = Query::select()
            .column(C::Id)
            .from(task::Entity)
            .and_where(condition)
            .to_owned();
        let built = backend.build(&select);
        (built.sql, built.values.map_or(0, |v| v.0.len()))
    }

    #[test]
    fn metadata_conditions_bind_key_and_value_on_every_dialect() {
        let sneaky = "x' OR 1=1 --";
        for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
            // Bound values per dialect (SQLite, PostgreSQL, MySQL); a
            // PostgreSQL `$1` used twice binds twice.
            for (value, binds) in [
                (json!(sneaky), [3, 3, 3]),
                (json!(7), [3, 3, 3]),
                (json!(true), [2, 3, 3]),
                (Value::Null, [1, 1, 1]),
            ] {
                let (sql, bound) = select(backend, "customer.id", &value);
                let expected = match backend {
                    DbBackend::Sqlite => binds[0],
                    DbBackend::Postgres => binds[1],
                    _ => binds[2],
                };
                assert_eq!(bound, expected, "{backend:?} {value}: {sql}");
                assert!(!sql.contains("OR 1=1"), "{sql}");
                assert!(!sql.contains("customer.id"), "{sql}");
            }
        }
        assert!(matches!(
            metadata_is(DbBackend::Sqlite, "a\"b", &json!(1)),
            Err(Error::InvalidLabel { .. })
        ));
        assert!(metadata_is(DbBackend::MySql, "a", &json!([1])).is_err());
    }
}
