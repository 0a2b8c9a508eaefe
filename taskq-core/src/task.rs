//! The task model: options a task type declares, and the record every
//! submitted task leaves in the store.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

mod history;
mod step;
mod unique;

pub use history::{AttemptOutcome, AttemptRecord};
pub use step::{RunWhen, StepInput, WorkflowId, WorkflowStep};
pub use unique::{Unique, UniqueKey, state_bit, states_from_mask, states_mask};

/// A task's id: a UUIDv7, so ids sort by creation time.
pub type TaskId = Uuid;

/// Hashes task ids for the in-process maps on the hot path (a claim, a
/// start, a settlement each look ids up several times): foldhash, seeded
/// per map, is several times faster than SipHash on a 16-byte key.
pub(crate) type IdHasher = foldhash::fast::RandomState;
/// A map keyed by task id, hashed with [`IdHasher`].
pub(crate) type IdMap<V> = std::collections::HashMap<TaskId, V, IdHasher>;
/// A set of task ids, hashed with [`IdHasher`].
pub(crate) type IdSet = std::collections::HashSet<TaskId, IdHasher>;

/// Where a task was declared, for duplicate-name reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub file: &'static str,
    pub line: u32,
    pub module: &'static str,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} ({})", self.file, self.line, self.module)
    }
}

/// Where a task is in its life.
///
/// `Pending` covers tasks waiting for their ETA or for a retry; `Waiting`
/// is a workflow step whose parents have not all ended; the three states
/// after `Running`, and `Expired`, are terminal.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// Waiting to be claimed (possibly not before `scheduled_at`).
    Pending,
    /// Claimed by a worker that holds its lease.
    Running,
    /// The handler returned `Ok`.
    Finished,
    /// The handler failed for good (permanent error, retries spent, timeout).
    Failed,
    /// Cancelled before or while running; never runs again unless retried.
    Cancelled,
    /// A workflow step whose parents have not all ended: not claimable
    /// until the last one releases it to `Pending`.
    Waiting,
    /// Not started before its deadline ([`TaskRecord::expires_at`]): it
    /// never ran, or never ran again after a failed attempt.
    Expired,
}

impl TaskState {
    /// Every state: the lifecycle's order, then `Waiting` (added with
    /// workflows) and `Expired` (added with deadlines), the order of their
    /// stored bits ([`state_bit`]).
    pub const ALL: [TaskState; 7] = [
        TaskState::Pending,
        TaskState::Running,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Waiting,
        TaskState::Expired,
    ];

    /// The terminal states, the ones retention and purge act on.
    pub const TERMINAL: [TaskState; 4] = [
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Expired,
    ];

    /// The name stored in databases and shown in APIs (`"PENDING"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Running => "RUNNING",
            TaskState::Finished => "FINISHED",
            TaskState::Failed => "FAILED",
            TaskState::Cancelled => "CANCELLED",
            TaskState::Waiting => "WAITING",
            TaskState::Expired => "EXPIRED",
        }
    }

    /// Whether the task is done for good (until someone retries it).
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished | TaskState::Failed | TaskState::Cancelled | TaskState::Expired
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How retry delays grow: `retry_delay * factor^(attempt-1)`, capped at
/// `max`, then spread by ±`jitter` (a fraction) so retries of many tasks
/// that failed together do not stampede back at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Backoff {
    /// Multiplier per attempt; `1.0` gives a constant delay.
    pub factor: f64,
    /// Upper bound of one delay.
    #[serde(with = "crate::task::duration_secs")]
    #[schemars(with = "f64")]
    pub max: Duration,
    /// Random spread, as a fraction of the delay (0.0 – 1.0).
    pub jitter: f64,
}

impl Backoff {
    /// Exponential backoff doubling from `retry_delay` up to 10 minutes,
    /// ±10 % jitter (Celery's `retry_backoff_max` is also 600 s).
    pub const DEFAULT: Backoff = Backoff {
        factor: defaults::BACKOFF_FACTOR,
        max: defaults::BACKOFF_MAX,
        jitter: defaults::BACKOFF_JITTER,
    };

    /// The delay before the retry that follows failed attempt `attempt`
    /// (1-based), without jitter.
    pub fn base_delay(&self, retry_delay: Duration, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let secs = retry_delay.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        Duration::from_secs_f64(secs.min(self.max.as_secs_f64()).max(0.0))
    }

    /// The delay with jitter applied.
    pub fn delay(&self, retry_delay: Duration, attempt: u32) -> Duration {
        let base = self.base_delay(retry_delay, attempt).as_secs_f64();
        let jitter = self.jitter.clamp(0.0, 1.0);
        let spread = if jitter > 0.0 {
            rand::random_range(-jitter..=jitter)
        } else {
            0.0
        };
        Duration::from_secs_f64((base * (1.0 + spread)).max(0.0))
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::DEFAULT
    }
}

/// The defaults of [`TaskOptions`], one constant each (the macro fills the
/// options a task leaves out from these).
pub mod defaults {
    use std::time::Duration;

    pub const QUEUE: &str = "default";
    pub const PRIORITY: i32 = 5;
    pub const TIMEOUT: Option<Duration> = Some(Duration::from_secs(3600));
    pub const SOFT_TIMEOUT: Option<Duration> = None;
    pub const MAX_RETRIES: u32 = 3;
    pub const RETRY_DELAY: Duration = Duration::from_secs(60);
    pub const BACKOFF_FACTOR: f64 = 2.0;
    pub const BACKOFF_MAX: Duration = Duration::from_secs(600);
    pub const BACKOFF_JITTER: f64 = 0.1;
    /// Snoozes a task may take before it fails ([`super::ErrorKind::SnoozeLimit`]):
    /// enough for a handler polling something slow, few enough that a
    /// handler that always snoozes is seen.
    pub const MAX_SNOOZES: Option<u32> = Some(100);
    /// No deadline to start.
    pub const EXPIRES: Option<Duration> = None;
}

/// What a task type declares (through `#[long_task(...)]`), and the defaults
/// every submission of it starts from.
///
/// The defaults follow the seeds' `TaskConfig`: queue `"default"`,
/// priority 5 (higher runs first), a one-hour hard timeout, 3 retries starting
/// 60 s apart with exponential backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskOptions {
    /// Queue the task is submitted to.
    pub queue: Cow<'static, str>,
    /// Higher runs first.
    pub priority: i32,
    /// Hard timeout: the attempt is aborted and recorded as timed out.
    #[serde(with = "crate::task::opt_duration_secs")]
    #[schemars(with = "Option<f64>")]
    pub timeout: Option<Duration>,
    /// Soft timeout: the context's cancellation token fires so the handler
    /// can wrap up before the hard timeout.
    #[serde(with = "crate::task::opt_duration_secs")]
    #[schemars(with = "Option<f64>")]
    pub soft_timeout: Option<Duration>,
    /// Retries after the first attempt (so `max_retries + 1` attempts).
    pub max_retries: u32,
    /// Delay before the first retry.
    #[serde(with = "crate::task::duration_secs")]
    #[schemars(with = "f64")]
    pub retry_delay: Duration,
    /// Growth of later retry delays.
    pub backoff: Backoff,
    /// What the task does (defaults to the handler's doc comment).
    pub description: Cow<'static, str>,
    /// Runs each attempt on a thread of the blocking pool, for handlers
    /// that block (synchronous I/O, long computations without `.await`):
    /// they then hold up no other handler. The worker keeps such an
    /// attempt's timeouts and lease either way.
    #[serde(default)]
    pub blocking: bool,
    /// At most one such task at a time (see [`Unique`]); `None`: any
    /// number. Submissions can override it.
    #[serde(default)]
    pub unique: Option<Unique>,
    /// How many times a task may snooze ([`crate::TaskError::snooze`])
    /// before it fails with [`ErrorKind::SnoozeLimit`]; `None`: no bound.
    #[serde(default = "default_max_snoozes")]
    pub max_snoozes: Option<u32>,
    /// A deadline to start, counted from submission: a task not started
    /// by then ends [`TaskState::Expired`]. Submissions can override it.
    #[serde(default, with = "crate::task::opt_duration_secs")]
    #[schemars(with = "Option<f64>")]
    pub expires: Option<Duration>,
}

fn default_max_snoozes() -> Option<u32> {
    defaults::MAX_SNOOZES
}

impl TaskOptions {
    /// The defaults, usable in `const` context.
    pub const DEFAULT: TaskOptions = TaskOptions {
        queue: Cow::Borrowed(defaults::QUEUE),
        priority: defaults::PRIORITY,
        timeout: defaults::TIMEOUT,
        soft_timeout: defaults::SOFT_TIMEOUT,
        max_retries: defaults::MAX_RETRIES,
        retry_delay: defaults::RETRY_DELAY,
        backoff: Backoff::DEFAULT,
        description: Cow::Borrowed(""),
        blocking: false,
        unique: None,
        max_snoozes: defaults::MAX_SNOOZES,
        expires: defaults::EXPIRES,
    };

    /// The delay before the retry that follows failed attempt `attempt`.
    pub fn retry_delay_after(&self, attempt: u32) -> Duration {
        self.backoff.delay(self.retry_delay, attempt)
    }
}

impl Default for TaskOptions {
    fn default() -> Self {
        TaskOptions::DEFAULT
    }
}

/// Why an attempt failed. Stored with the message in
/// [`TaskRecord::error`].
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A failure worth retrying (the default for errors converted with `?`).
    Retryable,
    /// A failure retrying cannot fix; the task fails at once.
    Permanent,
    /// The handler panicked.
    Panic,
    /// The hard timeout aborted the attempt.
    Timeout,
    /// The task was cancelled.
    Cancelled,
    /// The worker running it stopped renewing its lease (it died or hung).
    LeaseExpired,
    /// No handler for this task type is registered in the worker.
    UnknownTask,
    /// The stored params do not deserialize into the handler's type.
    InvalidParams,
    /// The attempt's result was larger than the worker's
    /// [`PayloadLimits`](crate::payload::PayloadLimits) allow.
    TooLarge,
    /// A workflow step's parent did not finish, so the step never ran
    /// (it is `CANCELLED`; retrying the parent resumes it).
    ParentFailed,
    /// The handler snoozed more times than its task type allows
    /// ([`TaskOptions::max_snoozes`]), or asked for a delay out of bounds.
    SnoozeLimit,
    /// The task was not started before its deadline ([`TaskRecord::expires_at`]).
    Expired,
}

impl ErrorKind {
    /// The stored name (`"retryable"`, `"panic"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Panic => "panic",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::LeaseExpired => "lease_expired",
            ErrorKind::UnknownTask => "unknown_task",
            ErrorKind::InvalidParams => "invalid_params",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::ParentFailed => "parent_failed",
            ErrorKind::SnoozeLimit => "snooze_limit",
            ErrorKind::Expired => "expired",
        }
    }

    /// Whether another attempt may succeed. Panics are retried like errors
    /// (a panic is usually a bug, but can be a transient `expect`); timeouts
    /// and permanent errors are not.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Retryable | ErrorKind::Panic | ErrorKind::LeaseExpired
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of a task's last failed attempt.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskFailure {
    /// Why it failed.
    pub kind: ErrorKind,
    /// Human-readable detail (the error's `Display`, or the panic message).
    pub message: String,
}

/// A running task's last reported progress.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Progress {
    /// Done so far, from 0.0 to 1.0.
    pub fraction: f64,
    /// What the handler said it is doing.
    pub message: String,
}

/// A submitted task, as the store keeps it (the seeds' `LongTimeTask`).
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskRecord {
    #[cfg_attr(feature = "http", schema(value_type = uuid::Uuid))]
    pub id: TaskId,
    /// The registered task name (`#[long_task(name = ...)]`).
    pub task_type: String,
    pub params: Value,
    pub state: TaskState,
    pub queue: String,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts started so far (0 until first claimed).
    pub attempt: u32,
    pub max_retries: u32,
    /// The handler's `Ok` value, as JSON.
    pub result: Option<Value>,
    /// The last failed attempt's error (kept after a successful retry).
    pub error: Option<TaskFailure>,
    pub progress: Option<Progress>,
    pub created_at: DateTime<Utc>,
    /// Not claimed before this time (the ETA; for retries, the backoff).
    pub scheduled_at: DateTime<Utc>,
    /// When the last attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the task reached a terminal state.
    pub finished_at: Option<DateTime<Utc>>,
    /// The worker that ran (or runs) the last attempt.
    pub worker_id: Option<String>,
    /// While running: the worker must renew its lease before this time.
    pub lease_until: Option<DateTime<Utc>>,
    /// Someone asked to cancel the running attempt.
    pub cancel_requested: bool,
    /// Hard timeout for this submission (overrides the task type's).
    #[serde(with = "crate::task::opt_duration_secs")]
    #[schemars(with = "Option<f64>")]
    #[cfg_attr(feature = "http", schema(value_type = Option<f64>))]
    pub timeout: Option<Duration>,
    /// Soft timeout for this submission (overrides the task type's).
    #[serde(with = "crate::task::opt_duration_secs")]
    #[schemars(with = "Option<f64>")]
    #[cfg_attr(feature = "http", schema(value_type = Option<f64>))]
    pub soft_timeout: Option<Duration>,
    /// Position among pending tasks of equal priority: lower runs first.
    /// Starts as the ETA in microseconds, so ETA then FIFO order hold;
    /// reordering changes it.
    pub seq: i64,
    /// The task's turn among the keys of a fair queue
    /// ([`crate::Broker::set_queue_fair`]): claims take lower rounds
    /// first among equal priority ([`lifecycle::fair_round`](crate::lifecycle::fair_round)).
    /// 0 in a queue that is not fair.
    #[serde(default)]
    pub fair_round: u64,
    /// The uniqueness key this task holds, if it was submitted unique.
    #[serde(default)]
    pub unique: Option<UniqueKey>,
    /// Its place in a workflow, if it is a step of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<WorkflowStep>,
    /// Every ended attempt, oldest first: the last
    /// [`HISTORY_MAX`](crate::lifecycle::HISTORY_MAX) of them
    /// ([`lifecycle::end_attempt`](crate::lifecycle::end_attempt)).
    #[serde(default)]
    pub attempts: Vec<AttemptRecord>,
    /// Labels given at submission, in their order, each at most once
    /// ([`lifecycle::check_tags`](crate::lifecycle::check_tags)); a list
    /// filters on them ([`TaskFilter::tags`](crate::backend::TaskFilter)).
    #[serde(default)]
    pub tags: Vec<String>,
    /// A JSON object given at submission, for the caller's own bookkeeping
    /// ([`lifecycle::check_metadata`](crate::lifecycle::check_metadata));
    /// empty when none was given.
    #[serde(default)]
    #[cfg_attr(feature = "http", schema(value_type = Object))]
    pub metadata: serde_json::Map<String, Value>,
    /// The schedule whose firing queued this task.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Times the handler snoozed ([`crate::TaskError::snooze`]): each ran
    /// again later without spending an attempt.
    #[serde(default)]
    pub snoozes: u32,
    /// The deadline to start: not started by then, the task ends
    /// [`TaskState::Expired`] (also while it waits for a retry).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The concurrency key: its type's key limit counts the running tasks
    /// of the type with this key ([`crate::Broker::set_key_limit`]).
    /// Given at submission or read from the params field the type names
    /// (`#[long_task(concurrency(key = "tenant_id", limit = 2))]`).
    #[serde(default)]
    pub concurrency_key: Option<String>,
    /// The trace context of the span that submitted the task (feature
    /// `opentelemetry`): each attempt's span is its child
    /// ([`crate::trace`]). Read-only over HTTP; `None` when the host set no
    /// propagator or submitted outside a traced span.
    /// (A [`TraceContext`](crate::trace::TraceContext), spelled out so the
    /// OpenAPI schema sees a map of strings.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_context: Option<std::collections::BTreeMap<String, String>>,
}

/// Microseconds since the epoch: the unit of [`TaskRecord::seq`].
pub fn seq_for(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Durations as (fractional) seconds in JSON.
pub(crate) mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// Optional durations as (fractional) seconds in JSON.
pub(crate) mod opt_duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_some(&duration.as_secs_f64()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(deserializer)?
            .map(|secs| Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps() {
        let backoff = Backoff {
            factor: 2.0,
            max: Duration::from_secs(10),
            jitter: 0.0,
        };
        let delay = Duration::from_secs(1);
        assert_eq!(backoff.base_delay(delay, 1), Duration::from_secs(1));
        assert_eq!(backoff.base_delay(delay, 3), Duration::from_secs(4));
        assert_eq!(backoff.base_delay(delay, 30), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_its_spread() {
        let backoff = Backoff {
            factor: 1.0,
            max: Duration::from_secs(100),
            jitter: 0.5,
        };
        for _ in 0..200 {
            let secs = backoff.delay(Duration::from_secs(10), 1).as_secs_f64();
            assert!((5.0..=15.0).contains(&secs), "{secs}");
        }
    }

    #[test]
    fn states_parse_from_their_names() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>().unwrap(), state);
        }
        assert!("DONE".parse::<TaskState>().is_err());
    }
}
