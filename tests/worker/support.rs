//! The test tasks and the worker helpers the end-to-end tests share.

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Echo {
    pub(super) text: String,
    #[serde(default)]
    pub(super) times: u32,
}

/// Returns its text repeated.
/// Retries (when a submission allows them, as after a rescue) follow fast.
#[long_task(retries = 0, retry_delay = 0.01)]
pub(super) async fn echo(p: Echo) -> Result<String, TaskError> {
    Ok(p.text.repeat(p.times.max(1) as usize))
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Flaky {
    pub(super) key: String,
    pub(super) failures: u32,
}

/// Per key: when each attempt started and, for a failed one, when it
/// returned its error.
#[derive(Debug, Default)]
pub(super) struct Runs {
    pub(super) started: Vec<Instant>,
    pub(super) failed: Vec<Instant>,
}

pub(super) static ATTEMPTS: LazyLock<Mutex<HashMap<String, Runs>>> =
    LazyLock::new(Default::default);

pub(super) fn count_attempt(key: &str) -> u32 {
    let mut attempts = ATTEMPTS.lock().unwrap();
    let runs = attempts.entry(key.to_owned()).or_default();
    runs.started.push(Instant::now());
    runs.started.len() as u32
}

pub(super) fn count_failure(key: &str) {
    let mut attempts = ATTEMPTS.lock().unwrap();
    attempts
        .entry(key.to_owned())
        .or_default()
        .failed
        .push(Instant::now());
}

/// `flaky`'s first retry delay; each next one doubles.
pub(super) const FLAKY_RETRY_DELAY: Duration = Duration::from_millis(300);

#[long_task(retries = 2, retry_delay = 0.3, backoff = 2.0, jitter = 0.0)]
pub(super) async fn flaky(ctx: TaskContext, p: Flaky) -> Result<u32, TaskError> {
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
pub(super) async fn permanent(_p: Flaky) -> Result<(), TaskError> {
    Err(TaskError::permanent("the input can never work"))
}

#[long_task(retries = 0)]
pub(super) async fn panics(p: Echo) -> Result<(), TaskError> {
    panic!("boom: {}", p.text);
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Sleep {
    pub(super) ms: u64,
    /// Stop early when the context is cancelled.
    pub(super) cooperative: bool,
}

#[long_task(retries = 0)]
pub(super) async fn sleeper(ctx: TaskContext, p: Sleep) -> Result<String, TaskError> {
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
pub(super) struct Steps {
    pub(super) steps: u32,
    pub(super) step_ms: u64,
}

#[long_task(retries = 0)]
pub(super) async fn stepper(ctx: TaskContext, p: Steps) -> Result<u32, TaskError> {
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

pub(super) static ORDER: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Default::default);

#[long_task(queue = "ordered", retries = 0)]
pub(super) async fn record_order(p: Echo) -> Result<(), TaskError> {
    ORDER.lock().unwrap().push(p.text);
    Ok(())
}

/// A worker with fast timings, for tests.
pub(super) fn fast_worker(client: &Client) -> WorkerBuilder {
    Worker::builder(client)
        .queue("default", 4)
        .poll_interval(Duration::from_millis(20))
        .heartbeat_interval(Duration::from_millis(50))
        .lease(Duration::from_secs(5))
        .cancel_grace(Duration::from_millis(200))
        .shutdown_grace(Duration::from_millis(300))
}

/// Runs `worker` in the background; returns a stop-and-join closure.
pub(super) fn spawn(worker: Worker) -> impl AsyncFnOnce() {
    let handle = worker.shutdown_handle();
    let join = tokio::spawn(worker.run());
    async move || {
        handle.shutdown();
        join.await.expect("worker task").expect("worker run");
    }
}

pub(super) async fn wait_for(
    client: &Client,
    id: TaskId,
    done: impl Fn(&TaskRecord) -> bool,
) -> TaskRecord {
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

pub(super) async fn wait_terminal(client: &Client, id: TaskId) -> TaskRecord {
    wait_for(client, id, |r| r.state.is_terminal()).await
}

/// Polls the registry through `operator` until the worker matches.
pub(super) async fn wait_worker(
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
