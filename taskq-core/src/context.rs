//! What a running handler gets: its task's identity, a cancellation token
//! and a way to report progress; and the `ControlCell` through which the
//! worker instructs the attempt (cancel, abandon), kept in the context so
//! an attempt costs one allocation for both.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::error::Error;
use crate::task::{Progress, TaskId};

/// Why a handler is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Someone cancelled the task.
    Cancelled,
    /// The soft timeout passed; the hard timeout follows.
    SoftTimeout,
    /// The worker is shutting down; the task will be released and rerun.
    Shutdown,
    /// The worker lost the task's lease, or its lease ran out by the
    /// worker's own clock; another worker may run it.
    LeaseLost,
    /// The hard timeout passed: the attempt is recorded as timed out, and
    /// what the handler returns after that is discarded.
    Timeout,
}

/// The running task's context, passed as the handler's first argument.
///
/// ```no_run
/// # use taskq_core::{TaskContext, TaskError};
/// async fn import(ctx: TaskContext, files: Vec<String>) -> Result<usize, TaskError> {
///     for (i, file) in files.iter().enumerate() {
///         if ctx.is_cancelled() {
///             return Err(TaskError::cancelled("stopped between files"));
///         }
///         // ... work on `file` ...
///         ctx.progress((i + 1) as f64 / files.len() as f64, format!("imported {file}")).await?;
///     }
///     Ok(files.len())
/// }
/// ```
#[derive(Clone)]
pub struct TaskContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    id: TaskId,
    task_type: String,
    queue: String,
    attempt: u32,
    max_retries: u32,
    /// Snoozes taken before this attempt.
    snoozes: u32,
    /// Made on first use: most attempts never look at it, and a token is
    /// an allocation. [`TaskContext::stop`] makes it to cancel it.
    token: OnceLock<CancellationToken>,
    stop_reason: OnceLock<StopReason>,
    backend: Option<Arc<dyn Backend>>,
    /// The worker's instructions to this attempt; lives here so an attempt
    /// costs one allocation for its context and its control together.
    control: ControlCell,
    /// When the attempt (or the detached context) was made.
    started: Instant,
}

impl TaskContext {
    /// The context of a claimed attempt; takes the record's strings
    /// instead of copying them (the worker keeps only what it needs).
    pub(crate) fn for_attempt(
        id: TaskId,
        task_type: String,
        queue: String,
        attempt: u32,
        max_retries: u32,
        snoozes: u32,
        backend: Option<Arc<dyn Backend>>,
    ) -> TaskContext {
        TaskContext {
            inner: Arc::new(ContextInner {
                id,
                task_type,
                queue,
                attempt,
                max_retries,
                snoozes,
                token: OnceLock::new(),
                stop_reason: OnceLock::new(),
                backend,
                control: ControlCell::default(),
                started: Instant::now(),
            }),
        }
    }

    /// A context for calling a handler directly, e.g. in a unit test
    /// (through [`TaskHandle::call`](crate::TaskHandle::call)): queue
    /// `default`, attempt 1 with no retries left, progress reports go
    /// nowhere. Keep a clone to stop the handler from the test with
    /// [`request_stop`](TaskContext::request_stop).
    ///
    /// ```
    /// use taskq::{StopReason, TaskContext, TaskId};
    ///
    /// let ctx = TaskContext::detached(TaskId::now_v7(), "resize").with_attempt(2, 3);
    /// assert!(!ctx.is_last_attempt());
    /// let handler_side = ctx.clone();
    /// ctx.request_stop(StopReason::SoftTimeout);
    /// assert!(handler_side.is_cancelled());
    /// assert_eq!(handler_side.stop_reason(), Some(StopReason::SoftTimeout));
    /// ```
    pub fn detached(id: TaskId, task_type: impl Into<String>) -> TaskContext {
        TaskContext {
            inner: Arc::new(ContextInner {
                id,
                task_type: task_type.into(),
                queue: "default".into(),
                attempt: 1,
                max_retries: 0,
                snoozes: 0,
                token: OnceLock::new(),
                stop_reason: OnceLock::new(),
                backend: None,
                control: ControlCell::default(),
                started: Instant::now(),
            }),
        }
    }

    pub fn id(&self) -> TaskId {
        self.inner.id
    }

    pub fn task_type(&self) -> &str {
        &self.inner.task_type
    }

    pub fn queue(&self) -> &str {
        &self.inner.queue
    }

    /// This attempt's number, from 1.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// How long since the attempt started (its claim reached this worker).
    pub fn elapsed(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }

    /// Retries this task may have after its first attempt.
    pub fn max_retries(&self) -> u32 {
        self.inner.max_retries
    }

    /// How many times this task snoozed before this attempt
    /// ([`TaskError::snooze`](crate::TaskError::snooze)); snoozes spend no
    /// attempt, so [`attempt`](TaskContext::attempt) does not count them.
    pub fn snoozes(&self) -> u32 {
        self.inner.snoozes
    }

    /// Whether this is the last attempt: a failure now is not retried.
    pub fn is_last_attempt(&self) -> bool {
        self.inner.attempt > self.inner.max_retries
    }

    /// Fires on cancel, soft timeout, shutdown or a lost lease; pass it to
    /// anything that accepts a `CancellationToken`.
    pub fn cancellation_token(&self) -> &CancellationToken {
        self.inner.token.get_or_init(CancellationToken::new)
    }

    /// Resolves when the handler is asked to stop.
    pub async fn cancelled(&self) {
        self.cancellation_token().cancelled().await
    }

    pub fn is_cancelled(&self) -> bool {
        // Only `stop` or a handler holding the token can cancel it, and
        // both make it first.
        self.inner
            .token
            .get()
            .is_some_and(CancellationToken::is_cancelled)
    }

    /// Why the handler was asked to stop, once it was.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.inner.stop_reason.get().copied()
    }

    /// Persists progress (`fraction` is clamped to 0.0–1.0); readable
    /// through `Client::get`. A report from an attempt that lost its lease
    /// is ignored.
    pub async fn progress(&self, fraction: f64, message: impl Into<String>) -> Result<(), Error> {
        let Some(backend) = &self.inner.backend else {
            return Ok(());
        };
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let progress = Progress {
            fraction,
            message: message.into(),
        };
        backend
            .record_progress(self.inner.id, self.inner.attempt, progress)
            .await
            .map(drop)
    }

    /// Asks the handler to stop, as the worker does on a cancel, a soft
    /// timeout, a shutdown or a lost lease: the cancellation token fires
    /// and [`stop_reason`](TaskContext::stop_reason) gives `reason` (the
    /// first reason given wins). For tests driving a handler through a
    /// [`detached`](TaskContext::detached) context; on a worker's context
    /// it only stops the handler — how the attempt is recorded is still
    /// the worker's decision (a cancel is recorded as `CANCELLED` only
    /// when someone cancelled the task).
    pub fn request_stop(&self, reason: StopReason) {
        self.stop(reason);
    }

    /// The same detached context at another attempt: `attempt` (from 1)
    /// with `max_retries` retries in all, so a test can check what a
    /// handler does on its last attempt. Call it before cloning the
    /// context: a clone made earlier keeps the old numbers (the
    /// cancellation token, once made, is shared).
    pub fn with_attempt(self, attempt: u32, max_retries: u32) -> TaskContext {
        self.rebuilt(|inner| {
            inner.attempt = attempt.max(1);
            inner.max_retries = max_retries;
        })
    }

    /// The same detached context on another queue (see
    /// [`with_attempt`](TaskContext::with_attempt) about clones).
    pub fn with_queue(self, queue: impl Into<String>) -> TaskContext {
        let queue = queue.into();
        self.rebuilt(|inner| inner.queue = queue)
    }

    /// A new context with this one's fields, changed by `change`: the
    /// inner value is shared by clones, so it is copied, not mutated.
    fn rebuilt(self, change: impl FnOnce(&mut ContextInner)) -> TaskContext {
        let old = &self.inner;
        let token = OnceLock::new();
        if let Some(existing) = old.token.get() {
            let _ = token.set(existing.clone());
        }
        let stop_reason = OnceLock::new();
        if let Some(reason) = old.stop_reason.get() {
            let _ = stop_reason.set(*reason);
        }
        let mut inner = ContextInner {
            id: old.id,
            task_type: old.task_type.clone(),
            queue: old.queue.clone(),
            attempt: old.attempt,
            max_retries: old.max_retries,
            snoozes: old.snoozes,
            token,
            stop_reason,
            backend: old.backend.clone(),
            control: ControlCell::default(),
            started: old.started,
        };
        change(&mut inner);
        TaskContext {
            inner: Arc::new(inner),
        }
    }

    /// The worker's instructions to this attempt.
    pub(crate) fn control(&self) -> &ControlCell {
        &self.inner.control
    }

    /// Asks the handler to stop; the first reason given wins.
    pub(crate) fn stop(&self, reason: StopReason) {
        let _ = self.inner.stop_reason.set(reason);
        self.cancellation_token().cancel();
    }
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("id", &self.inner.id)
            .field("task_type", &self.inner.task_type)
            .field("attempt", &self.inner.attempt)
            .finish_non_exhaustive()
    }
}

/// What the worker tells a running attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Control {
    Run = 0,
    /// Cancel requested: the handler gets the cancel grace, then is aborted.
    Cancel = 1,
    /// Stop at once without settling: the lease is lost or being released.
    Abandon = 2,
}

/// A running attempt's [`Control`], kept in its [`TaskContext`]: set by
/// the heartbeat and shutdown, read by the attempt without a lock.
#[derive(Debug, Default)]
pub(crate) struct ControlCell {
    state: AtomicU8,
    /// One waiter (the attempt); `notify_one` keeps a permit, so a change
    /// made while the attempt is not listening is still seen.
    pub(crate) changed: Notify,
    /// Set once the attempt's outcome went to the completer: from then on
    /// only its lease matters, until the outcome is stored.
    ended: AtomicBool,
}

impl ControlCell {
    pub(crate) fn get(&self) -> Control {
        match self.state.load(Ordering::Acquire) {
            0 => Control::Run,
            1 => Control::Cancel,
            _ => Control::Abandon,
        }
    }

    /// Run → Cancel; false when the attempt was already told something.
    pub(crate) fn request_cancel(&self) -> bool {
        let moved = self
            .state
            .compare_exchange(
                Control::Run as u8,
                Control::Cancel as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if moved {
            self.changed.notify_one();
        }
        moved
    }

    /// Marks the attempt's outcome as decided; false when it already was.
    /// The attempt and the worker's deadline keeper race to end an attempt
    /// at its hard timeout: only the one that gets `true` settles it.
    pub(crate) fn try_end(&self) -> bool {
        !self.ended.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Anything → Abandon; false when it already was.
    pub(crate) fn abandon(&self) -> bool {
        let moved =
            self.state.swap(Control::Abandon as u8, Ordering::AcqRel) != Control::Abandon as u8;
        if moved {
            self.changed.notify_one();
        }
        moved
    }
}
