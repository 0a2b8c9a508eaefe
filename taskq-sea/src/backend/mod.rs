//! [`SeaBackend`]: the handle, its constructors, and the helpers its
//! [`Broker`](taskq_core::Broker) and [`Store`](taskq_core::Store)
//! implementations (in `broker.rs` and `store.rs`) share. How a pool is
//! built is `connect`'s; PostgreSQL's `LISTEN` task is `listener`'s.

mod connect;
mod listener;

#[cfg(feature = "sqlite")]
pub use connect::SQLITE_BUSY_TIMEOUT;
#[cfg(feature = "postgres")]
use connect::postgres_session;
pub use connect::{POOL_PING_AFTER_IDLE, SqlSettings};
#[cfg(feature = "sqlite")]
use connect::{connect_sqlite, sqlite_options};
use listener::Listener;
#[cfg(feature = "postgres")]
use listener::{Signals, listen};

use std::sync::Arc;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, IsolationLevel, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use taskq_core::ends::{POLL_INTERVAL_DEFAULT, PUSHED_FALLBACK_DEFAULT, TaskEnds};
use taskq_core::rate_limit::ClaimHolds;
use taskq_core::{Error, TaskId};
use tokio::sync::Notify;

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

/// The PostgreSQL advisory lock key taskq's migrations run under (an
/// arbitrary constant: "taskq" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x74_6173_6b71;
/// How long a MySQL migration waits for another process's to finish.
const MYSQL_MIGRATION_WAIT_SECS: u32 = 300;

/// A database error as taskq's.
pub(crate) fn db_err(err: DbErr) -> Error {
    Error::backend(err)
}
