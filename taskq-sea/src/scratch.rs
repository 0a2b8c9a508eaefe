//! Scratch databases for tests and benchmarks on a shared server: a fresh
//! PostgreSQL schema or MySQL database per call, so parallel tests and
//! runs never see each other's tasks.
//!
//! Names are `taskq_test_<unix secs>_<pid>_<n>`; the first scratch a
//! process makes on a server also drops the ones older than an hour that
//! earlier runs left behind.
//!
//! ```no_run
//! # async fn demo() -> Result<(), taskq_core::Error> {
//! use taskq_sea::scratch::{Scratch, Server};
//! // Panics when `TASKQ_TEST_POSTGRES_URL` is unset: a test that needs the
//! // server is `#[ignore]`d then (see the crate's `build.rs`), not passed.
//! let server = Server::Postgres.from_env();
//! let scratch = Scratch::create(Server::Postgres, &server).await?;
//! let backend = taskq_sea::SeaBackend::connect(scratch.url()).await?;
//! // ... test against `backend` ...
//! scratch.drop_now().await?;
//! # Ok(()) }
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use taskq_core::Error;

use crate::backend::db_err;

/// Scratch names older than this are dropped by the next run's sweep.
const STALE_AFTER_SECS: i64 = 3600;
const PREFIX: &str = "taskq_test_";

/// The kinds of server a scratch can live on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// A schema, selected through the URL's `search_path` option.
    Postgres,
    /// A database, named in the URL's path.
    Mysql,
}

impl Server {
    /// The environment variable that names a test server of this kind.
    pub fn env_var(self) -> &'static str {
        match self {
            Server::Postgres => "TASKQ_TEST_POSTGRES_URL",
            Server::Mysql => "TASKQ_TEST_MYSQL_URL",
        }
    }

    /// The server URL from [`Server::env_var`].
    ///
    /// # Panics
    ///
    /// When the variable is unset or empty: a test must not pass without
    /// its server. The taskq test suites are built with the test
    /// `#[ignore]`d instead when the variable is unset (their `build.rs`).
    pub fn from_env(self) -> String {
        match std::env::var(self.env_var()) {
            Ok(url) if !url.is_empty() => url,
            _ => panic!(
                "{} is not set: this needs a {self:?} server",
                self.env_var()
            ),
        }
    }

    fn create_sql(self, name: &str) -> String {
        match self {
            Server::Postgres => format!("CREATE SCHEMA \"{name}\""),
            Server::Mysql => format!("CREATE DATABASE `{name}`"),
        }
    }

    fn drop_sql(self, name: &str) -> String {
        match self {
            Server::Postgres => format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"),
            Server::Mysql => format!("DROP DATABASE IF EXISTS `{name}`"),
        }
    }

    fn list_sql(self) -> &'static str {
        match self {
            Server::Postgres => {
                "SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'taskq\\_test\\_%'"
            }
            Server::Mysql => {
                "SELECT schema_name AS name FROM information_schema.schemata \
                 WHERE schema_name LIKE 'taskq\\_test\\_%'"
            }
        }
    }

    /// `server` made to use the scratch `name`.
    fn url_for(self, server: &str, name: &str) -> String {
        match self {
            Server::Postgres => {
                let separator = if server.contains('?') { '&' } else { '?' };
                format!("{server}{separator}options=-csearch_path%3D{name}")
            }
            Server::Mysql => {
                // `mysql://user@host:port/db?query`: the database follows
                // the third slash.
                let (base, query) = match server.split_once('?') {
                    Some((base, query)) => (base, Some(query)),
                    None => (server, None),
                };
                let authority_end = base
                    .match_indices('/')
                    .nth(2)
                    .map_or(base.len(), |(i, _)| i);
                let mut url = format!("{}/{name}", &base[..authority_end]);
                if let Some(query) = query {
                    url.push('?');
                    url.push_str(query);
                }
                url
            }
        }
    }
}

/// One fresh schema (PostgreSQL) or database (MySQL). Not dropped on
/// `Drop` (that would need async I/O): call [`Scratch::drop_now`], or
/// leave it to the next run's sweep.
#[derive(Debug, Clone)]
pub struct Scratch {
    server: Server,
    server_url: String,
    name: String,
    url: String,
}

impl Scratch {
    /// Creates a fresh scratch on the server at `server_url`.
    ///
    /// A server that did not answer (within [`CONNECT_TIMEOUT`]) is not
    /// tried again by this process: the later calls fail at once with the
    /// first error, so a suite on a dead server fails in seconds, not a
    /// timeout per test.
    pub async fn create(server: Server, server_url: &str) -> Result<Scratch, Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        static UNREACHABLE: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
        let known_dead = UNREACHABLE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(url, _)| url == server_url)
            .map(|(_, err)| err.clone());
        if let Some(err) = known_dead {
            return Err(Error::backend(format!(
                "{server_url} did not answer earlier in this process: {err}"
            )));
        }
        let db = match admin(server_url).await {
            Ok(db) => db,
            Err(err) => {
                UNREACHABLE
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((server_url.to_owned(), err.to_string()));
                return Err(err);
            }
        };
        let now = Utc::now().timestamp();
        sweep_once(server, server_url, &db, now).await;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{now}_{}_{n}", std::process::id());
        exec(&db, &server.create_sql(&name)).await?;
        db.close().await.map_err(db_err)?;
        Ok(Scratch {
            url: server.url_for(server_url, &name),
            server,
            server_url: server_url.to_owned(),
            name,
        })
    }

    /// A scratch on the server [`Server::from_env`] names; an error when
    /// that server does not answer.
    ///
    /// # Panics
    ///
    /// When the variable is unset, as [`Server::from_env`].
    pub async fn from_env(server: Server) -> Result<Scratch, Error> {
        Scratch::create(server, &server.from_env()).await
    }

    /// A connection URL that uses the scratch.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's or database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the scratch and everything in it.
    pub async fn drop_now(self) -> Result<(), Error> {
        let db = admin(&self.server_url).await?;
        exec(&db, &self.server.drop_sql(&self.name)).await?;
        db.close().await.map_err(db_err)
    }
}

/// How long the admin connection of [`Scratch::create`] waits for the
/// server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

async fn admin(url: &str) -> Result<DatabaseConnection, Error> {
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        .max_connections(1)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(CONNECT_TIMEOUT);
    Database::connect(options).await.map_err(db_err)
}

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), Error> {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .map(drop)
        .map_err(db_err)
}

/// Drops stale scratches once per process and server.
async fn sweep_once(server: Server, server_url: &str, db: &DatabaseConnection, now: i64) {
    static SWEPT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|p| p.into_inner());
        if swept.iter().any(|url| url == server_url) {
            return;
        }
        swept.push(server_url.to_owned());
    }
    let Ok(rows) = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            server.list_sql(),
        ))
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "name") else {
            continue;
        };
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<i64>().ok());
        if created.is_some_and(|secs| now - secs > STALE_AFTER_SECS) {
            // Another run may be dropping it too: a failure is theirs.
            let _ = exec(db, &server.drop_sql(&name)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_urls_keep_the_server_and_its_query() {
        assert_eq!(
            Server::Postgres.url_for("postgres://u@h:5432/test", "s1"),
            "postgres://u@h:5432/test?options=-csearch_path%3Ds1"
        );
        assert_eq!(
            Server::Postgres.url_for("postgres://u@h/test?sslmode=disable", "s1"),
            "postgres://u@h/test?sslmode=disable&options=-csearch_path%3Ds1"
        );
        assert_eq!(
            Server::Mysql.url_for("mysql://root@h:3306/test?ssl-mode=disabled", "d1"),
            "mysql://root@h:3306/d1?ssl-mode=disabled"
        );
        assert_eq!(
            Server::Mysql.url_for("mysql://root@h:3306", "d1"),
            "mysql://root@h:3306/d1"
        );
    }
}
