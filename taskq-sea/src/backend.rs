//! [`SeaBackend`]: the handle, its constructors, and the helpers its
//! [`Broker`](taskq_core::Broker) and [`Store`](taskq_core::Store)
//! implementations (in `broker.rs` and `store.rs`) share.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, IsolationLevel, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use taskq_core::ends::{POLL_INTERVAL_DEFAULT, PUSHED_FALLBACK_DEFAULT, TaskEnds};
use taskq_core::rate_limit::ClaimHolds;
use taskq_core::{Error, TaskId};
use tokio::sync::Notify;

/// How long a SQLite connection waits for another connection's (or
/// process's) write lock before giving up with "database is locked".
#[cfg(feature = "sqlite")]
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// taskq's SQL backend: a [`taskq_core::Broker`] and [`taskq_core::Store`]
/// over a SeaORM [`DatabaseConnection`].
///
/// Several worker processes may share one database (for SQLite, one file):
/// every transition is a single fenced statement or a write transaction,
/// so two claimers never get the same task.
///
/// ```no_run
/// # async fn run() -> Result<(), taskq_core::Error> {
/// use std::sync::Arc;
/// let backend = Arc::new(taskq_sea::SeaBackend::connect("sqlite://tasks.db").await?);
/// # let _: Arc<dyn taskq_core::Backend> = backend;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SeaBackend {
    db: DatabaseConnection,
    signal: Arc<Notify>,
    schedule_signal: Arc<Notify>,
    /// Waiters of tasks that end: woken by this process's own ends, on
    /// PostgreSQL also by other processes' (`NOTIFY` on [`ENDED_CHANNEL`]),
    /// elsewhere by the shared poll.
    ends: Arc<TaskEnds>,
    /// The PostgreSQL `LISTEN` task (started by the first `work_signal` or
    /// `schedule_signal` call, stopped when the last clone of this backend
    /// is dropped).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    listener: Arc<Listener>,
    /// When each rate-limited queue's bucket next allows a start, as this
    /// process's last claim of it saw (`Broker::claim_hold`).
    pub(crate) holds: Arc<ClaimHolds>,
    /// When the earliest type or key bucket that held a task of each
    /// queue back frees, as this process's last claim of it saw
    /// (`Broker::claim_wake`).
    pub(crate) wakes: Arc<ClaimHolds>,
}

/// The PostgreSQL `LISTEN` task's switch: started at most once, told to
/// stop when dropped.
#[derive(Debug)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
struct Listener {
    started: std::sync::Once,
    stop: Arc<Notify>,
}

impl Default for Listener {
    fn default() -> Self {
        Listener {
            started: std::sync::Once::new(),
            stop: Arc::new(Notify::new()),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // `notify_one` keeps a permit, so a task not yet waiting still stops.
        self.stop.notify_one();
    }
}

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

/// The PostgreSQL channel taskq notifies on new work (a submit, a retry,
/// a resumed queue), so idle workers of every process wake at once.
pub const NOTIFY_CHANNEL: &str = "taskq_work";

/// The PostgreSQL channel taskq notifies on schedule writes (create, edit,
/// delete), so sleeping schedulers of every process look again at once.
pub const SCHEDULE_CHANNEL: &str = "taskq_schedules";

/// The PostgreSQL channel taskq notifies, in the transaction that ends
/// them, with the ids of tasks that ended (space-separated), so waiters of
/// every process wake at the commit.
pub const ENDED_CHANNEL: &str = "taskq_ended";

/// Ids per `NOTIFY` payload on [`ENDED_CHANNEL`] (37 bytes each, under
/// PostgreSQL's 8000-byte payload limit).
const ENDED_IDS_PER_NOTIFY: usize = 200;

impl SeaBackend {
    /// Connects to `url` and runs taskq's migrations.
    ///
    /// For SQLite (`sqlite://path/to/file.db`, or `sqlite::memory:`) the
    /// file is created if missing (unless the URL sets `mode=`), and each
    /// connection uses `journal_mode=WAL`, `synchronous=FULL` (a submit
    /// that returned is on disk) and a busy timeout of
    /// [`SQLITE_BUSY_TIMEOUT`], so several processes can share the file.
    /// The pool has one connection (SeaORM's SQLite default), which is also
    /// what makes `sqlite::memory:` a single database.
    ///
    /// A pooled connection is checked with a ping before use only after it
    /// sat idle for `POOL_PING_AFTER_IDLE`: SQLx's default pings on every
    /// checkout, a round trip added to each claim and settle of a busy
    /// worker, while the connections a server or firewall drops are the
    /// idle ones.
    ///
    /// Over TCP (PostgreSQL, MySQL) each new connection's socket gets
    /// `TCP_NODELAY` ([`crate::tcp_nodelay`]), which SQLx 0.9.0 does not
    /// set: without it a multi-row statement can wait 40 ms for the
    /// server's delayed ACK.
    ///
    /// A dead connection is given up after a few seconds, with
    /// [`SqlSettings::default`]: see [`SeaBackend::connect_with_settings`].
    pub async fn connect(url: &str) -> Result<SeaBackend, Error> {
        SeaBackend::connect_with_settings(url, &SqlSettings::default()).await
    }

    /// [`SeaBackend::connect`] with other [`SqlSettings`]: the pool's
    /// acquire timeout, how soon a connection that stopped answering is
    /// dropped, and PostgreSQL's statement timeout.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), taskq_core::Error> {
    /// let mut settings = taskq_sea::SqlSettings::default();
    /// settings.dead_connection_after = std::time::Duration::from_secs(10);
    /// let backend =
    ///     taskq_sea::SeaBackend::connect_with_settings("postgres://app@db/app", &settings).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with_settings(
        url: &str,
        settings: &SqlSettings,
    ) -> Result<SeaBackend, Error> {
        if settings.acquire_timeout.is_zero()
            || settings.dead_connection_after.is_zero()
            || settings.statement_timeout.is_some_and(|t| t.is_zero())
        {
            return Err(Error::InvalidArgument(
                "acquire_timeout, dead_connection_after and statement_timeout must be longer \
                 than zero"
                    .into(),
            ));
        }
        let mut options = ConnectOptions::new(url);
        options
            .sqlx_logging(false)
            .test_before_acquire_if_idle_for(POOL_PING_AFTER_IDLE)
            .acquire_timeout(settings.acquire_timeout);
        crate::tcp_options(&mut options, settings.dead_connection_after);
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres") {
            let session = postgres_session(settings);
            options.map_sqlx_postgres_opts(move |pg| pg.options(session.iter().cloned()));
        }
        SeaBackend::connect_with(options).await
    }

    /// Like [`SeaBackend::connect`], with the caller's pool options.
    ///
    /// A PostgreSQL or MySQL server that refuses a first direct connection
    /// fails this at once with the cause, rather than after the pool's
    /// acquire timeout as a bare `PoolTimedOut`.
    ///
    /// For SQLite, taskq's connection settings are installed with
    /// [`ConnectOptions::map_sqlx_sqlite_opts`], replacing a mapping set on
    /// `options`; connections are never recycled for age or idleness.
    pub async fn connect_with(options: ConnectOptions) -> Result<SeaBackend, Error> {
        crate::probe::refuse_fast(options.get_url()).await?;
        #[cfg(feature = "sqlite")]
        let db = if options.get_url().starts_with("sqlite:") {
            connect_sqlite(sqlite_options(options)).await?
        } else {
            Database::connect(options).await.map_err(db_err)?
        };
        #[cfg(not(feature = "sqlite"))]
        let db = Database::connect(options).await.map_err(db_err)?;
        let backend = SeaBackend::from_connection(db);
        backend.migrate().await?;
        Ok(backend)
    }

    /// Wraps an open connection without migrating (for hosts that run
    /// taskq's migrations in their own migrator, see [`crate::migration`]).
    ///
    /// For SQLite the caller is responsible for WAL mode and a busy
    /// timeout if several processes share the file.
    pub fn from_connection(db: DatabaseConnection) -> SeaBackend {
        // Only PostgreSQL tells other processes; SQLite and MySQL waiters
        // rely on the poll for ends made elsewhere.
        let poll = if db.get_database_backend() == DbBackend::Postgres {
            PUSHED_FALLBACK_DEFAULT
        } else {
            POLL_INTERVAL_DEFAULT
        };
        SeaBackend {
            db,
            signal: Arc::new(Notify::new()),
            schedule_signal: Arc::new(Notify::new()),
            ends: Arc::new(TaskEnds::new(poll)),
            listener: Arc::new(Listener::default()),
            holds: Arc::default(),
            wakes: Arc::default(),
        }
    }

    /// Applies taskq's pending migrations (idempotent). On SQLite the run
    /// holds the write lock, on PostgreSQL a transaction-scoped advisory
    /// lock and on MySQL a named lock per database (`GET_LOCK`, waiting up
    /// to 5 minutes), so processes starting together migrate once (two
    /// concurrent `CREATE TABLE IF NOT EXISTS` can both fail, and MySQL
    /// would interleave two runs' DDL).
    pub async fn migrate(&self) -> Result<(), Error> {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => {
                let txn = self.write_txn().await?;
                crate::migration::apply_pending(&txn)
                    .await
                    .map_err(db_err)?;
                txn.commit().await.map_err(db_err)?;
            }
            DbBackend::Postgres => {
                let txn = self.db.begin().await.map_err(db_err)?;
                // The lock waits for another process's migration, and DDL
                // on a big table may take a while: no statement timeout.
                txn.execute_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SET LOCAL statement_timeout = 0",
                ))
                .await
                .map_err(db_err)?;
                txn.execute_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"),
                ))
                .await
                .map_err(db_err)?;
                crate::migration::apply_pending(&txn)
                    .await
                    .map_err(db_err)?;
                txn.commit().await.map_err(db_err)?;
            }
            DbBackend::MySql => {
                // `GET_LOCK` belongs to a session: a transaction keeps one
                // connection for the lock, the migration and the release
                // (MySQL commits each DDL statement on its own).
                let txn = self.db.begin().await.map_err(db_err)?;
                // Per database: scratch databases on one server migrate apart.
                let lock = "LEFT(CONCAT('taskq_migrate:', DATABASE()), 64)";
                let got = txn
                    .query_one_raw(Statement::from_string(
                        DbBackend::MySql,
                        format!("SELECT GET_LOCK({lock}, {MYSQL_MIGRATION_WAIT_SECS}) AS got"),
                    ))
                    .await
                    .map_err(db_err)?
                    .and_then(|row| row.try_get::<Option<i64>>("", "got").ok().flatten());
                if got != Some(1) {
                    return Err(Error::backend(format!(
                        "another process held the migration lock for over \
                         {MYSQL_MIGRATION_WAIT_SECS} s"
                    )));
                }
                let migrated = crate::migration::apply_pending(&txn).await.map_err(db_err);
                let released = txn
                    .execute_raw(Statement::from_string(
                        DbBackend::MySql,
                        format!("SELECT RELEASE_LOCK({lock})"),
                    ))
                    .await
                    .map_err(db_err);
                migrated?;
                released?;
                txn.commit().await.map_err(db_err)?;
            }
            _ => crate::migration::apply_pending(&self.db)
                .await
                .map_err(db_err)?,
        }
        tracing::debug!("taskq schema is up to date");
        Ok(())
    }

    /// The underlying connection, for the host's own queries.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Wakes this process's idle workers.
    pub(crate) fn notify(&self) {
        self.signal.notify_waiters();
    }

    /// The signal idle workers wait on. On PostgreSQL the first call
    /// starts a task that `LISTEN`s on [`NOTIFY_CHANNEL`] and fires the
    /// signal for every notification, so enqueues by other processes wake
    /// this one (workers still poll slowly, in case a notification is
    /// lost while the listener reconnects).
    pub(crate) fn signal(&self) -> Arc<Notify> {
        self.start_listener();
        self.signal.clone()
    }

    /// The signal sleeping schedulers wait on: fired when this process
    /// writes a schedule, and on PostgreSQL (through the same `LISTEN`
    /// task, on [`SCHEDULE_CHANNEL`]) when another process does.
    pub(crate) fn schedule_signal(&self) -> Arc<Notify> {
        self.start_listener();
        self.schedule_signal.clone()
    }

    /// The waiters' hub; on PostgreSQL starts the `LISTEN` task, which
    /// also carries [`ENDED_CHANNEL`].
    pub(crate) fn ends(&self) -> Arc<TaskEnds> {
        self.start_listener();
        self.ends.clone()
    }

    /// Inside the transaction that ends `ids`: on PostgreSQL a `NOTIFY`
    /// on [`ENDED_CHANNEL`], delivered to every process's waiters when it
    /// commits; elsewhere nothing (their waiters poll).
    pub(crate) async fn announce_ended(
        &self,
        db: &impl ConnectionTrait,
        ids: &[TaskId],
    ) -> Result<(), Error> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for chunk in ids.chunks(ENDED_IDS_PER_NOTIFY) {
            let payload = chunk
                .iter()
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [ENDED_CHANNEL.into(), payload.into()],
            ))
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    /// After the commit that ended `ids`: wakes this process's waiters.
    pub(crate) fn ended_here(&self, ids: impl IntoIterator<Item = TaskId>) {
        self.ends.ended(ids);
    }

    fn start_listener(&self) {
        #[cfg(feature = "postgres")]
        if self.db.get_database_backend() == DbBackend::Postgres {
            self.listener.started.call_once(|| {
                listen(
                    self.db.get_postgres_connection_pool().clone(),
                    Signals {
                        work: Arc::downgrade(&self.signal),
                        schedules: Arc::downgrade(&self.schedule_signal),
                        ends: Arc::downgrade(&self.ends),
                    },
                    self.listener.stop.clone(),
                );
            });
        }
    }

    /// After a schedule write: wakes this process's schedulers, and on
    /// PostgreSQL other processes' (a `NOTIFY` outside a transaction,
    /// delivered at once). A failed `NOTIFY` is logged, not returned: the
    /// write happened, and other schedulers poll anyway.
    pub(crate) async fn schedules_changed(&self) {
        self.schedule_signal.notify_waiters();
        if self.db.get_database_backend() == DbBackend::Postgres
            && let Err(err) = self
                .db
                .execute_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("NOTIFY {SCHEDULE_CHANNEL}"),
                ))
                .await
        {
            tracing::warn!(error = %err, "could not NOTIFY other schedulers");
        }
    }

    /// Tells other processes' idle workers that work arrived: on
    /// PostgreSQL a `NOTIFY` (delivered when `db`'s transaction commits,
    /// or at once outside one); elsewhere nothing.
    pub(crate) async fn notify_others(&self, db: &impl ConnectionTrait) -> Result<(), Error> {
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("NOTIFY {NOTIFY_CHANNEL}"),
            ))
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`): a deferred transaction that reads
    /// first could not upgrade after another process's commit. On MySQL it
    /// is `READ COMMITTED`, which locks the rows it touches but not the gaps
    /// between index entries (InnoDB's default, `REPEATABLE READ`, would
    /// make a claim's locking read block concurrent enqueues).
    pub(crate) async fn write_txn(&self) -> Result<DatabaseTransaction, Error> {
        let options = match self.db.get_database_backend() {
            DbBackend::Sqlite => TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            },
            DbBackend::MySql => TransactionOptions {
                isolation_level: Some(IsolationLevel::ReadCommitted),
                ..TransactionOptions::default()
            },
            _ => TransactionOptions::default(),
        };
        self.db.begin_with_options(options).await.map_err(db_err)
    }

    /// Starts a read-only snapshot (a deferred transaction).
    pub(crate) async fn read_txn(&self) -> Result<DatabaseTransaction, Error> {
        self.db.begin().await.map_err(db_err)
    }
}

/// What the `LISTEN` task wakes: workers and schedulers of this process.
#[cfg(feature = "postgres")]
struct Signals {
    work: std::sync::Weak<Notify>,
    schedules: std::sync::Weak<Notify>,
    ends: std::sync::Weak<TaskEnds>,
}

/// Runs the `LISTEN` loop until `stop` fires or the backend is gone,
/// reconnecting with backoff when the connection drops.
#[cfg(feature = "postgres")]
fn listen(pool: sea_orm::sqlx::PgPool, signals: Signals, stop: Arc<Notify>) {
    use sea_orm::sqlx::postgres::PgListener;

    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // Outside a runtime there is no worker to wake; workers poll.
        return;
    };
    // Wakes the signal for `channel` (all for `None`: notifications may
    // have been lost); `false` once the backend is gone.
    let wake = move |channel: Option<&str>, payload: &str| {
        if let Some(ends) = signals.ends.upgrade() {
            match channel {
                None => ends.wake_all(),
                Some(ENDED_CHANNEL) => {
                    ends.ended(payload.split(' ').filter_map(|id| id.parse().ok()));
                    return signals.work.strong_count() > 0;
                }
                Some(_) => {}
            }
        }
        let work = channel != Some(SCHEDULE_CHANNEL);
        let schedules = channel.is_none_or(|c| c == SCHEDULE_CHANNEL);
        for (wanted, signal) in [(work, &signals.work), (schedules, &signals.schedules)] {
            if wanted && let Some(signal) = signal.upgrade() {
                signal.notify_waiters();
            }
        }
        signals.work.strong_count() > 0
    };
    runtime.spawn(async move {
        let session = async {
            let mut failures = 0u32;
            loop {
                let listener = async {
                    let mut listener = PgListener::connect_with(&pool).await?;
                    listener
                        .listen_all([NOTIFY_CHANNEL, SCHEDULE_CHANNEL, ENDED_CHANNEL])
                        .await?;
                    Ok::<_, sea_orm::sqlx::Error>(listener)
                };
                match listener.await {
                    Ok(mut listener) => {
                        failures = 0;
                        // Work or edits may have arrived while we were not
                        // listening.
                        if !wake(None, "") {
                            return;
                        }
                        loop {
                            match listener.try_recv().await {
                                // A notification; or `None`: the connection
                                // dropped and reconnected (notifications in
                                // between are lost, so wake both).
                                Ok(notification) => {
                                    let channel = notification.as_ref().map(|n| n.channel());
                                    let payload = notification.as_ref().map_or("", |n| n.payload());
                                    if !wake(channel, payload) {
                                        return;
                                    }
                                }
                                Err(err) => {
                                    tracing::warn!(error = %err, "taskq LISTEN connection failed");
                                    break;
                                }
                            }
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "taskq could not LISTEN; retrying");
                    }
                }
                failures = failures.saturating_add(1);
                let backoff = Duration::from_millis(100 << failures.min(6));
                tokio::time::sleep(backoff).await;
            }
        };
        tokio::select! {
            () = session => {}
            () = stop.notified() => {}
        }
    });
}

/// The session settings (`-c name=value` in the startup packet) of a
/// PostgreSQL pool built with `settings`: the server side's keepalive and
/// user timeout, and the statement timeout.
#[cfg(feature = "postgres")]
fn postgres_session(settings: &SqlSettings) -> Vec<(&'static str, String)> {
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
fn sqlite_options(mut options: ConnectOptions) -> ConnectOptions {
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
async fn connect_sqlite(options: ConnectOptions) -> Result<DatabaseConnection, Error> {
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

/// The PostgreSQL advisory lock key taskq's migrations run under (an
/// arbitrary constant: "taskq" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x74_6173_6b71;
/// How long a MySQL migration waits for another process's to finish.
const MYSQL_MIGRATION_WAIT_SECS: u32 = 300;

/// A database error as taskq's.
pub(crate) fn db_err(err: DbErr) -> Error {
    Error::backend(err)
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
