//! taskq's core: the task model, the registry `#[long_task]` fills, the
//! backend contract, the worker, the client, and the in-memory backend.
//!
//! # Layout
//! From the ground up: each module imports only those listed above it
//! (but `schedule/declared.rs`, the part of schedules that reads the
//! registry).
//! - [`trace`]: `TraceContext`, the submitting span's trace context stored
//!   with a task (feature `opentelemetry`: read and written through the
//!   global propagator).
//! - [`task`]: `TaskRecord`, `TaskState`, `TaskOptions`, `Location` — the
//!   model.
//! - [`worker_state`]: `WorkerState`, `WorkerControl`, `WorkerInfo` — workers
//!   as the registry sees them.
//! - [`retry_policy`]: `RetryPolicy`, the wait before a retry.
//! - [`error`]: `Error` for calls, `TaskError` for handler outcomes.
//! - [`bounds`]: what every backend stores unchanged — times (1970 to
//!   9999), timeouts, retry counts, queue and schedule names.
//! - [`rate_limit`]: `RateLimit`, a queue's starts per period, and
//!   `ClaimHolds`, where a backend keeps when a bucket next allows a start.
//! - [`schedule`]: `ScheduleDef`, `Schedule`, misfire policies and the
//!   firing plan — once / interval / cron schedules.
//! - [`ends`]: `TaskEnds`, the hub through which a backend wakes the
//!   waiters of tasks that ended.
//! - [`backend`]: the four traits a backend implements — `Broker`
//!   (delivery), `Store` (records), `ScheduleStore` (schedules) and
//!   `WorkerRegistry` (live workers) — joined by `Backend`.
//! - [`lifecycle`]: every rule of a task's life as a pure function; the
//!   spec the backends implement.
//! - [`context`]: `TaskContext`, what a running handler gets.
//! - [`registry`]: `TaskDef` (what the macro registers), `Registry`,
//!   `TaskHandle`.
//! - `submit`: a new task's record from its type's options and overrides.
//! - [`memory`]: the in-process backend, one file per trait.
//! - `redis` (feature `redis`): the Redis backend (fred), its Lua in
//!   `redis/scripts/`.
//! - [`client`]: `Client`, the handle a host keeps to submit and steer tasks.
//! - [`bulk`]: `Client::bulk`, retry, cancel or delete many tasks by ids
//!   or a filter.
//! - [`wait`]: waiting for tasks to end — `Client::wait_for`,
//!   `Client::result`, `Submission::wait`, `TaskRef` — and the shared
//!   fallback poller.
//! - [`maintenance`]: rescuer, pruner, reconciler and scheduler, run by
//!   every worker.
//! - [`worker`]: `Worker`, the executor (dispatch, attempts, completer,
//!   leases, control).
//! - [`workflow`]: chains, groups, chords and batch callbacks — the typed
//!   builder, the spec by names, the stored workflow's record.
//! - [`testing`]: calling handlers in unit tests, the inline backend,
//!   asserting what was enqueued, draining without a worker.
//! - `http` (feature `http`): axum routes — REST API, OpenAPI, metrics, dashboard.
//! - `conformance` (feature `conformance`): the suite every backend passes,
//!   and the model test.
//!
//! Hosts use the `taskq` facade crate, which re-exports all of this.

pub mod backend;
pub mod bounds;
pub mod bulk;
pub mod client;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod context;
pub mod coverage;
mod doc_links;
pub mod ends;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
mod idempotent;
pub mod lifecycle;
pub mod maintenance;
pub mod memory;
pub mod payload;
pub mod rate_limit;
#[cfg(feature = "redis")]
pub mod redis;
pub mod registry;
pub mod retry_policy;
pub mod schedule;
mod stable_hash;
mod submit;
pub mod task;
pub mod testing;
pub mod throughput;
pub mod trace;
pub mod wait;
pub mod worker;
pub mod worker_state;
pub mod workflow;

pub use backend::{
    Backend, Broker, ClaimRequest, Enqueued, FairWeight, KeyRunning, LeaseStatus, Outcome, Page,
    PageRequest, PendingByType, Position, QueueStats, ReconcileReport, RescueReport, ScheduleStore,
    Settlement, Store, TaskFilter, TypeCount, TypeLimitStats, WorkerControl, WorkerInfo,
    WorkerQueue, WorkerRegistry, WorkerState,
};
pub use client::Client;
pub use context::{StopReason, TaskContext};
pub use error::{Error, TaskError};
pub use idempotent::{SubmitRetry, Submitted};
pub use maintenance::MaintenanceConfig;
pub use maintenance::scheduler::{Scheduler, SchedulerConfig};
pub use memory::MemoryBackend;
pub use payload::PayloadLimits;
pub use rate_limit::RateLimit;
#[cfg(feature = "redis")]
pub use redis::{RedisBackend, RedisConfig};
pub use registry::{Location, Registry, TaskDef, TaskHandle};
pub use schedule::{
    MisfirePolicy, Schedule, ScheduleDef, ScheduleKind, ScheduleTarget, StaticSchedule,
};
pub use submit::Submission;
pub use task::{
    AttemptOutcome, AttemptRecord, Backoff, ErrorKind, Progress, RunWhen, StepInput, TaskFailure,
    TaskId, TaskOptions, TaskRecord, TaskState, Unique, UniqueKey, WorkflowId, WorkflowStep,
};
pub use wait::TaskRef;
pub use worker::{ShutdownHandle, Worker, WorkerBuilder, WorkerConfig};

// Re-exported for generated code and backends.
pub use inventory;
pub use schemars;
pub use serde_json;
pub use tokio_util::sync::CancellationToken;
