//! Waiting for a task to end: [`Client::wait_for`] on any id,
//! [`Client::result`] and [`Submission::wait`] for the handler's typed
//! result, [`TaskRef`] to keep a typed id around.
//!
//! Waking is pushed: every waiter of a backend instance registers with the
//! backend's [`TaskEnds`] hub, which the backend fires when a task ends
//! (in-process, through PostgreSQL `LISTEN`/`NOTIFY` or Redis pub/sub). One
//! poller per hub, not per waiter, backs the pushes: while anyone waits it
//! asks [`Store::task_states`](crate::backend::Store::task_states) about
//! every awaited id, [`POLL_BATCH`] at a time, each
//! [`TaskEnds::poll_interval`], and wakes those that ended. A waiter reads
//! the record after every wake-up (the store is the truth, a signal only a
//! hint), so a lost signal costs one poll interval, never a hang.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::backend::Backend;
use crate::client::Client;
use crate::ends::{POLL_BATCH, TaskEnds};
use crate::error::Error;
use crate::registry::TaskHandle;
use crate::submit::Submission;
use crate::task::{ErrorKind, TaskFailure, TaskId, TaskRecord, TaskState};

/// The longest wait a caller may ask for (a day): longer is an
/// [`Error::InvalidArgument`], as is a zero wait.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The id of a task whose handler returns `R`: what
/// [`Submission::task_ref`] gives, and what [`Client::result`] takes to
/// hand the result back as `R`. Derefs to the [`TaskId`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use taskq::prelude::*;
///
/// #[long_task(name = "doc_wait_double")]
/// async fn double(n: u32) -> Result<u32, TaskError> {
///     Ok(n * 2)
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
/// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
/// let task = client.submit(double, 21).task_ref().await?;
/// let id: TaskId = *task; // the plain id, for `get`, `cancel`, …
/// assert_eq!(client.get(id).await?.state, TaskState::Pending);
/// // From a stored id, the handle names the type again:
/// let same = double.task_ref(id);
/// assert_eq!(same.id(), task.id());
/// # Ok(()) }
/// ```
pub struct TaskRef<R> {
    id: TaskId,
    _result: PhantomData<fn() -> R>,
}

impl<R> TaskRef<R> {
    /// A typed reference to task `id`; nothing checks that its handler
    /// returns `R` until the result is read.
    pub const fn new(id: TaskId) -> TaskRef<R> {
        TaskRef {
            id,
            _result: PhantomData,
        }
    }

    pub const fn id(&self) -> TaskId {
        self.id
    }
}

impl<R> Clone for TaskRef<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for TaskRef<R> {}

impl<R> fmt::Debug for TaskRef<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskRef({})", self.id)
    }
}

impl<R> Deref for TaskRef<R> {
    type Target = TaskId;

    fn deref(&self) -> &TaskId {
        &self.id
    }
}

impl<R> From<TaskRef<R>> for TaskId {
    fn from(task: TaskRef<R>) -> TaskId {
        task.id
    }
}

/// `client.result::<R>(id, timeout)` for an id whose type the caller
/// knows.
impl<R> From<TaskId> for TaskRef<R> {
    fn from(id: TaskId) -> TaskRef<R> {
        TaskRef::new(id)
    }
}

impl<P, R> TaskHandle<P, R> {
    /// The typed reference to a task of this type, from its id (say, one
    /// kept in a database), for [`Client::result`].
    pub const fn task_ref(self, id: TaskId) -> TaskRef<R> {
        TaskRef::new(id)
    }
}

/// What a bounded wait saw: the ended record, or the last one read when
/// time ran out.
pub(crate) enum Waited {
    Ended(TaskRecord),
    TimedOut(TaskRecord),
}

/// A wait's deadline; zero and absurd waits are refused.
pub(crate) fn deadline(timeout: Duration) -> Result<Instant, Error> {
    if timeout.is_zero() {
        return Err(Error::InvalidArgument(
            "wait timeout must be longer than zero".into(),
        ));
    }
    if timeout > MAX_WAIT {
        return Err(Error::InvalidArgument(format!(
            "wait timeout of {timeout:?} is longer than the maximum of {MAX_WAIT:?}"
        )));
    }
    Instant::now()
        .checked_add(timeout)
        .ok_or_else(|| Error::InvalidArgument("wait timeout is too long".into()))
}

impl Client {
    /// Waits until task `id` ends, for at most `timeout`, and returns its
    /// `FINISHED` record (the result as JSON, for callers that submit by
    /// name). A task that ends `FAILED`, `CANCELLED` or `EXPIRED` is
    /// [`Error::TaskFailed`] with its stored error; one still pending or
    /// running when the time is up is [`Error::WaitTimeout`] (it goes on);
    /// a missing id (or one deleted meanwhile) is [`Error::NotFound`]. A
    /// zero timeout, or one longer than [`MAX_WAIT`], is
    /// [`Error::InvalidArgument`].
    ///
    /// The wait is woken by the backend when the task ends (see the
    /// [module docs](crate::wait)); it costs no polling of its own.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use taskq::prelude::*;
    ///
    /// #[long_task(name = "doc_wait_shout")]
    /// async fn shout(text: String) -> Result<String, TaskError> {
    ///     Ok(text.to_uppercase())
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
    /// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
    /// let worker = Worker::builder(&client).queue("default", 2).build()?;
    /// let stop = worker.shutdown_handle();
    /// let running = tokio::spawn(worker.run());
    ///
    /// let id = client.submit_json("doc_wait_shout", serde_json::json!("hi")).await?;
    /// let record = client.wait_for(id, Duration::from_secs(10)).await?;
    /// assert_eq!(record.result, Some(serde_json::json!("HI")));
    ///
    /// // Nothing picks this one up: the wait runs out, typed.
    /// let later = client.submit(shout, "x".into()).countdown(Duration::from_secs(60)).await?;
    /// let waited = client.wait_for(later, Duration::from_millis(50)).await;
    /// assert!(matches!(waited, Err(Error::WaitTimeout { state: TaskState::Pending, .. })));
    /// # stop.shutdown(); running.await.unwrap()?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_for(&self, id: TaskId, timeout: Duration) -> Result<TaskRecord, Error> {
        match self.wait_ended(id, deadline(timeout)?).await? {
            Waited::Ended(record) => finished(record),
            Waited::TimedOut(record) => Err(Error::WaitTimeout {
                id,
                state: record.state,
                waited: timeout,
            }),
        }
    }

    /// Waits like [`Client::wait_for`] and hands the handler's result back
    /// as `R`: give a [`TaskRef`] (from [`Submission::task_ref`] or
    /// [`TaskHandle::task_ref`], which fixes `R` to the handler's type), or
    /// a plain id with `R` named (`client.result::<u32>(id, timeout)`). A
    /// result that is not an `R` is [`Error::Serialization`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use serde::{Deserialize, Serialize};
    /// use taskq::prelude::*;
    ///
    /// #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// struct Sum { total: u64 }
    ///
    /// #[long_task(name = "doc_wait_add")]
    /// async fn add(terms: Vec<u64>) -> Result<Sum, TaskError> {
    ///     Ok(Sum { total: terms.iter().sum() })
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
    /// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
    /// let worker = Worker::builder(&client).queue("default", 2).build()?;
    /// let stop = worker.shutdown_handle();
    /// let running = tokio::spawn(worker.run());
    ///
    /// let task = client.submit(add, vec![1, 2, 3]).task_ref().await?;
    /// let sum: Sum = client.result(task, Duration::from_secs(10)).await?;
    /// assert_eq!(sum, Sum { total: 6 });
    /// # stop.shutdown(); running.await.unwrap()?;
    /// # Ok(()) }
    /// ```
    pub async fn result<R: DeserializeOwned>(
        &self,
        task: impl Into<TaskRef<R>>,
        timeout: Duration,
    ) -> Result<R, Error> {
        let record = self.wait_for(task.into().id, timeout).await?;
        serde_json::from_value(record.result.unwrap_or(serde_json::Value::Null))
            .map_err(Error::Serialization)
    }

    /// The hub this client's waits register with: the backend's, or this
    /// client's own polled one for a backend without.
    fn task_ends(&self) -> Arc<TaskEnds> {
        self.backend()
            .task_ends()
            .unwrap_or_else(|| self.fallback_ends().clone())
    }

    /// Waits until `id` is terminal or `deadline` passes. The record is
    /// read after the waiter registered, so an end between the read and
    /// the wait still wakes it (the watch keeps the wake-up).
    pub(crate) async fn wait_ended(&self, id: TaskId, deadline: Instant) -> Result<Waited, Error> {
        let ends = self.task_ends();
        let (watch, start_poller) = ends.watch(id);
        if start_poller {
            tokio::spawn(poll(ends.clone(), Arc::downgrade(self.backend())));
        }
        loop {
            let record = self.get(id).await?;
            if record.state.is_terminal() {
                return Ok(Waited::Ended(record));
            }
            if tokio::time::timeout_at(deadline, watch.changed())
                .await
                .is_err()
            {
                // One last read: the task may have ended at the deadline.
                let record = self.get(id).await?;
                return Ok(if record.state.is_terminal() {
                    Waited::Ended(record)
                } else {
                    Waited::TimedOut(record)
                });
            }
        }
    }
}

/// A terminal record as a wait's answer: `FINISHED` is the record, the
/// others their failure.
fn finished(record: TaskRecord) -> Result<TaskRecord, Error> {
    match record.state {
        TaskState::Finished => Ok(record),
        state => Err(Error::TaskFailed {
            id: record.id,
            state,
            // Every backend stores an error with a failure or cancel; a
            // record without one still says which way it ended.
            failure: record.error.unwrap_or_else(|| TaskFailure {
                kind: match state {
                    TaskState::Cancelled => ErrorKind::Cancelled,
                    TaskState::Expired => ErrorKind::Expired,
                    _ => ErrorKind::Permanent,
                },
                message: format!("ended {state}"),
            }),
        }),
    }
}

/// The shared fallback poller of one hub: while anyone waits, each
/// interval, one [`Store::task_states`](crate::backend::Store::task_states)
/// per [`POLL_BATCH`] awaited ids; wakes those that ended or are gone.
/// Stops when nobody waits (the next waiter starts another) or the
/// backend is dropped.
async fn poll(ends: Arc<TaskEnds>, backend: Weak<dyn Backend>) {
    let mut tick = tokio::time::interval(ends.poll_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: the waiter has just read its record.
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(awaited) = ends.awaited_or_stop() else {
            return;
        };
        let Some(backend) = backend.upgrade() else {
            ends.poller_stopped();
            return;
        };
        for chunk in awaited.chunks(POLL_BATCH) {
            ends.count_poll();
            match backend.task_states(chunk).await {
                Ok(states) => {
                    let live: std::collections::HashSet<TaskId> = states
                        .into_iter()
                        .filter(|(_, state)| !state.is_terminal())
                        .map(|(id, _)| id)
                        .collect();
                    ends.ended(chunk.iter().copied().filter(|id| !live.contains(id)));
                }
                // The waiters keep waiting: their deadlines bound them.
                Err(err) => tracing::warn!(error = %err, "taskq: polling awaited tasks failed"),
            }
        }
    }
}

impl<'c, R: DeserializeOwned> Submission<'c, R> {
    /// Submits the task and returns its typed reference, for
    /// [`Client::result`] later (`.await` alone gives the plain id).
    pub async fn task_ref(self) -> Result<TaskRef<R>, Error> {
        Ok(TaskRef::new(self.await?))
    }

    /// Submits the task, then waits up to `timeout` for it to end and
    /// returns the handler's result as `R` — Celery's
    /// `delay(..).get(timeout)`. The errors are [`Client::result`]'s;
    /// [`Error::WaitTimeout`] and [`Error::TaskFailed`] carry the id.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use taskq::prelude::*;
    ///
    /// #[long_task(name = "doc_wait_divide", retries = 0)]
    /// async fn divide(p: (i64, i64)) -> Result<i64, TaskError> {
    ///     if p.1 == 0 {
    ///         return Err(TaskError::permanent("division by zero"));
    ///     }
    ///     Ok(p.0 / p.1)
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
    /// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
    /// let worker = Worker::builder(&client).queue("default", 2).build()?;
    /// let stop = worker.shutdown_handle();
    /// let running = tokio::spawn(worker.run());
    ///
    /// let quotient = client.submit(divide, (84, 2)).wait(Duration::from_secs(10)).await?;
    /// assert_eq!(quotient, 42);
    /// match client.submit(divide, (1, 0)).wait(Duration::from_secs(10)).await {
    ///     Err(Error::TaskFailed { state, failure, .. }) => {
    ///         assert_eq!(state, TaskState::Failed);
    ///         assert_eq!(failure.message, "division by zero");
    ///     }
    ///     other => panic!("expected a failure, got {other:?}"),
    /// }
    /// # stop.shutdown(); running.await.unwrap()?;
    /// # Ok(()) }
    /// ```
    pub async fn wait(self, timeout: Duration) -> Result<R, Error> {
        // Checked before submitting: a bad timeout stores nothing.
        deadline(timeout)?;
        let client = self.client();
        let task = self.task_ref().await?;
        client.result(task, timeout).await
    }
}
