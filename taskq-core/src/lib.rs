//! taskq's core: the task model, the registry `#[long_task]` fills, the
//! backend contract, the worker, the client, and the in-memory backend.
//!
//! # Layout
//! - [`task`]: `TaskRecord`, `TaskState`, `TaskOptions` — the model.
//! - [`error`]: `Error` for calls, `TaskError` for handler outcomes.
//! - [`registry`]: `TaskDef` (what the macro registers), `Registry`, `TaskHandle`.
//! - [`context`]: `TaskContext`, what a running handler gets.
//! - [`backend`]: the `Broker` (delivery), `Store` (records) and
//!   `ScheduleStore` (schedules) traits.
//! - [`schedule`]: `ScheduleDef`, `Schedule`, misfire policies and the
//!   firing plan — once / interval / cron schedules.
//! - [`memory`]: the in-process backend.
//! - `redis` (feature `redis`): the Redis backend (fred).
//! - [`client`]: `Client`, the handle a host keeps to submit and steer tasks.
//! - [`worker`]: `Worker`, the executor.
//! - `http` (feature `http`): axum routes — REST API, OpenAPI, metrics, dashboard.
//! - [`maintenance`]: rescuer, pruner and scheduler, run by every worker.
//! - `conformance` (feature `conformance`): the suite every backend passes.
//!
//! Hosts use the `taskq` facade crate, which re-exports all of this.

pub mod backend;
pub mod client;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod context;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod lifecycle;
pub mod maintenance;
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;
pub mod registry;
pub mod retry_policy;
pub mod schedule;
mod submit;
pub mod task;
pub mod worker;
pub mod worker_state;

pub use backend::{
    Backend, Broker, ClaimRequest, LeaseStatus, Outcome, Page, PageRequest, Position, QueueStats,
    ReconcileReport, RescueReport, ScheduleStore, Settlement, Store, TaskFilter, WorkerControl,
    WorkerInfo, WorkerQueue, WorkerRegistry, WorkerState,
};
pub use client::{Client, Submission};
pub use context::{StopReason, TaskContext};
pub use error::{Error, TaskError};
pub use maintenance::MaintenanceConfig;
pub use maintenance::scheduler::{Scheduler, SchedulerConfig};
pub use memory::MemoryBackend;
#[cfg(feature = "redis")]
pub use redis::{RedisBackend, RedisConfig};
pub use registry::{Location, Registry, TaskDef, TaskHandle};
pub use schedule::{MisfirePolicy, Schedule, ScheduleDef, ScheduleKind, StaticSchedule};
pub use task::{
    Backoff, ErrorKind, Progress, TaskFailure, TaskId, TaskOptions, TaskRecord, TaskState,
};
pub use worker::{ShutdownHandle, Worker, WorkerBuilder, WorkerConfig};

// Re-exported for generated code and backends.
pub use inventory;
pub use schemars;
pub use serde_json;
pub use tokio_util::sync::CancellationToken;
