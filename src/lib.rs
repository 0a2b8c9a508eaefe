//! # taskq
//!
//! Background tasks for Rust: declare a handler with one attribute, submit
//! work from anywhere (typed, or by name with JSON), and run workers with
//! queues, priorities, retries with backoff, soft and hard timeouts,
//! cancellation, progress and durable records.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use taskq::prelude::*;
//!
//! #[derive(Deserialize, Serialize, JsonSchema)]
//! struct AnalyzeParams { dataset: String }
//!
//! /// Analyses one data set.
//! #[long_task(queue = "heavy", timeout = 7200, retries = 3)]
//! async fn analyze(ctx: TaskContext, p: AnalyzeParams) -> Result<usize, TaskError> {
//!     ctx.progress(0.5, "halfway").await?;
//!     Ok(p.dataset.len())
//! }
//!
//! # async fn demo() -> Result<(), taskq::Error> {
//! let backend = taskq::SqlBackend::connect("sqlite://tasks.db").await?;
//! let client = Client::new(std::sync::Arc::new(backend))?;
//! let id = client.submit(analyze, AnalyzeParams { dataset: "sales".into() }).await?;
//! Worker::builder(&client).queue("heavy", 2).build()?.run_until(tokio::signal::ctrl_c()).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `taskq-core`: the model, registry, backend traits, worker, client, and
//!   the in-memory backend — re-exported here.
//! - `taskq-macros`: `#[long_task]`.
//! - [`http`] (feature `http`): axum routes — REST API, OpenAPI, metrics
//!   and the dashboard page — that a host nests under any path.
//! - `taskq-sea` (feature `sqlite`, on by default; `postgres` and `mysql`
//!   for the servers): the SQL backend through SeaORM, as [`SqlBackend`],
//!   its entities and migrations in [`sea`].
//! - feature `redis`: `RedisBackend`, delivery and records in Redis; with
//!   a SQL feature also `SqlRedisBackend`, records in SQL and delivery
//!   through Redis.
//!
//! # Tasks in a library crate
//! `inventory` registers tasks at link time, and a crate the final binary
//! never names is not linked at all — its tasks would be silently missing.
//! Name the crate once in the binary: `use my_tasks as _;`.

pub use taskq_core::{
    Backend, Backoff, Broker, CancellationToken, Client, Error, ErrorKind, Location,
    MaintenanceConfig, MemoryBackend, MisfirePolicy, Page, PageRequest, Position, Progress,
    QueueStats, Registry, Schedule, ScheduleDef, ScheduleKind, ScheduleStore, Scheduler,
    SchedulerConfig, ShutdownHandle, StaticSchedule, StopReason, Store, Submission, TaskContext,
    TaskDef, TaskError, TaskFailure, TaskFilter, TaskHandle, TaskId, TaskOptions, TaskRecord,
    TaskState, Worker, WorkerBuilder, WorkerConfig, WorkerControl, WorkerInfo, WorkerQueue,
    WorkerRegistry, WorkerState,
};
pub use taskq_core::{backend, maintenance, schedule, schemars, worker};
pub use taskq_macros::long_task;

/// HTTP routes (feature `http`): REST API, OpenAPI document, metrics and
/// dashboard as an axum `Router` to nest — `taskq::http::router(client, Auth::bearer(token))`.
#[cfg(feature = "http")]
pub use taskq_core::http;

/// The SQL backend (SeaORM): entities, migrations and the backend type.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use taskq_sea as sea;
/// The SQL backend: `SqlBackend::connect` takes a `sqlite://`,
/// `postgres://` or `mysql://` URL (each behind its feature).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use taskq_sea::SeaBackend as SqlBackend;

/// The Redis backend (fred): delivery and records in Redis.
#[cfg(feature = "redis")]
pub use taskq_core::redis::{RedisBackend, RedisConfig};

/// Task records in SQL, delivery through Redis (features `redis` and a
/// SQL one): durable, queryable records, Redis-fast claims, and nothing
/// lost when Redis loses its data. See [`sea::redis`].
#[cfg(all(
    feature = "redis",
    any(feature = "sqlite", feature = "postgres", feature = "mysql")
))]
pub use taskq_sea::SeaRedisBackend as SqlRedisBackend;

/// What most hosts need, in one import.
pub mod prelude {
    pub use crate::{
        Client, Error, MisfirePolicy, Position, ScheduleDef, TaskContext, TaskError, TaskFilter,
        TaskId, TaskRecord, TaskState, Worker, long_task,
    };
    pub use taskq_core::schemars::JsonSchema;
}

/// Paths the `#[long_task]` expansion uses; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use taskq_core::inventory;
    pub use taskq_core::registry::{HandlerFuture, TaskResult, run_handler, validate_params};
    pub use taskq_core::schemars;
    pub use taskq_core::serde_json;
    pub use taskq_core::task::defaults;
}
