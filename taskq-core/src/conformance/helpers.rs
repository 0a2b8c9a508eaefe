//! What the rules share, public so a backend's own tests use the same
//! records, claims and schedules instead of writing their own.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use crate::backend::{
    Backend, ClaimRequest, PageRequest, TaskFilter, WorkerInfo, WorkerQueue, WorkerState,
};
use crate::client::Client;
use crate::registry::{HandlerFuture, Location, Registry, TaskDef, validate_params};
use crate::schedule::{Schedule, ScheduleDef, ScheduleFiring};
use crate::task::{ErrorKind, TaskFailure, TaskId, TaskOptions, TaskRecord, TaskState, seq_for};

/// A pending record as a client would submit it.
pub fn record(task_type: &str, queue: &str, priority: i32, at: DateTime<Utc>) -> TaskRecord {
    TaskRecord {
        id: uuid::Uuid::now_v7(),
        task_type: task_type.to_owned(),
        params: json!({ "n": 1 }),
        state: TaskState::Pending,
        queue: queue.to_owned(),
        priority,
        attempt: 0,
        max_retries: 1,
        result: None,
        error: None,
        progress: None,
        created_at: Utc::now(),
        scheduled_at: at,
        started_at: None,
        finished_at: None,
        worker_id: None,
        lease_until: None,
        cancel_requested: false,
        timeout: Some(Duration::from_secs(60)),
        soft_timeout: None,
        seq: seq_for(at),
        fair_round: 0,
        unique: None,
        step: None,
        attempts: Vec::new(),
        tags: Vec::new(),
        metadata: serde_json::Map::new(),
        schedule: None,
        snoozes: 0,
        expires_at: None,
        concurrency_key: None,
        trace_context: None,
    }
}

/// The clock the rules read (the wall clock).
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Claims up to `limit` tasks of `queue` for `worker` now, with a 30 s lease.
pub async fn claim(
    backend: &dyn Backend,
    queue: &str,
    limit: usize,
    worker: &str,
) -> Vec<TaskRecord> {
    claim_at(
        backend,
        queue,
        limit,
        worker,
        now(),
        Duration::from_secs(30),
    )
    .await
}

/// Claims up to `limit` tasks of `queue` for `worker` at `at`, leased for
/// `lease`.
pub async fn claim_at(
    backend: &dyn Backend,
    queue: &str,
    limit: usize,
    worker: &str,
    at: DateTime<Utc>,
    lease: Duration,
) -> Vec<TaskRecord> {
    backend
        .claim(ClaimRequest {
            queue,
            limit,
            worker_id: worker,
            lease,
            now: at,
            task_types: None,
        })
        .await
        .expect("claim")
}

/// The ids of `records`, in order.
pub fn ids(records: &[TaskRecord]) -> Vec<TaskId> {
    records.iter().map(|r| r.id).collect()
}

/// A stored failure of `kind` with `message`.
pub fn failure(kind: ErrorKind, message: &str) -> TaskFailure {
    TaskFailure {
        kind,
        message: message.to_owned(),
    }
}

/// The stored record of `id`, which must exist.
pub async fn get(backend: &dyn Backend, id: TaskId) -> TaskRecord {
    backend.get(id).await.expect("get").expect("task exists")
}

/// The task type schedule rules submit: takes any JSON, returns it.
pub static SCHEDULED_TASK: TaskDef = TaskDef {
    name: "conformance_scheduled",
    options: TaskOptions::DEFAULT,
    params_schema: || schemars::json_schema!({}),
    validate: validate_params::<serde_json::Value>,
    result_schema: || Some(crate::registry::params_schema::<serde_json::Value>()),
    concurrency: crate::registry::Concurrency::NONE,
    handler: echo_handler,
    location: Location {
        file: file!(),
        line: line!(),
        module: module_path!(),
    },
};

fn echo_handler(_: crate::context::TaskContext, params: serde_json::Value) -> HandlerFuture {
    Box::pin(async move { Ok(params) })
}

/// A client knowing [`SCHEDULED_TASK`] only.
pub fn schedule_client(backend: Arc<dyn Backend>) -> Client {
    let registry = Registry::from_defs([&SCHEDULED_TASK]).expect("one task");
    Client::with_registry(backend, registry)
}

/// `n` seconds, as a `chrono::Duration`.
pub fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A per-minute schedule of [`SCHEDULED_TASK`] named `name`, waiting for
/// `next`.
pub fn stored_schedule(name: &str, next: Option<DateTime<Utc>>) -> Schedule {
    let mut schedule = Schedule::new(
        ScheduleDef::interval(name, SCHEDULED_TASK.name, Duration::from_secs(60)),
        now(),
    )
    .expect("valid");
    schedule.next_run_at = next;
    schedule
}

/// A firing planned from `schedule` as read: `ticks` ticks from its next
/// run, a second apart, each task with its tick's id.
pub fn firing(schedule: &Schedule, next: Option<DateTime<Utc>>, ticks: i64) -> ScheduleFiring {
    let due = schedule.next_run_at.expect("due");
    ScheduleFiring {
        name: schedule.def.name.clone(),
        expected_next_run_at: Some(due),
        expected_revision: schedule.revision,
        next_run_at: next,
        fired_at: now(),
        tasks: (0..ticks)
            .map(|k| {
                let tick = due + secs(k);
                let mut task = record(SCHEDULED_TASK.name, "q", 5, tick);
                task.id = schedule.task_id_for(tick);
                task.params = schedule.def.params.clone();
                task
            })
            .collect(),
    }
}

/// How many tasks of [`SCHEDULED_TASK`]'s type the store holds.
pub async fn scheduled_tasks(backend: &dyn Backend) -> u64 {
    let filter = TaskFilter {
        task_type: Some(SCHEDULED_TASK.name.to_owned()),
        ..TaskFilter::default()
    };
    backend
        .list(&filter, PageRequest::new(1, 1))
        .await
        .expect("list")
        .total
}

/// The stored schedule `name`, which must exist.
pub async fn read_schedule(backend: &dyn Backend, name: &str) -> Schedule {
    backend
        .get_schedule(name)
        .await
        .expect("get")
        .expect("exists")
}

/// A worker's report as a worker would send it, expiring `ttl` from now
/// (to the microsecond, as SQL stores it).
pub fn worker_info(id: &str, ttl: chrono::Duration) -> WorkerInfo {
    let now = now().trunc_subsecs(6);
    WorkerInfo {
        id: id.to_owned(),
        host: "host-a".to_owned(),
        pid: 4242,
        queues: vec![
            WorkerQueue {
                name: "default".to_owned(),
                concurrency: 4,
            },
            WorkerQueue {
                name: "heavy".to_owned(),
                concurrency: 1,
            },
        ],
        task_types: vec!["a".to_owned(), "b".to_owned()],
        in_flight_count: 0,
        in_flight: Vec::new(),
        state: WorkerState::Running,
        requested: None,
        started_at: now - chrono::Duration::seconds(5),
        heartbeat_at: now,
        expires_at: now + ttl,
    }
}
