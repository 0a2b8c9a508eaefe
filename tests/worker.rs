//! End-to-end behaviour of workers and clients through the public facade,
//! with handlers declared by `#[long_task]`, on every backend:
//! `cargo test memory::`, `cargo test sqlite::` or `cargo test redis::`
//! runs one (Redis needs `TASKQ_TEST_REDIS_URL` at build time, else its
//! tests are ignored; `redis_cluster::` needs `TASKQ_TEST_REDIS_CLUSTER=1`
//! and starts a private Redis Cluster, see `common::PrivateRedisCluster`).

mod common;
use common::unique;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use taskq::backend::Backend;
use taskq::prelude::*;
use taskq::{
    ErrorKind, MaintenanceConfig, PageRequest, StopReason, WorkerBuilder, WorkerControl,
    WorkerInfo, WorkerQueue, WorkerState,
};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Echo {
    text: String,
    #[serde(default)]
    times: u32,
}

/// Returns its text repeated.
/// Retries (when a submission allows them, as after a rescue) follow fast.
#[long_task(retries = 0, retry_delay = 0.01)]
async fn echo(p: Echo) -> Result<String, TaskError> {
    Ok(p.text.repeat(p.times.max(1) as usize))
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Flaky {
    key: String,
    failures: u32,
}

/// Per key: when each attempt started and, for a failed one, when it
/// returned its error.
#[derive(Debug, Default)]
struct Runs {
    started: Vec<Instant>,
    failed: Vec<Instant>,
}

static ATTEMPTS: LazyLock<Mutex<HashMap<String, Runs>>> = LazyLock::new(Default::default);

fn count_attempt(key: &str) -> u32 {
    let mut attempts = ATTEMPTS.lock().unwrap();
    let runs = attempts.entry(key.to_owned()).or_default();
    runs.started.push(Instant::now());
    runs.started.len() as u32
}

fn count_failure(key: &str) {
    let mut attempts = ATTEMPTS.lock().unwrap();
    attempts
        .entry(key.to_owned())
        .or_default()
        .failed
        .push(Instant::now());
}

/// `flaky`'s first retry delay; each next one doubles.
const FLAKY_RETRY_DELAY: Duration = Duration::from_millis(300);

#[long_task(retries = 2, retry_delay = 0.3, backoff = 2.0, jitter = 0.0)]
async fn flaky(ctx: TaskContext, p: Flaky) -> Result<u32, TaskError> {
    let n = count_attempt(&p.key);
    assert_eq!(n, ctx.attempt(), "attempt numbers follow the runs");
    if n <= p.failures {
        count_failure(&p.key);
        // An io::Error through `?`: retryable by default.
        Err(std::io::Error::other(format!("transient failure {n}")))?;
    }
    Ok(n)
}

#[long_task(retries = 5)]
async fn permanent(_p: Flaky) -> Result<(), TaskError> {
    Err(TaskError::permanent("the input can never work"))
}

#[long_task(retries = 0)]
async fn panics(p: Echo) -> Result<(), TaskError> {
    panic!("boom: {}", p.text);
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Sleep {
    ms: u64,
    /// Stop early when the context is cancelled.
    cooperative: bool,
}

#[long_task(retries = 0)]
async fn sleeper(ctx: TaskContext, p: Sleep) -> Result<String, TaskError> {
    let sleep = tokio::time::sleep(Duration::from_millis(p.ms));
    if p.cooperative {
        tokio::select! {
            _ = sleep => Ok("slept".into()),
            _ = ctx.cancelled() => match ctx.stop_reason() {
                Some(StopReason::SoftTimeout) => Ok("wrapped up at the soft timeout".into()),
                _ => Err(TaskError::cancelled("stopped on request")),
            },
        }
    } else {
        sleep.await;
        Ok("slept".into())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Steps {
    steps: u32,
    step_ms: u64,
}

#[long_task(retries = 0)]
async fn stepper(ctx: TaskContext, p: Steps) -> Result<u32, TaskError> {
    for i in 1..=p.steps {
        tokio::time::sleep(Duration::from_millis(p.step_ms)).await;
        ctx.progress(
            f64::from(i) / f64::from(p.steps),
            format!("step {i}/{}", p.steps),
        )
        .await?;
    }
    Ok(p.steps)
}

static ORDER: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Default::default);

#[long_task(queue = "ordered", retries = 0)]
async fn record_order(p: Echo) -> Result<(), TaskError> {
    ORDER.lock().unwrap().push(p.text);
    Ok(())
}

/// A worker with fast timings, for tests.
fn fast_worker(client: &Client) -> WorkerBuilder {
    Worker::builder(client)
        .queue("default", 4)
        .poll_interval(Duration::from_millis(20))
        .heartbeat_interval(Duration::from_millis(50))
        .lease(Duration::from_secs(5))
        .cancel_grace(Duration::from_millis(200))
        .shutdown_grace(Duration::from_millis(300))
}

/// Runs `worker` in the background; returns a stop-and-join closure.
fn spawn(worker: Worker) -> impl AsyncFnOnce() {
    let handle = worker.shutdown_handle();
    let join = tokio::spawn(worker.run());
    async move || {
        handle.shutdown();
        join.await.expect("worker task").expect("worker run");
    }
}

async fn wait_for(client: &Client, id: TaskId, done: impl Fn(&TaskRecord) -> bool) -> TaskRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let record = client.get(id).await.expect("get");
        if done(&record) {
            return record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting; task is {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_terminal(client: &Client, id: TaskId) -> TaskRecord {
    wait_for(client, id, |r| r.state.is_terminal()).await
}

pub async fn typed_submit_runs_to_finished(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client
        .submit(
            echo,
            Echo {
                text: "ab".into(),
                times: 3,
            },
        )
        .await
        .unwrap();
    let done = wait_terminal(&client, id).await;
    assert_eq!(done.state, TaskState::Finished);
    assert_eq!(
        done.result_as::<String>().unwrap().as_deref(),
        Some("ababab")
    );
    assert_eq!(done.attempt, 1);
    assert!(done.started_at.is_some() && done.finished_at.is_some());
    stop().await;
}

pub async fn submit_by_name_validates(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let err = client
        .submit_json("no_such_task", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnknownTaskType(ref name) if name == "no_such_task"),
        "{err}"
    );
    let err = client
        .submit_json("echo", json!({ "text": 5 }))
        .await
        .unwrap_err();
    match err {
        Error::InvalidParams { path, message, .. } => {
            assert_eq!(path, "text");
            assert!(message.contains("invalid type"), "{message}");
        }
        other => panic!("expected InvalidParams, got {other}"),
    }
    let err = client
        .submit_json("echo", json!({ "times": 2 }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing field `text`"), "{err}");
    let listed = client
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 0, "rejected submissions stored nothing");
    let id = client
        .submit_json("echo", json!({ "text": "ok" }))
        .await
        .unwrap();
    assert_eq!(
        client.get(id).await.unwrap().params,
        json!({ "text": "ok" })
    );
}

/// A retryable error is retried after `retry_delay * backoff^(n-1)`
/// (300 ms, then 600 ms: no jitter): each retry starts no sooner than its
/// delay after the failure before it, and the second waits the doubled
/// delay. A worker that retried at once, or without growing the delay,
/// fails here.
pub async fn retryable_errors_retry_with_backoff(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let key = unique("flaky");
    let id = client
        .submit(
            flaky,
            Flaky {
                key: key.clone(),
                failures: 2,
            },
        )
        .await
        .unwrap();
    let spent_key = unique("flaky");
    let spent_id = client
        .submit(
            flaky,
            Flaky {
                key: spent_key,
                failures: 10,
            },
        )
        .await
        .unwrap();
    let done = wait_terminal(&client, id).await;
    assert_eq!(done.state, TaskState::Finished, "{done:?}");
    assert_eq!(done.attempt, 3);
    assert_eq!(done.result_as::<u32>().unwrap(), Some(3));
    let last_error = done.error.expect("the last failure is kept");
    assert_eq!(last_error.kind, ErrorKind::Retryable);
    assert!(last_error.message.contains("transient failure 2"));
    {
        let attempts = ATTEMPTS.lock().unwrap();
        let runs = &attempts[&key];
        assert_eq!((runs.started.len(), runs.failed.len()), (3, 2), "{runs:?}");
        let mut delay = FLAKY_RETRY_DELAY;
        for (failed, retried) in runs.failed.iter().zip(&runs.started[1..]) {
            let waited = retried.duration_since(*failed);
            // Stored due times may be rounded to the millisecond.
            assert!(
                waited + Duration::from_millis(2) >= delay,
                "a retry started {waited:?} after its failure; its delay is {delay:?}"
            );
            delay *= 2;
        }
    }

    let spent = wait_terminal(&client, spent_id).await;
    assert_eq!(
        (spent.state, spent.attempt),
        (TaskState::Failed, 3),
        "retries = 2: three attempts"
    );
    stop().await;
}

pub async fn permanent_errors_and_panics_fail(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client
        .submit(
            permanent,
            Flaky {
                key: unique("p"),
                failures: 0,
            },
        )
        .await
        .unwrap();
    let failed = wait_terminal(&client, id).await;
    assert_eq!((failed.state, failed.attempt), (TaskState::Failed, 1));
    assert_eq!(failed.error.unwrap().kind, ErrorKind::Permanent);

    let id = client
        .submit(
            panics,
            Echo {
                text: "oops".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    let panicked = wait_terminal(&client, id).await;
    assert_eq!(panicked.state, TaskState::Failed);
    let error = panicked.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Panic);
    assert!(error.message.contains("boom: oops"), "{}", error.message);

    // The worker goes on after a panic.
    let id = client
        .submit(
            echo,
            Echo {
                text: "after".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(wait_terminal(&client, id).await.state, TaskState::Finished);
    stop().await;
}

pub async fn hard_and_soft_timeouts(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let hard = client
        .submit(
            sleeper,
            Sleep {
                ms: 10_000,
                cooperative: false,
            },
        )
        .timeout(Duration::from_millis(200))
        .await
        .unwrap();
    let soft = client
        .submit(
            sleeper,
            Sleep {
                ms: 10_000,
                cooperative: true,
            },
        )
        .soft_timeout(Duration::from_millis(100))
        .timeout(Duration::from_secs(5))
        .await
        .unwrap();
    let timed_out = wait_terminal(&client, hard).await;
    assert_eq!(timed_out.state, TaskState::Failed);
    assert_eq!(timed_out.error.unwrap().kind, ErrorKind::Timeout);
    let wrapped = wait_terminal(&client, soft).await;
    assert_eq!(wrapped.state, TaskState::Finished);
    assert_eq!(
        wrapped.result_as::<String>().unwrap().as_deref(),
        Some("wrapped up at the soft timeout")
    );
    stop().await;
}

pub async fn cancel_pending_and_running(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let pending = client
        .submit(
            echo,
            Echo {
                text: "never".into(),
                times: 1,
            },
        )
        .countdown(Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        client.cancel(pending).await.unwrap().state,
        TaskState::Cancelled
    );

    let stop = spawn(fast_worker(&client).build().unwrap());
    let polite = client
        .submit(
            sleeper,
            Sleep {
                ms: 10_000,
                cooperative: true,
            },
        )
        .await
        .unwrap();
    let stubborn = client
        .submit(
            sleeper,
            Sleep {
                ms: 10_000,
                cooperative: false,
            },
        )
        .await
        .unwrap();
    for id in [polite, stubborn] {
        wait_for(&client, id, |r| r.state == TaskState::Running).await;
        let requested = client.cancel(id).await.unwrap();
        assert!(requested.cancel_requested);
    }
    let polite = wait_terminal(&client, polite).await;
    assert_eq!(polite.state, TaskState::Cancelled);
    assert_eq!(polite.error.unwrap().message, "stopped on request");
    let stubborn = wait_terminal(&client, stubborn).await;
    assert_eq!(stubborn.state, TaskState::Cancelled);
    assert!(stubborn.error.unwrap().message.contains("grace"));
    let never = client.get(pending).await.unwrap();
    assert_eq!((never.state, never.attempt), (TaskState::Cancelled, 0));
    assert!(matches!(
        client.cancel(pending).await,
        Err(Error::InvalidTransition { .. })
    ));
    stop().await;
}

pub async fn progress_is_readable_while_running(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client
        .submit(
            stepper,
            Steps {
                steps: 4,
                step_ms: 150,
            },
        )
        .await
        .unwrap();
    let midway = wait_for(&client, id, |r| r.progress.is_some()).await;
    assert_eq!(midway.state, TaskState::Running);
    let progress = midway.progress.unwrap();
    assert!(
        progress.fraction > 0.0 && progress.fraction < 1.0,
        "{progress:?}"
    );
    assert!(progress.message.starts_with("step "));
    let done = wait_terminal(&client, id).await;
    assert_eq!(done.progress.unwrap().fraction, 1.0);
    stop().await;
}

pub async fn eta_and_countdown_are_respected(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(600);
    let id = client
        .submit(
            echo,
            Echo {
                text: "later".into(),
                times: 1,
            },
        )
        .at(at)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.get(id).await.unwrap().state, TaskState::Pending);
    let done = wait_terminal(&client, id).await;
    assert!(done.started_at.unwrap() >= at, "started before its ETA");
    stop().await;
}

pub async fn priorities_and_reorder_decide_order(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let tag = unique("order");
    let text = |s: &str| Echo {
        text: format!("{tag}:{s}"),
        times: 1,
    };
    let low = client
        .submit(record_order, text("low"))
        .priority(1)
        .await
        .unwrap();
    let _high = client
        .submit(record_order, text("high"))
        .priority(9)
        .await
        .unwrap();
    let _mid = client.submit(record_order, text("mid")).await.unwrap();
    let last = client
        .submit(record_order, text("moved-first"))
        .priority(1)
        .await
        .unwrap();
    client.reorder(last, Position::Front).await.unwrap();
    client.reorder(low, Position::Back).await.unwrap();
    let worker = Worker::builder(&client)
        .queue("ordered", 1)
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let stop = spawn(worker);
    wait_terminal(&client, low).await;
    stop().await;
    let order: Vec<String> = ORDER
        .lock()
        .unwrap()
        .iter()
        .filter_map(|s| s.strip_prefix(&format!("{tag}:")).map(str::to_owned))
        .collect();
    assert_eq!(order, ["moved-first", "high", "mid", "low"]);
}

pub async fn paused_queue_waits_for_resume(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    client.pause_queue("default").await.unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client
        .submit(
            echo,
            Echo {
                text: "x".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.get(id).await.unwrap().state, TaskState::Pending);
    let stats = client.queue_stats().await.unwrap();
    assert!(
        stats
            .iter()
            .any(|q| q.queue == "default" && q.paused && q.pending == 1)
    );
    client.resume_queue("default").await.unwrap();
    assert_eq!(wait_terminal(&client, id).await.state, TaskState::Finished);
    stop().await;
}

pub async fn retry_reruns_failed_task_with_same_id(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let key = unique("retry");
    let id = client
        .submit(flaky, Flaky { key, failures: 1 })
        .max_retries(0)
        .await
        .unwrap();
    assert_eq!(wait_terminal(&client, id).await.state, TaskState::Failed);
    assert!(matches!(
        client.retry(uuid::Uuid::now_v7()).await,
        Err(Error::NotFound(_))
    ));
    let retried = client.retry(id).await.unwrap();
    assert_eq!(retried.id, id);
    let done = wait_terminal(&client, id).await;
    assert_eq!((done.state, done.attempt), (TaskState::Finished, 2));
    assert!(matches!(
        client.retry(id).await,
        Err(Error::InvalidTransition { .. })
    ));
    stop().await;
}

pub async fn shutdown_releases_unfinished_tasks(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client
        .submit(
            sleeper,
            Sleep {
                ms: 10_000,
                cooperative: false,
            },
        )
        .await
        .unwrap();
    wait_for(&client, id, |r| r.state == TaskState::Running).await;
    stop().await;
    let released = client.get(id).await.unwrap();
    assert_eq!((released.state, released.attempt), (TaskState::Pending, 0));
    assert!(released.lease_until.is_none());
}

pub async fn dead_worker_tasks_are_rescued(backend: Arc<dyn Backend>) {
    let client = Client::new(backend.clone()).unwrap();
    let id = client
        .submit(
            echo,
            Echo {
                text: "rescued".into(),
                times: 1,
            },
        )
        .max_retries(1)
        .await
        .unwrap();
    // A worker that claims and then dies: nobody renews the lease.
    let claimed = backend
        .claim(taskq::backend::ClaimRequest {
            queue: "default",
            limit: 1,
            worker_id: "dead-worker",
            lease: Duration::from_millis(100),
            now: chrono::Utc::now(),
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let worker = fast_worker(&client)
        .maintenance(MaintenanceConfig {
            rescue_interval: Duration::from_millis(50),
            ..MaintenanceConfig::default()
        })
        .build()
        .unwrap();
    let stop = spawn(worker);
    let done = wait_terminal(&client, id).await;
    assert_eq!((done.state, done.attempt), (TaskState::Finished, 2));
    assert_ne!(done.worker_id.as_deref(), Some("dead-worker"));
    stop().await;
}

pub async fn retention_prunes_old_records(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let worker = fast_worker(&client)
        .maintenance(MaintenanceConfig {
            retention: Some(Duration::from_millis(300)),
            prune_interval: Duration::from_millis(50),
            ..MaintenanceConfig::default()
        })
        .build()
        .unwrap();
    let stop = spawn(worker);
    let id = client
        .submit(
            echo,
            Echo {
                text: "old".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(wait_terminal(&client, id).await.state, TaskState::Finished);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while client.get(id).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "record was never pruned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(client.get(id).await, Err(Error::NotFound(_))));
    stop().await;
}

pub async fn client_errors_change_nothing(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let missing = uuid::Uuid::now_v7();
    assert!(matches!(client.get(missing).await, Err(Error::NotFound(_))));
    assert!(matches!(
        client.cancel(missing).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        client.reorder(missing, Position::Front).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        client.pause_queue("").await,
        Err(Error::InvalidArgument(_))
    ));
    let err = client
        .submit(
            sleeper,
            Sleep {
                ms: 1,
                cooperative: true,
            },
        )
        .soft_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let id = client
        .submit(
            echo,
            Echo {
                text: "x".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        client.retry(id).await,
        Err(Error::InvalidTransition { .. })
    ));
    let listed = client
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.items[0].state, TaskState::Pending);
}

pub async fn slow_handler_does_not_hold_back_its_batch(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    // Submitted before the worker starts, so one claim takes them all.
    let slow = client
        .submit(
            sleeper,
            Sleep {
                ms: 5_000,
                cooperative: false,
            },
        )
        .await
        .unwrap();
    let mut fast = Vec::new();
    for i in 0..6 {
        let text = format!("fast {i}");
        fast.push(client.submit(echo, Echo { text, times: 1 }).await.unwrap());
    }
    let stop = spawn(
        Worker::builder(&client)
            .queue("default", 8)
            .shutdown_grace(Duration::from_millis(100))
            .build()
            .unwrap(),
    );
    for id in fast {
        let done = wait_terminal(&client, id).await;
        assert_eq!(done.state, TaskState::Finished, "{done:?}");
    }
    let slow = client.get(slow).await.unwrap();
    assert_eq!(
        slow.state,
        TaskState::Running,
        "the slow handler still runs while the fast ones of its batch are done"
    );
    stop().await;
}

/// Polls the registry through `operator` until the worker matches.
async fn wait_worker(
    operator: &Client,
    id: &str,
    done: impl Fn(&WorkerInfo) -> bool,
) -> WorkerInfo {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let found = operator.worker(id).await;
        if let Ok(worker) = &found
            && done(worker)
        {
            return worker.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting; worker is {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An operator on another backend handle (as on another host) sees the
/// worker, pauses it (it stops claiming, its running task goes on),
/// resumes it, and shuts it down gracefully (its running task finishes).
pub async fn worker_is_paused_resumed_and_stopped_from_another_handle(
    backend: Arc<dyn Backend>,
    other: Arc<dyn Backend>,
) {
    let client = Client::new(backend).unwrap();
    let operator = Client::new(other).unwrap();
    let id = unique("steered");
    let worker = fast_worker(&client)
        .worker_id(&id)
        .shutdown_grace(Duration::from_secs(10))
        .build()
        .unwrap();
    let join = tokio::spawn(worker.run());
    let slow = |ms| Sleep {
        ms,
        cooperative: false,
    };

    let listed = wait_worker(&operator, &id, |_| true).await;
    assert_eq!(listed.state, WorkerState::Running);
    assert_eq!(listed.pid, std::process::id());
    assert!(!listed.host.is_empty());
    assert_eq!(
        listed.queues,
        [WorkerQueue {
            name: "default".into(),
            concurrency: 4
        }]
    );
    assert!(operator.workers().await.unwrap().iter().any(|w| w.id == id));

    let long = client.submit(sleeper, slow(1_000)).await.unwrap();
    wait_worker(&operator, &id, |w| w.in_flight.contains(&long)).await;
    let asked = operator
        .control_worker(&id, WorkerControl::Pause)
        .await
        .unwrap();
    assert_eq!(asked.requested, Some(WorkerState::Paused));
    wait_worker(&operator, &id, |w| w.state == WorkerState::Paused).await;
    let waiting = client
        .submit(
            echo,
            Echo {
                text: "later".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    // Paused: the running task finishes, the new one is not claimed.
    let long_done = wait_terminal(&operator, long).await;
    assert_eq!(long_done.state, TaskState::Finished);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        operator.get(waiting).await.unwrap().state,
        TaskState::Pending
    );

    operator
        .control_worker(&id, WorkerControl::Resume)
        .await
        .unwrap();
    assert_eq!(
        wait_terminal(&operator, waiting).await.state,
        TaskState::Finished
    );
    wait_worker(&operator, &id, |w| w.state == WorkerState::Running).await;

    // Graceful shutdown: the running task completes, then the worker leaves.
    let last = client.submit(sleeper, slow(600)).await.unwrap();
    wait_for(&operator, last, |r| r.state == TaskState::Running).await;
    operator
        .control_worker(&id, WorkerControl::Shutdown)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(15), join)
        .await
        .expect("the worker stops")
        .expect("join")
        .expect("run");
    assert_eq!(operator.get(last).await.unwrap().state, TaskState::Finished);
    assert!(matches!(
        operator.worker(&id).await,
        Err(taskq::Error::WorkerNotFound(_))
    ));
}

/// On backends that announce controls (memory, Redis, SQL records with
/// Redis delivery), a worker learns of one at once: here its heartbeat is
/// a minute away, so only the announcement can make it pause within the
/// test.
pub async fn control_is_announced_between_heartbeats(
    backend: Arc<dyn Backend>,
    other: Arc<dyn Backend>,
) {
    let client = Client::new(backend).unwrap();
    let operator = Client::new(other).unwrap();
    let id = unique("announced");
    let worker = fast_worker(&client)
        .worker_id(&id)
        .heartbeat_interval(Duration::from_secs(60))
        .lease(Duration::from_secs(120))
        .build()
        .unwrap();
    let stop = spawn(worker);
    wait_worker(&operator, &id, |w| w.state == WorkerState::Running).await;
    operator
        .control_worker(&id, WorkerControl::Pause)
        .await
        .unwrap();
    wait_worker(&operator, &id, |w| w.state == WorkerState::Paused).await;
    operator
        .control_worker(&id, WorkerControl::Resume)
        .await
        .unwrap();
    wait_worker(&operator, &id, |w| w.state == WorkerState::Running).await;
    stop().await;
}

/// `pair_suite!(#[attr]… name, factory)`: the tests that take two handles
/// on one store; `, announced` adds the test of a backend that announces
/// worker controls. The attributes (an `ignore` when the server is not
/// configured) go on each test.
macro_rules! pair_suite {
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        pair_suite!(@mod [$(#[$attr])*] $name, $factory;
            worker_is_paused_resumed_and_stopped_from_another_handle);
    };
    ($(#[$attr:meta])* $name:ident, $factory:expr, announced) => {
        pair_suite!(@mod [$(#[$attr])*] $name, $factory;
            worker_is_paused_resumed_and_stopped_from_another_handle,
            control_is_announced_between_heartbeats);
    };
    (@mod [$($attr:tt)*] $name:ident, $factory:expr; $($test:ident),*) => {
        mod $name {
            use super::*;
            pair_suite!(@tests [$($attr)*] $factory; $($test),*);
        }
    };
    (@tests [$($attr:tt)*] $factory:expr;) => {};
    (@tests [$($attr:tt)*] $factory:expr; $test:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $test() {
            let factory = $factory;
            let (backend, other) = factory().await;
            super::super::$test(backend, other).await;
        }
        pair_suite!(@tests [$($attr)*] $factory; $($rest),*);
    };
}

/// `cargo test worker_control::` runs the worker-control tests alone.
mod worker_control {
    use super::*;

    pair_suite!(memory, common::memory_pair, announced);

    #[cfg(feature = "sqlite")]
    pair_suite!(sqlite, || common::sqlite_pair("taskq-worker-control"));

    #[cfg(feature = "redis")]
    pair_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        || common::redis_pair("taskq-worker-control"),
        announced
    );

    #[cfg(feature = "redis")]
    pair_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster,
        || common::redis_cluster_pair("taskq-worker-control"),
        announced
    );

    #[cfg(all(feature = "redis", feature = "sqlite"))]
    pair_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis_sqlite,
        || common::redis_sqlite_pair("taskq-worker-control"),
        announced
    );

    #[cfg(feature = "postgres")]
    pair_suite!(
        #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
        postgres,
        common::postgres_pair
    );

    #[cfg(feature = "mysql")]
    pair_suite!(
        #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
        mysql,
        common::mysql_pair
    );
}

/// `worker_suite!(#[attr]… name, factory)`: every end-to-end test on one
/// backend; the attributes (an `ignore` when the server is not
/// configured) go on each test.
macro_rules! worker_suite {
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        mod $name {
            use super::*;
            worker_suite!(@tests [$(#[$attr])*] $factory;
                typed_submit_runs_to_finished, submit_by_name_validates,
                retryable_errors_retry_with_backoff, permanent_errors_and_panics_fail,
                hard_and_soft_timeouts, cancel_pending_and_running,
                progress_is_readable_while_running, eta_and_countdown_are_respected,
                priorities_and_reorder_decide_order, paused_queue_waits_for_resume,
                retry_reruns_failed_task_with_same_id, shutdown_releases_unfinished_tasks,
                dead_worker_tasks_are_rescued, retention_prunes_old_records,
                client_errors_change_nothing, slow_handler_does_not_hold_back_its_batch);
        }
    };
    (@tests [$($attr:tt)*] $factory:expr;) => {};
    // One test per step: the attributes repeat inside each test.
    (@tests [$($attr:tt)*] $factory:expr; $test:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $test() {
            let factory = $factory;
            super::super::$test(factory().await as Arc<dyn Backend>).await;
        }
        worker_suite!(@tests [$($attr)*] $factory; $($rest),*);
    };
}

/// `cargo test worker::memory::` (or `sqlite`, `redis`, …) runs one backend.
mod worker {
    use super::*;

    worker_suite!(memory, common::memory);

    #[cfg(feature = "sqlite")]
    worker_suite!(sqlite, || common::sqlite("taskq-worker-test"));

    #[cfg(feature = "redis")]
    worker_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        || common::redis("taskq-worker-test")
    );

    #[cfg(feature = "redis")]
    worker_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster,
        || common::redis_cluster("taskq-worker-test")
    );

    #[cfg(all(feature = "redis", feature = "sqlite"))]
    worker_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis_sqlite,
        || common::redis_sqlite("taskq-worker-test")
    );

    #[cfg(all(feature = "redis", feature = "sqlite"))]
    worker_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster_sqlite,
        || common::redis_cluster_sqlite("taskq-worker-test")
    );

    #[cfg(feature = "postgres")]
    worker_suite!(
        #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
        postgres,
        common::postgres
    );

    #[cfg(feature = "mysql")]
    worker_suite!(
        #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
        mysql,
        common::mysql
    );
}

/// Given alone, `soft_timeout` is checked against the default hard timeout
/// at compile time (`tests/ui/fail/option_conflicts.rs`) and keeps it.
#[long_task(soft_timeout = 30)]
async fn soft_only(_p: ()) -> Result<(), TaskError> {
    Ok(())
}

#[test]
fn soft_timeout_alone_keeps_the_default_hard_timeout() {
    let registry = taskq::registry::Registry::from_inventory().unwrap();
    let options = &registry.get("soft_only").unwrap().options;
    assert_eq!(options.soft_timeout, Some(Duration::from_secs(30)));
    assert_eq!(options.timeout, taskq::TaskOptions::DEFAULT.timeout);
}
