//! The executor: claims tasks for free slots, runs handlers under timeouts
//! and cancellation, renews leases, and reports outcomes in batches.
//!
//! One worker runs four loops: the dispatcher (claims), the heartbeat
//! (leases and cancel requests, and the worker's own entry in the
//! [`WorkerRegistry`](crate::WorkerRegistry), through which operators pause,
//! resume and stop it), the completer (batched settlements), and the
//! maintenance services (rescuer, pruner, scheduler). Each attempt runs in
//! its own tokio task inside a `tracing` span.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::futures::OwnedNotified;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, warn};

use crate::backend::{
    Backend, ClaimRequest, LeaseStatus, Outcome, Settlement, WorkerInfo, WorkerQueue, WorkerState,
};
use crate::client::Client;
use crate::context::{Control, StopReason, TaskContext};
use crate::error::{Error, TaskError};
use crate::lifecycle::{self, RetryPolicy};
use crate::maintenance::{self, MaintenanceConfig};
use crate::registry::{HandlerFuture, Registry};
use crate::task::{ErrorKind, IdMap, TaskFailure, TaskId, TaskRecord};

/// How long a claimed task's lease lasts without renewal. A worker that
/// dies is noticed this long after its last heartbeat.
pub const LEASE_DEFAULT: Duration = Duration::from_secs(30);
/// How often a worker renews its leases, learns of cancel requests and
/// control requests (pause, resume, shutdown), and reports itself.
pub const HEARTBEAT_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);
/// How often an idle worker looks for work it was not signalled about
/// (other processes' submissions, ETAs coming due).
pub const POLL_INTERVAL_DEFAULT: Duration = Duration::from_millis(500);
/// How long a cancelled handler has to return before it is aborted.
pub const CANCEL_GRACE_DEFAULT: Duration = Duration::from_secs(5);
/// How long shutdown waits for in-flight tasks before releasing them.
pub const SHUTDOWN_GRACE_DEFAULT: Duration = Duration::from_secs(30);
/// Most tasks one claim call takes.
const CLAIM_BATCH_MAX: usize = 1000;
/// Most settlements one backend call carries.
const SETTLE_BATCH_MAX: usize = 1000;

/// Settings of a [`Worker`], with the defaults above.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub lease: Duration,
    pub heartbeat_interval: Duration,
    pub poll_interval: Duration,
    pub cancel_grace: Duration,
    pub shutdown_grace: Duration,
    pub maintenance: MaintenanceConfig,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: LEASE_DEFAULT,
            heartbeat_interval: HEARTBEAT_INTERVAL_DEFAULT,
            poll_interval: POLL_INTERVAL_DEFAULT,
            cancel_grace: CANCEL_GRACE_DEFAULT,
            shutdown_grace: SHUTDOWN_GRACE_DEFAULT,
            maintenance: MaintenanceConfig::default(),
        }
    }
}

/// Builds a [`Worker`]: `celery worker -Q default,heavy --concurrency=4`
/// becomes `.queue("default", 4).queue("heavy", 4)`.
///
/// ```no_run
/// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
/// let worker = taskq_core::Worker::builder(&client)
///     .queue("default", 4)
///     .queue("heavy", 1)
///     .build()?;
/// worker.run_until(tokio::signal::ctrl_c()).await
/// # }
/// ```
#[derive(Debug)]
pub struct WorkerBuilder {
    client: Client,
    queues: Vec<(String, usize)>,
    config: WorkerConfig,
    worker_id: Option<String>,
}

impl WorkerBuilder {
    /// Serves `queue` with up to `concurrency` tasks at once.
    pub fn queue(mut self, queue: impl Into<String>, concurrency: usize) -> Self {
        self.queues.push((queue.into(), concurrency));
        self
    }

    pub fn config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    /// Names this worker in records and logs (default: host, pid, random).
    pub fn worker_id(mut self, worker_id: impl Into<String>) -> Self {
        self.worker_id = Some(worker_id.into());
        self
    }

    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self
    }

    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.config.cancel_grace = grace;
        self
    }

    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    pub fn maintenance(mut self, maintenance: MaintenanceConfig) -> Self {
        self.config.maintenance = maintenance;
        self
    }

    /// Checks the settings: at least one queue, each once, concurrency ≥ 1,
    /// heartbeats more frequent than the lease; and the params of the
    /// schedules declared in code (`#[long_task(params = …)]`) against
    /// their tasks' params types, so a bad one stops the worker at startup
    /// with an [`Error::InvalidParams`] naming the task.
    pub fn build(self) -> Result<Worker, Error> {
        crate::schedule::StaticSchedule::all(self.client.registry())?;
        if self.queues.is_empty() {
            return Err(Error::InvalidArgument(
                "a worker needs at least one queue".into(),
            ));
        }
        for (i, (name, concurrency)) in self.queues.iter().enumerate() {
            if name.is_empty() || *concurrency == 0 {
                return Err(Error::InvalidArgument(format!(
                    "queue `{name}` needs a name and a concurrency of at least 1"
                )));
            }
            if self.queues[..i].iter().any(|(other, _)| other == name) {
                return Err(Error::InvalidArgument(format!(
                    "queue `{name}` is listed twice"
                )));
            }
        }
        if self.config.heartbeat_interval >= self.config.lease {
            return Err(Error::InvalidArgument(
                "heartbeat_interval must be shorter than the lease".into(),
            ));
        }
        let (settle_tx, settle_rx) = mpsc::unbounded_channel();
        let host = host_name();
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared {
            backend: self.client.backend().clone(),
            registry: self.client.registry().clone(),
            worker_id: self.worker_id.unwrap_or_else(|| default_worker_id(&host)),
            host,
            started_at: Utc::now(),
            queues: self
                .queues
                .iter()
                .map(|(name, concurrency)| WorkerQueue {
                    name: name.clone(),
                    concurrency: u32::try_from(*concurrency).unwrap_or(u32::MAX),
                })
                .collect(),
            config: self.config,
            in_flight: Mutex::new(IdMap::default()),
            slot_freed: Notify::new(),
            settle_tx,
            paused: watch::Sender::new(false),
            claiming: tokio::sync::Mutex::new(()),
            shutdown: shutdown.clone(),
        });
        let queues = self
            .queues
            .into_iter()
            .map(|(name, concurrency)| QueueSlots {
                name,
                concurrency,
                slots: Arc::new(Semaphore::new(concurrency)),
            })
            .collect();
        Ok(Worker {
            shared,
            queues,
            settle_rx,
            shutdown,
        })
    }
}

/// Runs tasks from one or more queues until shut down.
pub struct Worker {
    shared: Arc<Shared>,
    queues: Vec<QueueSlots>,
    settle_rx: mpsc::UnboundedReceiver<Settlement>,
    shutdown: CancellationToken,
}

/// Stops a running [`Worker`] gracefully from anywhere.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    /// Stops claiming; in-flight tasks get the shutdown grace period.
    pub fn shutdown(&self) {
        self.0.cancel();
    }
}

struct QueueSlots {
    name: String,
    concurrency: usize,
    slots: Arc<Semaphore>,
}

struct Shared {
    backend: Arc<dyn Backend>,
    registry: Arc<Registry>,
    worker_id: String,
    host: String,
    started_at: DateTime<Utc>,
    queues: Vec<WorkerQueue>,
    config: WorkerConfig,
    /// Attempts this worker holds, until their settlement is stored.
    in_flight: Mutex<IdMap<InFlight>>,
    slot_freed: Notify,
    settle_tx: mpsc::UnboundedSender<Settlement>,
    /// Set while an operator has the worker paused: the dispatcher waits.
    paused: watch::Sender<bool>,
    /// Held by the dispatcher while it claims, so a pause can wait for a
    /// claim in progress before it reports the worker paused.
    claiming: tokio::sync::Mutex<()>,
    /// The worker's shutdown (also reached through [`ShutdownHandle`]).
    shutdown: CancellationToken,
}

impl Shared {
    fn in_flight(&self) -> MutexGuard<'_, IdMap<InFlight>> {
        self.in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn state(&self) -> WorkerState {
        if self.shutdown.is_cancelled() {
            WorkerState::Stopping
        } else if *self.paused.borrow() {
            WorkerState::Paused
        } else {
            WorkerState::Running
        }
    }

    /// This worker's entry for the registry, as of now.
    fn report(&self) -> WorkerInfo {
        let (in_flight_count, in_flight) = {
            let in_flight = self.in_flight();
            let ids = in_flight
                .keys()
                .take(WorkerInfo::IN_FLIGHT_IDS_MAX)
                .copied()
                .collect();
            (in_flight.len() as u64, ids)
        };
        let now = Utc::now();
        let lease = chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::MAX);
        WorkerInfo {
            id: self.worker_id.clone(),
            host: self.host.clone(),
            pid: std::process::id(),
            queues: self.queues.clone(),
            in_flight_count,
            in_flight,
            state: self.state(),
            requested: None,
            started_at: self.started_at,
            heartbeat_at: now,
            expires_at: now.checked_add_signed(lease).unwrap_or(now),
        }
    }
}

struct InFlight {
    attempt: u32,
    ctx: TaskContext,
    /// The lease as this worker last renewed it.
    lease_deadline: Instant,
}

/// A running handler, with its panics caught.
type AttemptFuture = futures_util::future::CatchUnwind<AssertUnwindSafe<HandlerFuture>>;

/// A claimed task, ready to run: the record's parts the attempt needs.
struct Attempt {
    ctx: TaskContext,
    params: Value,
    timeout: Option<Duration>,
    soft_timeout: Option<Duration>,
}

/// How an attempt ended, before it becomes a settlement.
enum AttemptEnd {
    Returned(Result<serde_json::Value, TaskError>),
    TimedOut(Duration),
    CancelGraceExpired,
    Abandoned,
}

impl Worker {
    /// Starts building a worker for the client's backend and tasks.
    pub fn builder(client: &Client) -> WorkerBuilder {
        WorkerBuilder {
            client: client.clone(),
            queues: Vec::new(),
            config: WorkerConfig::default(),
            worker_id: None,
        }
    }

    pub fn id(&self) -> &str {
        &self.shared.worker_id
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Runs until `signal` completes (e.g. `tokio::signal::ctrl_c()`), then
    /// shuts down gracefully.
    pub async fn run_until<F: Future>(self, signal: F) -> Result<(), Error> {
        let shutdown = self.shutdown.clone();
        let run = self.run();
        tokio::pin!(run);
        tokio::select! {
            result = &mut run => return result,
            _ = signal => shutdown.cancel(),
        }
        run.await
    }

    /// Runs until [`ShutdownHandle::shutdown`] is called.
    pub async fn run(self) -> Result<(), Error> {
        let Worker {
            shared,
            queues,
            settle_rx,
            shutdown,
        } = self;
        info!(
            worker = %shared.worker_id,
            queues = ?queues.iter().map(|q| (&q.name, q.slots.available_permits())).collect::<Vec<_>>(),
            "worker started"
        );
        // Listening before registering: a control made as soon as the
        // worker is listed still wakes it.
        let control = shared.backend.control_signal().unwrap_or_default();
        let requested = listen(&control);
        if let Err(err) = shared.backend.register_worker(&shared.report()).await {
            warn!(error = %err, "could not register the worker; the heartbeat will retry");
        }
        let stop_helpers = CancellationToken::new();
        let completer = tokio::spawn(completer(shared.clone(), settle_rx));
        let heartbeat = tokio::spawn(heartbeat(
            shared.clone(),
            stop_helpers.clone(),
            control,
            requested,
        ));
        let maintenance = tokio::spawn(maintenance::run(
            Client::from_parts(shared.backend.clone(), shared.registry.clone()),
            shared.config.maintenance.clone(),
            stop_helpers.clone(),
        ));

        dispatch(&shared, &queues, &shutdown).await;
        drain(&shared, &queues).await;

        stop_helpers.cancel();
        // The completer ends once every sender is gone: the running
        // attempts' copies went with them, this is the last one.
        let backend = shared.backend.clone();
        let worker_id = shared.worker_id.clone();
        drop(shared);
        let _ = heartbeat.await;
        let _ = maintenance.await;
        let _ = completer.await;
        // After the heartbeat ended, so no late beat stores it again.
        if let Err(err) = backend.deregister_worker(&worker_id).await {
            warn!(error = %err, "could not deregister the worker; it will show as gone");
        }
        drop(backend);
        info!(worker = %worker_id, "worker stopped");
        Ok(())
    }
}

/// Claims work for free slots until shutdown.
async fn dispatch(shared: &Arc<Shared>, queues: &[QueueSlots], shutdown: &CancellationToken) {
    let signal = shared.backend.work_signal().unwrap_or_default();
    let poll = sleep(shared.config.poll_interval);
    tokio::pin!(poll);
    let mut failures = 0u32;
    let mut paused = shared.paused.subscribe();
    while !shutdown.is_cancelled() {
        if *paused.borrow_and_update() {
            tokio::select! {
                _ = paused.wait_for(|paused| !*paused) => {}
                _ = shutdown.cancelled() => {}
            }
            continue;
        }
        // Listen before claiming, so a submission made while the claim
        // runs still wakes us.
        let work = signal.notified();
        let slot = shared.slot_freed.notified();
        tokio::pin!(work, slot);
        work.as_mut().enable();
        slot.as_mut().enable();

        let mut claim_failed = false;
        // A queue that gave fewer tasks than asked may be empty: poll it
        // for ETAs coming due and other processes' submissions.
        let mut some_queue_idle = false;
        // A queue that filled a whole claim batch and still has free slots.
        let mut claim_again = false;
        let claiming = shared.claiming.lock().await;
        if *shared.paused.borrow() {
            continue;
        }
        for queue in queues {
            let free = queue.slots.available_permits().min(CLAIM_BATCH_MAX);
            if free == 0 {
                continue;
            }
            // The store's leases run from the request's `now`: so do ours.
            let lease_deadline = Instant::now() + shared.config.lease;
            let request = ClaimRequest {
                queue: &queue.name,
                limit: free,
                worker_id: &shared.worker_id,
                lease: shared.config.lease,
                now: Utc::now(),
            };
            match shared.backend.claim(request).await {
                Ok(tasks) => {
                    some_queue_idle |= tasks.len() < free;
                    start_attempts(shared, queue, tasks, lease_deadline);
                    claim_again |= queue.slots.available_permits() > 0 && !some_queue_idle;
                }
                Err(err) => {
                    claim_failed = true;
                    warn!(queue = %queue.name, error = %err, "claim failed");
                }
            }
        }
        drop(claiming);
        if claim_failed {
            failures += 1;
            let backoff = retry_backoff(failures);
            tokio::select! {
                _ = sleep(backoff) => {}
                _ = shutdown.cancelled() => {}
            }
            continue;
        }
        failures = 0;
        if claim_again {
            continue;
        }
        if some_queue_idle {
            poll.as_mut()
                .reset(Instant::now() + shared.config.poll_interval);
            tokio::select! {
                _ = &mut work => {}
                _ = &mut slot => {}
                _ = &mut poll => {}
                _ = shutdown.cancelled() => {}
            }
        } else {
            // Every queue is busy: only a freed slot matters. Yielding once
            // lets attempts finishing right now free theirs too, so the next
            // claim takes them in one batch instead of one call each.
            tokio::select! {
                _ = &mut slot => {}
                _ = shutdown.cancelled() => {}
            }
            tokio::task::yield_now().await;
        }
    }
}

/// Waits for in-flight attempts up to the shutdown grace, then releases
/// the rest back to `PENDING`.
async fn drain(shared: &Arc<Shared>, queues: &[QueueSlots]) {
    let deadline = Instant::now() + shared.config.shutdown_grace;
    let idle = || {
        queues
            .iter()
            .all(|q| q.slots.available_permits() == q.concurrency)
    };
    while !idle() && Instant::now() < deadline {
        let slot = shared.slot_freed.notified();
        tokio::select! {
            _ = slot => {}
            _ = sleep(Duration::from_millis(50)) => {}
        }
    }
    if idle() {
        return;
    }
    // Not the ended attempts: their outcomes are on their way to the
    // store, and releasing them would run them again.
    let abandoned: Vec<(TaskId, u32)> = {
        let in_flight = shared.in_flight();
        in_flight
            .iter()
            .filter(|(_, f)| !f.ctx.control().has_ended())
            .map(|(id, f)| {
                f.ctx.stop(StopReason::Shutdown);
                f.ctx.control().abandon();
                (*id, f.attempt)
            })
            .collect()
    };
    // Let the aborted attempts drop their slots before releasing them (a
    // handler stuck in blocking code cannot be dropped: do not wait forever).
    let deadline = Instant::now() + shared.config.cancel_grace;
    while !idle() && Instant::now() < deadline {
        tokio::select! {
            _ = shared.slot_freed.notified() => {}
            _ = sleep(Duration::from_millis(20)) => {}
        }
    }
    match shared.backend.release(&shared.worker_id, &abandoned).await {
        Ok(()) => info!(count = abandoned.len(), "released unfinished tasks"),
        Err(err) => warn!(error = %err, "could not release tasks; their leases will expire"),
    }
    shared
        .in_flight()
        .retain(|id, _| !abandoned.iter().any(|(a, _)| a == id));
}

/// Registers claimed tasks as in flight (one lock for the batch) and
/// starts one tokio task per attempt.
fn start_attempts(
    shared: &Arc<Shared>,
    queue: &QueueSlots,
    tasks: Vec<TaskRecord>,
    lease_deadline: Instant,
) {
    if tasks.is_empty() {
        return;
    }
    let mut started = Vec::with_capacity(tasks.len());
    {
        let mut in_flight = shared.in_flight();
        for record in tasks {
            // Cannot fail: we asked for at most the free slots and only
            // the dispatcher takes permits.
            let Ok(permit) = queue.slots.clone().try_acquire_owned() else {
                break;
            };
            let attempt = Attempt {
                ctx: TaskContext::for_attempt(
                    record.id,
                    record.task_type,
                    record.queue,
                    record.attempt,
                    record.max_retries,
                    Some(shared.backend.clone()),
                ),
                params: record.params,
                timeout: record.timeout,
                soft_timeout: record.soft_timeout,
            };
            in_flight.insert(
                record.id,
                InFlight {
                    attempt: record.attempt,
                    ctx: attempt.ctx.clone(),
                    lease_deadline,
                },
            );
            started.push((attempt, permit));
        }
    }
    tokio::spawn(run_batch(shared.clone(), started));
}

/// Runs a claimed batch. Each handler is polled once here, in its span;
/// only those still running after that get a tokio task of their own,
/// with timers. Most short handlers finish at their first poll, so a batch
/// of them costs one spawn instead of one each.
///
/// A handler that blocks its thread in its first poll delays the rest of
/// its batch — as it would delay every task on that thread anyway.
async fn run_batch(shared: Arc<Shared>, batch: Vec<(Attempt, OwnedSemaphorePermit)>) {
    for (attempt, permit) in batch {
        let Attempt {
            ctx,
            params,
            timeout,
            soft_timeout,
        } = attempt;
        let span = tracing::info_span!(
            "task",
            id = %ctx.id(),
            task_type = %ctx.task_type(),
            attempt = ctx.attempt(),
            queue = %ctx.queue(),
        );
        let Some(def) = shared.registry.get(ctx.task_type()) else {
            let error = TaskError::new(
                ErrorKind::UnknownTask,
                format!(
                    "no handler for `{}` in worker {}",
                    ctx.task_type(),
                    shared.worker_id
                ),
            );
            span.in_scope(|| finish(&shared, &ctx, AttemptEnd::Returned(Err(error)), permit));
            continue;
        };
        let mut running = AssertUnwindSafe((def.handler)(ctx.clone(), params)).catch_unwind();
        // Unconstrained: the batch's earlier handlers must not spend this
        // one's share of tokio's cooperative budget.
        let first = std::future::poll_fn(|cx| {
            Poll::Ready(span.in_scope(|| tokio::task::unconstrained(&mut running).poll_unpin(cx)))
        })
        .await;
        match first {
            Poll::Ready(result) => {
                let end =
                    AttemptEnd::Returned(result.unwrap_or_else(|panic| Err(panic_error(panic))));
                span.in_scope(|| finish(&shared, &ctx, end, permit));
            }
            Poll::Pending => {
                let shared = shared.clone();
                tokio::spawn(
                    async move {
                        let end = supervise(&shared, &ctx, running, timeout, soft_timeout).await;
                        finish(&shared, &ctx, end, permit);
                    }
                    .instrument(span),
                );
            }
        }
    }
}

/// Frees the attempt's slot and hands its outcome to the completer.
fn finish(shared: &Shared, ctx: &TaskContext, end: AttemptEnd, permit: OwnedSemaphorePermit) {
    drop(permit);
    shared.slot_freed.notify_one();
    match settlement_for(shared, ctx, end) {
        // The completer outlives every attempt; a send error would only
        // mean the worker is gone.
        Some(settlement) => {
            ctx.control().end();
            let _ = shared.settle_tx.send(settlement);
        }
        None => {
            shared.in_flight().remove(&ctx.id());
        }
    }
}

/// Drives a handler that did not finish at once, under its soft and hard
/// timeouts and the worker's cancel and abandon instructions.
async fn supervise(
    shared: &Shared,
    ctx: &TaskContext,
    mut attempt: AttemptFuture,
    timeout: Option<Duration>,
    soft_timeout: Option<Duration>,
) -> AttemptEnd {
    let started = Instant::now();
    let hard = timeout.map(|t| started + t);
    let mut soft = soft_timeout.map(|t| started + t);
    let mut grace: Option<Instant> = None;
    let control = ctx.control();
    loop {
        // Created each round: a change made in between left a permit.
        let changed = control.changed.notified();
        tokio::select! {
            result = &mut attempt => {
                return AttemptEnd::Returned(result.unwrap_or_else(|panic| Err(panic_error(panic))));
            }
            _ = sleep_until(soft.unwrap_or(started)), if soft.is_some() => {
                soft = None;
                ctx.stop(StopReason::SoftTimeout);
            }
            _ = sleep_until(hard.unwrap_or(started)), if hard.is_some() => {
                return AttemptEnd::TimedOut(timeout.unwrap_or_default());
            }
            _ = sleep_until(grace.unwrap_or(started)), if grace.is_some() => {
                return AttemptEnd::CancelGraceExpired;
            }
            _ = changed => {
                match control.get() {
                    Control::Run => {}
                    Control::Cancel => {
                        if grace.is_none() {
                            grace = Some(Instant::now() + shared.config.cancel_grace);
                        }
                    }
                    Control::Abandon => return AttemptEnd::Abandoned,
                }
            }
        }
    }
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> TaskError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned());
    TaskError::new(ErrorKind::Panic, format!("handler panicked: {message}"))
}

/// Turns an attempt's end into what the store should record.
fn settlement_for(shared: &Shared, ctx: &TaskContext, end: AttemptEnd) -> Option<Settlement> {
    let at = Utc::now();
    let cancel_requested = ctx.control().get() == Control::Cancel;
    let outcome = match end {
        AttemptEnd::Abandoned => return None,
        AttemptEnd::Returned(Ok(value)) => Outcome::Finished(value),
        AttemptEnd::CancelGraceExpired => Outcome::Cancelled(TaskFailure {
            kind: ErrorKind::Cancelled,
            message: format!(
                "cancelled; aborted after a grace of {:?}",
                shared.config.cancel_grace
            ),
        }),
        AttemptEnd::TimedOut(limit) => Outcome::Failed(TaskFailure {
            kind: ErrorKind::Timeout,
            message: format!("exceeded the hard timeout of {limit:?}"),
        }),
        AttemptEnd::Returned(Err(error)) => {
            let policy = shared
                .registry
                .get(ctx.task_type())
                .map(|def| RetryPolicy::of(&def.options));
            lifecycle::after_error(
                error.into_failure(),
                ctx.attempt(),
                ctx.max_retries(),
                cancel_requested,
                policy.as_ref(),
                at,
            )
        }
    };
    match &outcome {
        Outcome::Finished(_) => debug!("task finished"),
        Outcome::Retry { error, run_at } => {
            info!(kind = %error.kind, message = %error.message, %run_at, "attempt failed; retry scheduled")
        }
        Outcome::Failed(error) => {
            warn!(kind = %error.kind, message = %error.message, "task failed")
        }
        Outcome::Cancelled(_) => info!("task cancelled"),
    }
    Some(Settlement {
        id: ctx.id(),
        attempt: ctx.attempt(),
        outcome,
        at,
    })
}

/// Stores settlements in batches; keeps retrying through backend outages.
async fn completer(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Settlement>) {
    // Holding `shared` would keep a sender alive: keep only what we need.
    let backend = shared.backend.clone();
    let weak = Arc::downgrade(&shared);
    drop(shared);
    let mut batch = Vec::with_capacity(SETTLE_BATCH_MAX);
    while rx.recv_many(&mut batch, SETTLE_BATCH_MAX).await > 0 {
        let mut failures = 0;
        let applied = loop {
            match backend.settle(batch.clone()).await {
                Ok(applied) => break applied,
                Err(err) => {
                    failures += 1;
                    warn!(error = %err, pending = batch.len(), "storing outcomes failed; retrying");
                    sleep(retry_backoff(failures)).await;
                }
            }
        };
        for (settlement, applied) in batch.iter().zip(&applied) {
            if !applied {
                warn!(id = %settlement.id, attempt = settlement.attempt, "outcome of a stale attempt rejected");
            }
        }
        if let Some(shared) = weak.upgrade() {
            let mut in_flight = shared.in_flight();
            for settlement in &batch {
                if in_flight
                    .get(&settlement.id)
                    .is_some_and(|f| f.attempt == settlement.attempt)
                {
                    in_flight.remove(&settlement.id);
                }
            }
        }
        batch.clear();
    }
}

/// Each interval: renews leases, delivers cancel requests, abandons
/// attempts whose lease this worker could not renew in time, and reports
/// the worker to the registry, obeying what an operator requested.
///
/// A cancel request renews the leases at once (that delivers it); a control
/// request makes the worker report at once; neither moves the regular pace.
async fn heartbeat(
    shared: Arc<Shared>,
    stop: CancellationToken,
    control: Arc<Notify>,
    mut control_requested: Pin<Box<OwnedNotified>>,
) {
    let cancel_signal = shared.backend.cancel_signal().unwrap_or_default();
    let mut next = Instant::now() + shared.config.heartbeat_interval;
    let mut cancel_requested = Box::pin(cancel_signal.notified());
    loop {
        cancel_requested.as_mut().enable();
        // `beat`: the regular interval (leases and the worker's report);
        // otherwise a cancel request, which only needs the leases renewed
        // (that delivers it) and leaves the pace alone.
        let beat = tokio::select! {
            _ = sleep_until(next) => {
                next = Instant::now() + shared.config.heartbeat_interval;
                true
            }
            _ = &mut cancel_requested => false,
            _ = &mut control_requested => {
                // Listen again first, so a request made during the report
                // wakes the next one.
                control_requested = listen(&control);
                report(&shared).await;
                continue;
            }
            _ = stop.cancelled() => return,
        };
        // Listen again before reading the store, so a request made during
        // this renewal wakes the next one.
        cancel_requested.set(cancel_signal.notified());
        cancel_requested.as_mut().enable();
        renew_leases(&shared).await;
        if beat {
            report(&shared).await;
        }
    }
}

/// A wake-up for the next control announcement, listening from now on.
fn listen(control: &Arc<Notify>) -> Pin<Box<OwnedNotified>> {
    let mut notified = Box::pin(control.clone().notified_owned());
    notified.as_mut().enable();
    notified
}

/// Stores the worker's entry and moves toward the requested state; after
/// a change, reports again so operators see it at once.
async fn report(shared: &Shared) {
    match shared.backend.worker_heartbeat(&shared.report()).await {
        Ok(requested) => {
            if obey(shared, requested).await
                && let Err(err) = shared.backend.worker_heartbeat(&shared.report()).await
            {
                warn!(error = %err, "worker heartbeat failed");
            }
        }
        Err(err) => warn!(error = %err, "worker heartbeat failed"),
    }
}

/// Moves the worker to the state an operator requested; whether it changed.
async fn obey(shared: &Shared, requested: Option<WorkerState>) -> bool {
    if shared.shutdown.is_cancelled() {
        return false;
    }
    match requested {
        Some(WorkerState::Paused) => {
            let changed = shared
                .paused
                .send_if_modified(|p| !std::mem::replace(p, true));
            if changed {
                // A claim already under way finishes first: once this
                // returns, the dispatcher claims nothing more.
                drop(shared.claiming.lock().await);
                info!(worker = %shared.worker_id, "worker paused by request");
            }
            changed
        }
        Some(WorkerState::Running) => {
            let changed = shared
                .paused
                .send_if_modified(|p| std::mem::replace(p, false));
            if changed {
                info!(worker = %shared.worker_id, "worker resumed by request");
            }
            changed
        }
        Some(WorkerState::Stopping) => {
            info!(worker = %shared.worker_id, "shutdown requested");
            shared.shutdown.cancel();
            true
        }
        Some(WorkerState::Gone) | None => false,
    }
}

/// Renews this worker's leases and applies what the store says of them.
async fn renew_leases(shared: &Shared) {
    let held = leases_to_renew(
        &shared.in_flight(),
        Instant::now(),
        shared.config.heartbeat_interval,
    );
    if held.is_empty() {
        return;
    }
    let renewed_at = Instant::now();
    let lease_until = Utc::now() + shared.config.lease;
    match shared
        .backend
        .heartbeat(&shared.worker_id, &held, lease_until)
        .await
    {
        Ok(statuses) => {
            let mut in_flight = shared.in_flight();
            for ((id, attempt), status) in held.iter().zip(statuses) {
                let Some(f) = in_flight.get_mut(id).filter(|f| f.attempt == *attempt) else {
                    continue;
                };
                match status {
                    LeaseStatus::Held => f.lease_deadline = renewed_at + shared.config.lease,
                    LeaseStatus::CancelRequested => {
                        f.lease_deadline = renewed_at + shared.config.lease;
                        if f.ctx.control().get() == Control::Run {
                            f.ctx.stop(StopReason::Cancelled);
                            f.ctx.control().request_cancel();
                        }
                    }
                    LeaseStatus::Lost => abandon(f, "the store no longer gives it to us"),
                }
            }
        }
        Err(err) => {
            warn!(error = %err, "lease renewal failed");
            let now = Instant::now();
            for f in shared.in_flight().values_mut() {
                if f.lease_deadline <= now {
                    abandon(f, "its lease ran out while the store was unreachable");
                }
            }
        }
    }
}

/// The attempts whose leases a beat at `now` renews: every running one
/// (the renewal also tells of cancel requests), and an ended one (its
/// outcome waiting for the completer) only when its lease could run out
/// before the beat after next — not at every beat, so a backlog of
/// outcomes does not cost the store a renewal each per beat.
fn leases_to_renew(
    in_flight: &IdMap<InFlight>,
    now: Instant,
    heartbeat_interval: Duration,
) -> Vec<(TaskId, u32)> {
    let due = now + 2 * heartbeat_interval;
    in_flight
        .iter()
        .filter(|(_, f)| !f.ctx.control().has_ended() || f.lease_deadline <= due)
        .map(|(id, f)| (*id, f.attempt))
        .collect()
}

fn abandon(f: &mut InFlight, why: &str) {
    if f.ctx.control().get() != Control::Abandon {
        warn!(id = %f.ctx.id(), attempt = f.attempt, "abandoning attempt: {why}");
        f.ctx.stop(StopReason::LeaseLost);
        f.ctx.control().abandon();
    }
}

/// Exponential backoff for backend failures: 100 ms doubling to 5 s.
fn retry_backoff(failures: u32) -> Duration {
    let millis = 100u64.saturating_mul(1 << failures.min(6).saturating_sub(1));
    Duration::from_millis(millis.min(5_000))
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".to_owned())
}

fn default_worker_id(host: &str) -> String {
    let suffix = rand::random::<u32>() & 0x00ff_ffff;
    format!("{host}-{}-{suffix:06x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_flight(attempt: u32, ended: bool, lease_deadline: Instant) -> (TaskId, InFlight) {
        let id = uuid::Uuid::now_v7();
        let ctx = TaskContext::for_attempt(id, "t".into(), "q".into(), attempt, 0, None);
        if ended {
            ctx.control().end();
        }
        let f = InFlight {
            attempt,
            ctx,
            lease_deadline,
        };
        (id, f)
    }

    /// Running attempts are renewed at every beat; ended ones only once
    /// their lease could run out before the beat after next.
    #[tokio::test]
    async fn worker_renews_ended_attempts_only_near_their_lease_end() {
        let now = Instant::now();
        let beat = Duration::from_secs(1);
        let entries = [
            in_flight(1, false, now + Duration::from_secs(30)),
            in_flight(2, true, now + Duration::from_secs(30)),
            in_flight(3, true, now + Duration::from_millis(1500)),
        ];
        let expected = vec![(entries[0].0, 1), (entries[2].0, 3)];
        let map: IdMap<InFlight> = entries.into_iter().collect();
        let mut renewed = leases_to_renew(&map, now, beat);
        renewed.sort_by_key(|(_, attempt)| *attempt);
        assert_eq!(renewed, expected);
    }
}
