//! The load a phase puts on the backend's server, in operations per
//! second, from the server's own counters: Redis's
//! `total_commands_processed` (`INFO stats`), PostgreSQL's transactions
//! in the database (`xact_commit + xact_rollback` of `pg_stat_database`;
//! no `pg_stat_statements` is assumed, and each server process flushes
//! its counts at most once a second, so a window wants several seconds),
//! MySQL/MariaDB's `Questions` (statements clients sent).
//!
//! The counters are the server's, not the bench's: they count every
//! client (one reading each included), so a figure is the bench's only
//! when no one else uses the server — the bench prints a window without
//! waiters next to the one with them. The embedded backends (memory,
//! SQLite) have no server and no such counter: `None`.
//! (`tests/bench_throughput.rs` includes this file and tests it.)

use std::time::Duration;

/// A server's operation counter.
pub enum Counter {
    Redis(fred::clients::Client),
    /// A connection and the query that reads the counter (one row, the
    /// count in its last column).
    Sql(taskq::sea::sea_orm::DatabaseConnection, &'static str),
}

/// The PostgreSQL counter: the database's ended transactions.
pub const POSTGRES_COUNT: &str = "SELECT CAST(xact_commit + xact_rollback AS BIGINT) \
     FROM pg_stat_database WHERE datname = current_database()";

/// The MySQL/MariaDB counter: `Variable_name`, `Value` (text).
pub const MYSQL_COUNT: &str = "SHOW GLOBAL STATUS LIKE 'Questions'";

/// The `total_commands_processed` of an `INFO stats` reply.
pub fn info_commands(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("total_commands_processed")?
                .strip_prefix(':')
        })?
        .trim()
        .parse()
        .ok()
}

/// The calls per command of an `INFO commandstats` reply
/// (`cmdstat_<name>:calls=<n>,…`): commands run by scripts included.
pub fn info_command_calls(info: &str) -> std::collections::BTreeMap<String, u64> {
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// Operations per second between two readings `over` apart (`None` when
/// either reading is missing or the window is empty).
pub fn per_second(before: Option<u64>, after: Option<u64>, over: Duration) -> Option<f64> {
    let (before, after) = (before?, after?);
    let seconds = over.as_secs_f64();
    (seconds > 0.0).then(|| after.saturating_sub(before) as f64 / seconds)
}

/// What one operation is, for the printed line.
pub fn unit(backend: &str) -> &'static str {
    if backend == "redis" || backend.starts_with("redis-") {
        "commands/s"
    } else if backend.contains("postgres") {
        "transactions/s"
    } else {
        "statements/s"
    }
}

impl Counter {
    /// The counter of `backend`'s server at `url` (the bench's place: a
    /// `#prefix` is dropped); `None` for an embedded backend. Panics when
    /// the server does not answer (the bench itself needs it then).
    pub async fn open(backend: &str, url: &str) -> Option<Counter> {
        if backend == "redis" {
            use fred::prelude::*;
            let server = url.split_once('#').map_or(url, |(server, _)| server);
            let config = Config::from_url(server).expect("redis url");
            let client = Builder::from_config(config).build().expect("client");
            client.init().await.expect("connect to Redis");
            return Some(Counter::Redis(client));
        }
        let query = match backend {
            "postgres" => POSTGRES_COUNT,
            "mysql" => MYSQL_COUNT,
            _ => return None,
        };
        let db = taskq::sea::sea_orm::Database::connect(url)
            .await
            .expect("connect to the server");
        Some(Counter::Sql(db, query))
    }

    /// Redis's calls per command now (`None` off Redis, or when the
    /// reading failed).
    pub async fn command_calls(&self) -> Option<std::collections::BTreeMap<String, u64>> {
        use fred::prelude::*;
        let Counter::Redis(client) = self else {
            return None;
        };
        let info: String = client
            .info(Some(fred::types::InfoKind::CommandStats))
            .await
            .ok()?;
        Some(info_command_calls(&info))
    }

    /// The counter now (`None` when the reading failed).
    pub async fn read(&self) -> Option<u64> {
        match self {
            Counter::Redis(client) => {
                use fred::prelude::*;
                let info: String = client.info(Some(fred::types::InfoKind::Stats)).await.ok()?;
                info_commands(&info)
            }
            Counter::Sql(db, query) => {
                use taskq::sea::sea_orm::{ConnectionTrait, Statement};
                let statement = Statement::from_string(db.get_database_backend(), *query);
                let row = db.query_one_raw(statement).await.ok()??;
                // PostgreSQL: a BIGINT; MySQL: the `Value` column, text.
                if let Ok(count) = row.try_get_by_index::<i64>(0) {
                    return u64::try_from(count).ok();
                }
                row.try_get_by_index::<String>(1).ok()?.trim().parse().ok()
            }
        }
    }
}
