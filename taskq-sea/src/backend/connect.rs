//! How [`SeaBackend`] builds its pool: the settings a
//! host may give, PostgreSQL's session settings, and SQLite's connection
//! options and busy retry.

use std::time::Duration;

#[cfg(feature = "sqlite")]
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
#[cfg(feature = "sqlite")]
use taskq_core::Error;

#[cfg(feature = "sqlite")]
use super::db_err;
// The item the docs link to.
#[cfg(doc)]
use super::SeaBackend;

/// How long a SQLite connection waits for another connection's (or
/// process's) write lock before giving up with "database is locked".
#[cfg(feature = "sqlite")]
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a pooled connection may sit idle before [`SeaBackend::connect`]'s
/// pool pings it ahead of use.
pub const POOL_PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// How [`SeaBackend::connect_with_settings`] builds its pool: how fast a
/// connection to a PostgreSQL or MySQL server that stopped answering is
/// given up. SQLite ignores them but `acquire_timeout`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqlSettings {
    /// How long a statement waits for a pooled connection (5 s by
    /// default; SQLx's is 30 s). During a partition every connection
    /// attempt hangs, and a claim or lease renewal waiting longer than its
    /// lease is worth nothing.
    pub acquire_timeout: Duration,
    /// TCP keepalive idle time and `TCP_USER_TIMEOUT` of the pool's
    /// sockets ([`crate::tcp_options`]; 4 s by default): a statement sent
    /// into a black hole fails after about this long instead of TCP's
    /// retransmission timeout (about 15 minutes), and the pool opens a
    /// fresh connection. On PostgreSQL the server side of each session
    /// gets the same (`tcp_keepalives_*`, `tcp_user_timeout`), so a
    /// worker cut off mid-transaction does not hold its row locks until
    /// the server's own keepalive (2 hours by default) notices.
    pub dead_connection_after: Duration,
    /// PostgreSQL `statement_timeout` of the pool's sessions (30 s by
    /// default; `None` for none): taskq's statements are bounded batches,
    /// so one that runs this long is stuck on a lock. Migrations lift it
    /// for their transaction. Only for the pool this crate builds from a
    /// URL: a connection the host passes in ([`SeaBackend::connect_with`],
    /// [`SeaBackend::from_connection`]) keeps the host's settings. MySQL
    /// and MariaDB get none: `max_execution_time` bounds only `SELECT`s
    /// (taskq's claims are `UPDATE`s), and MariaDB's `max_statement_time`
    /// would differ by server.
    pub statement_timeout: Option<Duration>,
}

impl Default for SqlSettings {
    fn default() -> Self {
        SqlSettings {
            acquire_timeout: Duration::from_secs(5),
            dead_connection_after: crate::DEAD_CONNECTION_AFTER_DEFAULT,
            statement_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// The session settings (`-c name=value` in the startup packet) of a
/// PostgreSQL pool built with `settings`: the server side's keepalive and
/// user timeout, and the statement timeout.
#[cfg(feature = "postgres")]
pub(super) fn postgres_session(settings: &SqlSettings) -> Vec<(&'static str, String)> {
    let dead = settings.dead_connection_after;
    let mut session = vec![
        ("tcp_keepalives_idle", dead.as_secs().max(1).to_string()),
        (
            "tcp_keepalives_interval",
            (dead / 4).as_secs().max(1).to_string(),
        ),
        ("tcp_keepalives_count", "3".to_owned()),
        ("tcp_user_timeout", dead.as_millis().max(1).to_string()),
    ];
    if let Some(timeout) = settings.statement_timeout {
        session.push(("statement_timeout", timeout.as_millis().max(1).to_string()));
    }
    session
}

/// Installs taskq's SQLite connection settings if `options` is a SQLite URL.
#[cfg(feature = "sqlite")]
pub(super) fn sqlite_options(mut options: ConnectOptions) -> ConnectOptions {
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};

    let url = options.get_url().to_owned();
    if !url.starts_with("sqlite:") {
        return options;
    }
    let create = !url_has_param(&url, "mode");
    options
        .max_lifetime(None)
        .idle_timeout(None)
        .map_sqlx_sqlite_opts(move |sqlite| {
            let sqlite = sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            if create {
                sqlite.create_if_missing(true)
            } else {
                sqlite
            }
        });
    options
}

/// Opens a SQLite pool, trying again while the file is locked.
///
/// A new connection's setup (the pragmas, among them the switch to WAL,
/// which takes the file's exclusive lock) can fail with `SQLITE_BUSY`
/// where the busy timeout does not apply: CI saw "database is locked" from
/// the CLI's `workers` command starting while its `worker` command was
/// busy on the same new file. The setup is idempotent, so it is retried
/// for up to [`SQLITE_BUSY_TIMEOUT`].
#[cfg(feature = "sqlite")]
pub(super) async fn connect_sqlite(options: ConnectOptions) -> Result<DatabaseConnection, Error> {
    let started = std::time::Instant::now();
    loop {
        match Database::connect(options.clone()).await {
            Err(err) if is_sqlite_busy(&err) && started.elapsed() < SQLITE_BUSY_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            result => return result.map_err(db_err),
        }
    }
}

/// Whether a SQLite error is `SQLITE_BUSY` (code 5, "database is locked").
#[cfg(feature = "sqlite")]
fn is_sqlite_busy(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};

    let sqlx_err = match err {
        DbErr::Conn(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx_err.as_ref() {
        sqlx::Error::Database(db) => db.code().as_deref() == Some("5"),
        _ => false,
    }
}

/// Whether the URL's query string sets `name`.
#[cfg(feature = "sqlite")]
fn url_has_param(url: &str, name: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    })
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    #[test]
    fn finds_url_params() {
        assert!(url_has_param("sqlite://a.db?mode=ro", "mode"));
        assert!(url_has_param("sqlite://a.db?cache=shared&mode=rwc", "mode"));
        assert!(!url_has_param("sqlite://a.db?cache=shared", "mode"));
        assert!(!url_has_param("sqlite://mode.db", "mode"));
    }
}
