//! The two error types: [`Error`] for calls into taskq (submit, cancel, …)
//! and [`TaskError`] for what a handler returns.

use std::fmt;
use std::str::FromStr;

use crate::task::{ErrorKind, Location, TaskFailure, TaskId, TaskRecord, TaskState};
use crate::worker_state::{WorkerControl, WorkerState};

/// The error of a taskq call. Every variant but `Backend` and `Serialization`
/// means the call changed nothing.
///
/// # Example
///
/// Every refusal is a variant naming what was wrong, and changes nothing:
///
/// ```
/// use std::sync::Arc;
/// use taskq::prelude::*;
///
/// #[long_task]
/// async fn greet(name: String) -> Result<String, TaskError> {
///     Ok(format!("hello {name}"))
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
/// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
/// match client.submit_json("greet", serde_json::json!(42)).await {
///     Err(Error::InvalidParams { task_type, path, .. }) => {
///         assert_eq!((task_type.as_str(), path.as_str()), ("greet", "."));
///     }
///     other => panic!("expected InvalidParams, got {other:?}"),
/// }
/// let unknown = client.submit_json("gret", serde_json::json!("Ada")).await;
/// assert!(matches!(unknown, Err(Error::UnknownTaskType(name)) if name == "gret"));
/// // Cancelling twice: the second call finds a task that already ended.
/// let id = client.submit(greet, "Ada".to_owned()).await?;
/// client.cancel(id).await?;
/// assert!(matches!(client.cancel(id).await, Err(Error::InvalidTransition { .. })));
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No task has this id.
    #[error("task {0} not found")]
    NotFound(TaskId),
    /// The task's state does not allow the operation.
    #[error("task {id} is {state}: cannot {action}")]
    InvalidTransition {
        id: TaskId,
        state: TaskState,
        action: &'static str,
    },
    /// No handler is registered under this name.
    #[error("unknown task type `{0}`")]
    UnknownTaskType(String),
    /// The params do not fit the task's params type.
    #[error("invalid params for `{task_type}` at `{path}`: {message}")]
    InvalidParams {
        task_type: String,
        /// Path of the offending field, e.g. `files[2].name` (`.` for the root).
        path: String,
        message: String,
    },
    /// Two handlers were registered under one name.
    #[error("task name `{name}` is registered twice: at {first} and at {second}")]
    DuplicateTask {
        name: &'static str,
        first: Location,
        second: Location,
    },
    /// A cron expression that does not parse (5 fields, or 6 with seconds).
    #[error("invalid cron expression `{expression}`: {message}")]
    InvalidCron { expression: String, message: String },
    /// A time zone that is not an IANA name such as `Europe/Paris`.
    #[error("unknown time zone `{0}`")]
    UnknownTimeZone(String),
    /// A schedule whose definition does not hold together (zero interval,
    /// end before start, …); the message names the problem.
    #[error("invalid schedule `{name}`: {field}: {message}")]
    InvalidSchedule {
        name: String,
        /// The field at fault, as the HTTP body names it (`every`, `end_at`,
        /// `max_runs`, `misfire_max`, …).
        field: &'static str,
        message: String,
    },
    /// A queue or schedule name that could not be stored, addressed in a
    /// URL or told apart: empty, `.` or `..`, too long, or with characters
    /// it may not hold (a `/`, a control character; for a queue, anything
    /// but ASCII letters, digits, `_`, `-` and `.`).
    #[error("invalid {kind} name {name:?}: {message}")]
    InvalidName {
        /// `"queue"` or `"schedule"`.
        kind: &'static str,
        name: String,
        message: String,
    },
    /// No schedule has this name.
    #[error("schedule `{0}` not found")]
    ScheduleNotFound(String),
    /// A schedule with this name already exists.
    #[error("schedule `{0}` already exists")]
    ScheduleExists(String),
    /// No live or recently gone worker has this id.
    #[error("worker `{0}` not found")]
    WorkerNotFound(String),
    /// The worker's state (where it is headed) does not allow the control.
    #[error("worker `{id}` is {state}: cannot {control}")]
    InvalidWorkerControl {
        id: String,
        state: WorkerState,
        control: WorkerControl,
    },
    /// A task's params or result is larger, as JSON, than the client's
    /// [`PayloadLimits`](crate::payload::PayloadLimits) allow.
    #[error("{what} of {size} bytes exceed the limit of {limit} bytes (PayloadLimits)")]
    PayloadTooLarge {
        /// `"params"` or `"result"`.
        what: &'static str,
        /// The size found (the count may stop just past the limit).
        size: usize,
        limit: usize,
    },
    /// The awaited task ended `FAILED`, `CANCELLED` or `EXPIRED` (see
    /// [`Client::wait_for`](crate::Client::wait_for)); `failure` is its
    /// stored error.
    #[error("task {id} ended {state}: {}: {}", failure.kind, failure.message)]
    TaskFailed {
        id: TaskId,
        /// `FAILED`, `CANCELLED` or `EXPIRED`.
        state: TaskState,
        failure: TaskFailure,
    },
    /// The awaited task had not ended when the wait ran out; it goes on,
    /// and a later wait may see it end.
    #[error("task {id} is still {state} after waiting {waited:?}")]
    WaitTimeout {
        id: TaskId,
        /// Its state when the wait ran out.
        state: TaskState,
        waited: std::time::Duration,
    },
    /// A task with this id is already stored: the backend's refusal of a
    /// submit naming a stored id (atomic, the batch changes nothing). A
    /// [`Submission`](crate::Submission) turns it into success when the stored
    /// task is the same submission (see
    /// [`Submission::id`](crate::Submission::id)); it reaches the caller
    /// when the stored task has another type or other params.
    #[error("task id {0} already exists")]
    TaskExists(TaskId),
    /// An argument is out of range or malformed (names the argument).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A uniqueness declaration that gives no key: an empty or oversized
    /// key, a field the params lack, a zero period, no states. Nothing
    /// was stored.
    #[error("invalid unique `{field}`: {message}")]
    InvalidUnique {
        /// The option at fault: `key`, `fields`, `period` or `states`.
        field: &'static str,
        message: String,
    },
    /// A workflow that cannot be stored: no steps, a cycle, a step with an
    /// unknown task type or params its type refuses, an `after` naming no
    /// step, an input its parents cannot give. Nothing was stored.
    #[error("invalid workflow step `{step}`: {message}")]
    InvalidWorkflow {
        /// The step at fault (empty for the workflow as a whole).
        step: String,
        message: String,
    },
    /// A submission's tags or metadata that cannot be stored: a tag with
    /// other characters than [`lifecycle::is_valid_tag`](crate::lifecycle::is_valid_tag)
    /// allows, too many tags, metadata that is not a small JSON object.
    /// Nothing was stored.
    #[error("invalid {field}: {message}")]
    InvalidLabel {
        /// `"tags"` or `"metadata"`.
        field: &'static str,
        message: String,
    },
    /// A deadline that cannot be kept: an `expires_at` that is not in
    /// the future ([`crate::lifecycle::check_expires_at`]). Nothing was
    /// stored.
    #[error("invalid deadline `{field}`: {message}")]
    InvalidDeadline {
        /// The option at fault (`expires_at`, `expires_in`).
        field: &'static str,
        message: String,
    },
    /// No stored step belongs to this workflow.
    #[error("workflow {0} not found")]
    WorkflowNotFound(crate::task::WorkflowId),
    /// A value could not be turned into or out of JSON.
    #[error("serialization: {0}")]
    Serialization(#[source] serde_json::Error),
    /// The backend failed (connection lost, I/O…); the operation may or may
    /// not have been applied.
    #[error("backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps a backend's own error.
    pub fn backend(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Backend(err.into())
    }
}

/// What a failed handler returns.
///
/// Any `std::error::Error` converts into a *retryable* `TaskError` with `?`,
/// the default of most task queues (a network blip should not lose work).
/// Return [`TaskError::permanent`] when retrying cannot help.
///
/// ```
/// use taskq_core::TaskError;
///
/// fn parse(input: &str) -> Result<u32, TaskError> {
///     if input.is_empty() {
///         return Err(TaskError::permanent("empty input"));
///     }
///     Ok(input.parse::<u32>()?) // a ParseIntError: retryable
/// }
/// assert!(parse("").unwrap_err().kind().is_retryable() == false);
/// assert!(parse("x").unwrap_err().kind().is_retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    kind: ErrorKind,
    message: String,
    /// Set by [`TaskError::snooze`]: not a failure, a request to run later.
    snooze: Option<std::time::Duration>,
}

impl TaskError {
    /// A failure with an explicit kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TaskError {
            kind,
            message: message.into(),
            snooze: None,
        }
    }

    /// A failure another attempt may fix.
    pub fn retryable(message: impl fmt::Display) -> Self {
        TaskError::new(ErrorKind::Retryable, message.to_string())
    }

    /// A failure retrying cannot fix: the task fails now.
    pub fn permanent(message: impl fmt::Display) -> Self {
        TaskError::new(ErrorKind::Permanent, message.to_string())
    }

    /// Asks to run again after `delay` without spending an attempt
    /// (Celery's `retry(countdown=)`, Oban's `{:snooze, s}`): the task is
    /// `PENDING` again, due then, with one more snooze counted. Bounded by
    /// the task type's [`max_snoozes`](crate::TaskOptions::max_snoozes)
    /// and by [`MAX_SNOOZE_DELAY`](crate::lifecycle::MAX_SNOOZE_DELAY): past
    /// either the task fails with [`ErrorKind::SnoozeLimit`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq_core::TaskError;
    ///
    /// let snooze = TaskError::snooze(Duration::from_secs(30));
    /// assert_eq!(snooze.snooze_delay(), Some(Duration::from_secs(30)));
    /// assert_eq!(TaskError::permanent("no").snooze_delay(), None);
    /// ```
    pub fn snooze(delay: std::time::Duration) -> Self {
        TaskError {
            kind: ErrorKind::Retryable,
            message: format!("snoozed for {}s", delay.as_secs_f64()),
            snooze: Some(delay),
        }
    }

    /// The delay of a [`TaskError::snooze`]; `None` for a failure.
    pub fn snooze_delay(&self) -> Option<std::time::Duration> {
        self.snooze
    }

    /// The handler stopped because its context was cancelled.
    pub fn cancelled(message: impl fmt::Display) -> Self {
        TaskError::new(ErrorKind::Cancelled, message.to_string())
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The stored form of this error.
    pub fn into_failure(self) -> TaskFailure {
        TaskFailure {
            kind: self.kind,
            message: self.message,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

// `TaskError` deliberately does not implement `std::error::Error`, so that
// this blanket conversion (what makes `?` work in handlers) is coherent.
impl<E: std::error::Error> From<E> for TaskError {
    fn from(err: E) -> Self {
        TaskError::retryable(err)
    }
}

// Parsing a stored or typed name, and reading a record's result as a
// type, fail with an `Error`: those impls live here, beside it, so the task
// model itself depends on nothing.

impl FromStr for TaskState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::InvalidArgument(format!("unknown task state `{s}`")))
    }
}

impl FromStr for ErrorKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        const ALL: [ErrorKind; 12] = [
            ErrorKind::Retryable,
            ErrorKind::Permanent,
            ErrorKind::Panic,
            ErrorKind::Timeout,
            ErrorKind::Cancelled,
            ErrorKind::LeaseExpired,
            ErrorKind::UnknownTask,
            ErrorKind::InvalidParams,
            ErrorKind::TooLarge,
            ErrorKind::ParentFailed,
            ErrorKind::SnoozeLimit,
            ErrorKind::Expired,
        ];
        ALL.into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown error kind `{s}`")))
    }
}

impl TaskRecord {
    /// The result deserialized into the handler's output type.
    ///
    /// ```
    /// # let record: taskq_core::TaskRecord = serde_json::from_value(serde_json::json!({
    /// #   "id": "01890a5d-ac96-774b-bcce-b302099a8057", "task_type": "t", "params": {},
    /// #   "state": "FINISHED", "queue": "default", "priority": 5, "attempt": 1,
    /// #   "max_retries": 3, "result": 42, "error": null, "progress": null,
    /// #   "created_at": "2026-01-01T00:00:00Z", "scheduled_at": "2026-01-01T00:00:00Z",
    /// #   "started_at": null, "finished_at": null, "worker_id": null, "lease_until": null,
    /// #   "cancel_requested": false, "timeout": null, "soft_timeout": null, "seq": 0
    /// # })).unwrap();
    /// let answer: Option<u32> = record.result_as()?;
    /// assert_eq!(answer, Some(42));
    /// # Ok::<(), taskq_core::Error>(())
    /// ```
    pub fn result_as<R: serde::de::DeserializeOwned>(&self) -> Result<Option<R>, Error> {
        self.result
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(Error::Serialization)
    }
}
