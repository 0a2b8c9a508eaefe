//! The executor: claims tasks for free slots, runs handlers under timeouts
//! and cancellation, renews leases, and reports outcomes in batches.
//!
//! One worker runs five loops on the runtime that runs it: the dispatcher
//! (claims), the heartbeat (leases and cancel requests, and the worker's
//! own entry in the [`WorkerRegistry`](crate::WorkerRegistry), through
//! which operators pause, resume and stop it), the deadline keeper
//! (timeouts, cancel grace, the lease by the worker's own clock), the
//! completer (batched settlements), and the maintenance services (rescuer,
//! pruner, scheduler). Handlers run elsewhere, on the handler runtime, each
//! inside a `tracing` span: whatever a handler does to its thread, the
//! loops go on.
//!
//! # Layout
//! - `config`: [`WorkerConfig`] and the named defaults.
//! - `shared`: what the loops share (attempts in flight, pause, shutdown).
//! - `dispatch`: the dispatcher, and the drain at shutdown.
//! - `batch`: a claimed batch's runners on the handler runtime.
//! - `attempt`: one attempt, and its settlement.
//! - `deadlines`: the deadline keeper.
//! - `declared`: task types' declared limits, stored at start where none is.
//! - `runtime`: the handler runtime.
//! - `completer`: batched settlements.
//! - `lease`: the heartbeat loop, lease renewal and abandonment.
//! - `control`: the worker's report to the registry and operators' requests.
//! - `signal`: [`shutdown_signal`], Ctrl-C or SIGTERM.
//! - `unserved`: the warning at start for pending tasks of its queues that
//!   no live worker has a handler for.

mod attempt;
mod batch;
mod completer;
mod config;
mod control;
mod deadlines;
mod declared;
mod dispatch;
mod hooks;
mod lease;
mod runtime;
mod shared;
mod signal;
mod tally;
mod unserved;

pub use hooks::AttemptHook;
use hooks::Hooks;
pub use signal::shutdown_signal;
use tally::Tally;

pub use config::{
    CANCEL_GRACE_DEFAULT, HEARTBEAT_INTERVAL_DEFAULT, LEASE_DEFAULT, POLL_INTERVAL_DEFAULT,
    SHUTDOWN_GRACE_DEFAULT, WorkerConfig,
};

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backend::{Settlement, WorkerQueue};
use crate::client::Client;
use crate::error::Error;
use crate::maintenance::{self, MaintenanceConfig};
use crate::rate_limit::RateLimit;
use crate::task::IdMap;

use self::completer::completer;
use self::control::listen;
use self::deadlines::keep_deadlines;
use self::dispatch::{dispatch, drain};
use self::lease::heartbeat;
use self::shared::{QueueSlots, Shared};

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
    handler_runtime: Option<tokio::runtime::Handle>,
    hooks: Hooks,
    rate_limits: Vec<(String, RateLimit)>,
}

impl WorkerBuilder {
    /// Serves `queue` with up to `concurrency` tasks at once.
    pub fn queue(mut self, queue: impl Into<String>, concurrency: usize) -> Self {
        self.queues.push((queue.into(), concurrency));
        self
    }

    /// Declares `queue`'s rate limit in code: the worker stores it in the
    /// backend when it starts ([`Client::set_queue_rate_limit`], which
    /// every worker then applies), so a deploy sets it without an operator.
    /// Each start stores it again: a change made at runtime (REST, CLI)
    /// holds until the next worker start, then the declaration wins.
    /// [`WorkerBuilder::build`] checks it ([`RateLimit::check`]).
    ///
    /// ```no_run
    /// # fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// use std::time::Duration;
    /// let worker = taskq_core::Worker::builder(&client)
    ///     .queue("emails", 8)
    ///     .queue_rate_limit("emails", taskq_core::RateLimit::new(100, Duration::from_secs(60)))
    ///     .build()?;
    /// # let _ = worker; Ok(()) }
    /// ```
    pub fn queue_rate_limit(mut self, queue: impl Into<String>, limit: RateLimit) -> Self {
        self.rate_limits.push((queue.into(), limit));
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

    /// Runs the handlers on `runtime` instead of the process's shared
    /// handler runtime (a multi-thread runtime with one thread per core,
    /// made on first use and kept for the life of the process).
    ///
    /// Handlers run apart from the worker's own loops so that a handler
    /// that blocks its thread (`std::thread::sleep`, a synchronous client,
    /// heavy computation without `.await`) cannot stop lease renewals,
    /// timeouts or claims. Passing the runtime the worker itself runs on
    /// gives up that protection; passing a runtime that shuts down while
    /// the worker runs stops its handlers. Mark blocking handlers
    /// `#[long_task(blocking = true)]` too: they then get a thread of the
    /// blocking pool each, instead of one of these.
    ///
    /// ```no_run
    /// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// let handlers = tokio::runtime::Builder::new_multi_thread()
    ///     .worker_threads(8)
    ///     .enable_all()
    ///     .build()
    ///     .expect("threads");
    /// let worker = taskq_core::Worker::builder(&client)
    ///     .queue("default", 32)
    ///     .handler_runtime(handlers.handle().clone())
    ///     .build()?;
    /// worker.run_until(tokio::signal::ctrl_c()).await?;
    /// handlers.shutdown_background();
    /// # Ok(())
    /// # }
    /// ```
    pub fn handler_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.handler_runtime = Some(runtime);
        self
    }

    /// Adds a hook every attempt runs: at its start, around its handler
    /// and at its end (see [`AttemptHook`]). Hooks run in the order they
    /// were added, the first one outermost around the handler.
    pub fn hook(mut self, hook: impl AttemptHook) -> Self {
        self.hooks.push(Arc::new(hook));
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
            crate::payload::check_queue_name(name)?;
            if *concurrency == 0 {
                return Err(Error::InvalidArgument(format!(
                    "queue `{name}` needs a concurrency of at least 1"
                )));
            }
            if self.queues[..i].iter().any(|(other, _)| other == name) {
                return Err(Error::InvalidArgument(format!(
                    "queue `{name}` is listed twice"
                )));
            }
        }
        for (queue, limit) in &self.rate_limits {
            crate::payload::check_queue_name(queue)?;
            limit.check()?;
        }
        if self.config.heartbeat_interval >= self.config.lease {
            return Err(Error::InvalidArgument(
                "heartbeat_interval must be shorter than the lease".into(),
            ));
        }
        let handlers = match self.handler_runtime {
            Some(handle) => handle,
            None => runtime::shared_handler_runtime()?,
        };
        let (settle_tx, settle_rx) = mpsc::unbounded_channel();
        let host = host_name();
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared {
            backend: self.client.backend().clone(),
            registry: self.client.registry().clone(),
            payload_limits: self.client.payload_limits(),
            task_types: {
                let mut names: Vec<&'static str> =
                    self.client.registry().iter().map(|def| def.name).collect();
                names.sort_unstable();
                names
            },
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
            alarm: Default::default(),
            handlers,
            slot_freed: Arc::new(Notify::new()),
            settle_tx,
            paused: watch::Sender::new(false),
            claiming: tokio::sync::Mutex::new(()),
            shutdown: shutdown.clone(),
            hooks: self.hooks,
            tally: Mutex::new(Tally::default()),
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
            rate_limits: self.rate_limits,
        })
    }
}

/// Runs tasks from one or more queues until shut down.
///
/// # Example
///
/// A worker for two queues, on the in-memory backend, until the submitted
/// task is done (a real one usually runs until `tokio::signal::ctrl_c()`:
/// running tasks finish, the rest go back to `PENDING`).
///
/// ```
/// use std::sync::Arc;
/// use taskq::prelude::*;
///
/// #[long_task(queue = "heavy")]
/// async fn double(n: u64) -> Result<u64, TaskError> {
///     Ok(n * 2)
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
/// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
/// let id = client.submit(double, 21).await?;
/// let worker = Worker::builder(&client)
///     .queue("default", 4) // up to 4 tasks of `default` at once
///     .queue("heavy", 1)
///     .build()?;
/// let watcher = client.clone();
/// worker
///     .run_until(async move {
///         while !watcher.get(id).await.is_ok_and(|r| r.state.is_terminal()) {
///             tokio::time::sleep(std::time::Duration::from_millis(10)).await;
///         }
///     })
///     .await?;
/// assert_eq!(client.get(id).await?.result, Some(serde_json::json!(42)));
/// # Ok(()) }
/// ```
pub struct Worker {
    shared: Arc<Shared>,
    queues: Vec<QueueSlots>,
    settle_rx: mpsc::UnboundedReceiver<Settlement>,
    shutdown: CancellationToken,
    /// Declared rate limits, stored when the worker starts.
    rate_limits: Vec<(String, RateLimit)>,
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

impl Worker {
    /// Starts building a worker for the client's backend and tasks.
    pub fn builder(client: &Client) -> WorkerBuilder {
        WorkerBuilder {
            client: client.clone(),
            queues: Vec::new(),
            config: WorkerConfig::default(),
            worker_id: None,
            handler_runtime: None,
            hooks: Hooks::default(),
            rate_limits: Vec::new(),
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
            rate_limits,
        } = self;
        // Before the first claim, so it is held to them from the start.
        for (queue, limit) in rate_limits {
            if let Err(err) = shared
                .backend
                .set_queue_rate_limit(&queue, Some(limit))
                .await
            {
                warn!(%queue, error = %err, "could not store the declared rate limit");
            }
        }
        declared::store_declared_limits(&*shared.backend, &shared.registry).await;
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
        // Once, after registering (this worker counts as live), beside
        // the first claims rather than before them.
        let unserved = {
            let backend = shared.backend.clone();
            let names: Vec<String> = queues.iter().map(|q| q.name.clone()).collect();
            tokio::spawn(async move { unserved::warn_unserved(backend.as_ref(), &names).await })
        };
        let stop_helpers = CancellationToken::new();
        let stop_completer = CancellationToken::new();
        let completer = tokio::spawn(completer(shared.clone(), settle_rx, stop_completer.clone()));
        let deadlines = tokio::spawn(keep_deadlines(shared.clone(), stop_helpers.clone()));
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
        // A check still waiting on the backend has nothing left to say.
        unserved.abort();
        let _ = unserved.await;
        // Every attempt has ended or been abandoned: what the completer
        // was sent is all it has to store.
        stop_completer.cancel();
        let backend = shared.backend.clone();
        let worker_id = shared.worker_id.clone();
        let _ = heartbeat.await;
        // The last attempts' counts, which no heartbeat will carry now.
        shared.report_counts().await;
        drop(shared);
        let _ = deadlines.await;
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
