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
//! - this crate's root: the types a host uses (client, worker, context,
//!   errors, records, schedules, backends); [`prelude`] for the few most
//!   hosts need.
//! - [`backend`]: the implementor's kit — the four backend traits, the
//!   values they pass, and the lifecycle rules they follow.
//! - [`registry`]: the task types a process knows.
//! - [`schedule`], [`worker`], [`maintenance`]: those parts' settings and
//!   named defaults.
//! - [`testing`]: testing your tasks — calling a handler directly, an
//!   inline backend, asserting what was enqueued, draining.
//! - `taskq-core`: the model, registry, backend traits, worker, client, and
//!   the in-memory backend — re-exported here.
//! - `taskq-macros`: `#[long_task]`.
//! - `http` (feature `http`): axum routes — REST API, OpenAPI, metrics
//!   and the dashboard page — that a host nests under any path.
//! - `taskq-sea` (feature `sqlite`, on by default; `postgres` and `mysql`
//!   for the servers): the SQL backend through SeaORM, as [`SqlBackend`],
//!   its entities and migrations in [`sea`].
//! - `cli` (feature `cli`): the operator's command line on clap —
//!   `worker`, `submit`, `list`, `wait`, `queues`, `workers`, … — that
//!   a host's binary runs from `main`.
//! - [`trace`] (feature `opentelemetry`): the submitting span's trace
//!   context stored with each task, the attempt's span its child.
//! - [`bulk`]: `Client::bulk`, many tasks retried, cancelled or deleted
//!   in one call.
//! - feature `redis`: `RedisBackend`, delivery and records in Redis; with
//!   a SQL feature also `SqlRedisBackend`, records in SQL and delivery
//!   through Redis.
//!
//! # Tasks in a library crate
//! `inventory` registers tasks at link time, and a crate the final binary
//! never names is not linked at all — its tasks would be silently missing.
//! Name the crate once in the binary: `use my_tasks as _;`.

// What a host uses: submit and steer tasks, run workers and schedulers,
// read records, write handlers.
pub use taskq_core::{
    AttemptOutcome, AttemptRecord, Backoff, CancellationToken, Client, Error, ErrorKind,
    FairWeight, KeyRunning, MaintenanceConfig, MemoryBackend, MisfirePolicy, Page, PageRequest,
    PayloadLimits, Position, Progress, QueueStats, RateLimit, RunWhen, Schedule, ScheduleDef,
    ScheduleKind, ScheduleTarget, Scheduler, SchedulerConfig, ShutdownHandle, StepInput,
    StopReason, Submission, SubmitRetry, Submitted, TaskContext, TaskError, TaskFailure,
    TaskFilter, TaskId, TaskOptions, TaskRecord, TaskState, TypeCount, TypeLimitStats, Unique,
    UniqueKey, Worker, WorkerBuilder, WorkerConfig, WorkerControl, WorkerInfo, WorkerQueue,
    WorkerState, WorkflowId, WorkflowStep,
};
pub use taskq_core::{assert_enqueued, assert_not_enqueued};
pub use taskq_core::{
    bounds, bulk, maintenance, schedule, schemars, testing, throughput, trace, worker, workflow,
};
pub use taskq_macros::long_task;

/// The backend implementor's kit: the four traits a backend implements
/// ([`Broker`](backend::Broker), [`Store`](backend::Store),
/// [`ScheduleStore`](backend::ScheduleStore),
/// [`WorkerRegistry`](backend::WorkerRegistry), joined by
/// [`Backend`](backend::Backend)), the values they pass (`Settlement`,
/// `Outcome`, `ClaimRequest`, `LeaseStatus`, …), the retry policies a
/// rescue applies, and [`lifecycle`](backend::lifecycle), the rules the
/// traits' implementations follow.
pub mod backend {
    pub use taskq_core::backend::*;
    pub use taskq_core::lifecycle;
    pub use taskq_core::retry_policy::{RetryPolicies, RetryPolicy};
}

/// The task types a process knows: [`Registry`](registry::Registry), the
/// [`TaskDef`](registry::TaskDef) `#[long_task]` registers and the typed
/// [`TaskHandle`](registry::TaskHandle) it makes.
pub mod registry {
    pub use taskq_core::registry::{
        Concurrency, HandlerFuture, Location, Registry, TaskDef, TaskHandle, TypedFuture,
        TypedHandler,
    };
}

#[cfg(feature = "cli")]
pub mod cli;

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

// One `pub use` each: a doc comment on a grouped re-export is prepended to
// every item it names, and `RedisConfig`'s page opened with the backend's
// summary.
/// The Redis backend (fred): delivery and records in Redis.
#[cfg(feature = "redis")]
pub use taskq_core::redis::RedisBackend;
#[cfg(feature = "redis")]
pub use taskq_core::redis::RedisConfig;

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
    /// The path `#[derive(JsonSchema)]` expands to (`schemars::…`): with
    /// the glob import of this prelude in scope, the derive works in a
    /// crate that does not depend on `schemars` itself.
    pub use taskq_core::schemars;
    pub use taskq_core::schemars::JsonSchema;
}

/// Paths the `#[long_task]` expansion uses; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use taskq_core::inventory;
    pub use taskq_core::rate_limit::RateLimit;
    pub use taskq_core::registry::{
        Concurrency, HandlerFuture, HasResultSchema, Location, NoResultSchema, ResultSchemaProbe,
        TaskDef, TaskHandle, TaskResult, TypedFuture, params_schema, run_handler, run_typed,
        validate_params,
    };
    pub use taskq_core::schedule::StaticSchedule;
    pub use taskq_core::schemars;
    pub use taskq_core::serde_json;
    pub use taskq_core::task::defaults;
}
