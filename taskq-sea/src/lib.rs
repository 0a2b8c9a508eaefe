//! taskq's SQL backend through SeaORM: the `taskq_tasks`, `taskq_queues`,
//! `taskq_schedules` and `taskq_workers` tables, their migrations, and
//! [`SeaBackend`], which implements taskq's [`Broker`](taskq_core::Broker)
//! (delivery), [`Store`](taskq_core::Store) (records),
//! [`ScheduleStore`](taskq_core::ScheduleStore) (schedules) and
//! [`WorkerRegistry`](taskq_core::WorkerRegistry) (live workers) on them.
//!
//! SQLite is the default (feature `sqlite`); PostgreSQL (feature
//! `postgres`) and MySQL 8 / MariaDB 10.6+ (feature `mysql`) run the same
//! entities and migrations. The SQL is built with sea-query; where the
//! dialects differ:
//! - claims lock the due rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL
//!   and MySQL, so concurrent claimers pass each other's rows; on MySQL
//!   (no `UPDATE … RETURNING`, no subquery on the updated table) a claim is
//!   a short `READ COMMITTED` transaction: lock, update by id, read back;
//! - settlements and heartbeats are one statement per batch on SQLite and
//!   PostgreSQL, one per row (in one transaction) on MySQL;
//! - on MySQL times are `DATETIME(6)` (UTC) and the partial indexes index
//!   every row.
//!
//! ```no_run
//! # async fn run() -> Result<(), taskq_core::Error> {
//! // Creates the file if needed, sets WAL + durable commits, migrates.
//! let backend = taskq_sea::SeaBackend::connect("sqlite://tasks.db").await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`entity`]: SeaORM entities, [`entity::task`] (`taskq_tasks`),
//!   [`entity::queue`] (`taskq_queues`), [`entity::schedule`]
//!   (`taskq_schedules`) and [`entity::worker`] (`taskq_workers`).
//! - [`migration`]: the schema as sea-orm-migration migrations; `Migrator`
//!   and `migrations()` for splicing into a host's migrator.
//! - `backend.rs`: [`SeaBackend`], its constructors and connection settings.
//! - `broker/`: the `Broker` implementation (enqueue, claim, settle,
//!   heartbeat, release, cancel, retry, reorder, pause, rescue): the
//!   methods in `mod.rs`, the statements they build in `statements.rs`,
//!   inserts in `enqueue.rs`, expired leases in `rescue.rs`, shared steps
//!   (MySQL's claim among them) in `steps.rs`.
//! - `store.rs`: the `Store` implementation (get, list, progress, purge,
//!   queue stats).
//! - `schedules.rs`: the `ScheduleStore` implementation (schedules and
//!   their compare-and-set firing) and `Schedule` ⇄ `schedule::Model`.
//! - `workers.rs`: the `WorkerRegistry` implementation (worker rows and
//!   their compare-and-set control) and `WorkerInfo` ⇄ `worker::Model`.
//! - [`scratch`]: fresh PostgreSQL schemas / MySQL databases for tests and
//!   benchmarks on a shared server.
//! - `sql.rs`: the hand-written batch statements (settle, heartbeat, and
//!   marking what Redis claimed), for SQLite and PostgreSQL, and the
//!   literal-state predicates the partial indexes need.
//! - `nodelay.rs`: [`tcp_nodelay`] / [`tcp_options`], `TCP_NODELAY`, keepalive
//!   and `TCP_USER_TIMEOUT` on the pool's sockets.
//! - `convert.rs`: `TaskRecord` ⇄ `task::Model`.
//! - `history.rs`: `lifecycle::end_attempt` per dialect, the expression
//!   that appends an attempt's entry to `taskq_tasks.attempts` inside the
//!   statement that ends the attempt.
//! - `labels.rs`: `lifecycle::has_metadata` per dialect, the condition a
//!   list adds for each metadata pair it filters on.
//! - `redis` (feature `redis`): `SeaRedisBackend`, records here with
//!   delivery through Redis; `handoff.rs`, the SQL it needs (marking
//!   what Redis claimed, reading what Redis must hold).
//! - `examples/sqlite_throughput.rs`: the backend alone under a worker's
//!   load (claim and settle batches), for profiling.
//!
//! # Concurrency
//! SQLite allows one writer at a time; taskq keeps each write short (one
//! statement, or one `BEGIN IMMEDIATE` transaction per batch) and fences
//! every transition in its `WHERE` clause, so several worker processes can
//! share one database file. Within a process the pool has one connection
//! by default; [`SeaBackend::connect_with`] takes other pool options.
//!
//! # Time
//! Every timestamp is bound and stored as a `chrono::DateTime<Utc>`. On
//! SQLite that is RFC 3339 text with a `+00:00` offset, whose text order is
//! time order, so `scheduled_at <= now` and the like compare correctly
//! down to the nanosecond. (Rows written by other tools must use the same
//! form: a `Z` suffix or a space for the `T` would break that order.)

mod backend;
mod broker;
mod convert;
pub mod entity;
#[cfg(feature = "redis")]
mod handoff;
mod history;
mod labels;
pub mod migration;
mod nodelay;
mod probe;
pub use nodelay::{DEAD_CONNECTION_AFTER_DEFAULT, tcp_nodelay, tcp_options};
#[cfg(feature = "redis")]
pub mod redis;
mod schedules;
pub mod scratch;
mod sql;
mod store;
mod workers;

#[cfg(feature = "sqlite")]
pub use backend::SQLITE_BUSY_TIMEOUT;
pub use backend::{NOTIFY_CHANNEL, SeaBackend, SqlSettings};
#[cfg(feature = "redis")]
pub use redis::SeaRedisBackend;
/// The SeaORM this crate is built with, for hosts that build
/// [`sea_orm::ConnectOptions`] or a connection themselves.
pub use sea_orm;
