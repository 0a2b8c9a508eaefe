//! Retry policy: what follows a failed attempt, whether the worker saw the
//! error or the rescuer found the lease expired. One rule for both, so a
//! worker that dies waits the same backoff as one whose handler failed.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backend::Outcome;
use crate::task::{Backoff, ErrorKind, TaskFailure, TaskOptions};

/// How long to wait before the retry after a failed attempt.
///
/// ```
/// use std::time::Duration;
/// use taskq_core::lifecycle::RetryPolicy;
/// use taskq_core::Backoff;
///
/// let policy = RetryPolicy {
///     retry_delay: Duration::from_secs(10),
///     backoff: Backoff { factor: 2.0, max: Duration::from_secs(60), jitter: 0.0 },
/// };
/// let now = chrono::Utc::now();
/// assert_eq!(policy.retry_at(3, now) - now, chrono::Duration::seconds(40));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt.
    pub retry_delay: Duration,
    /// Its growth for later attempts, and the jitter.
    pub backoff: Backoff,
}

impl RetryPolicy {
    /// Retries due at once, no jitter (tests, and the old rescue).
    pub const IMMEDIATE: RetryPolicy = RetryPolicy {
        retry_delay: Duration::ZERO,
        backoff: Backoff {
            factor: 1.0,
            max: Duration::ZERO,
            jitter: 0.0,
        },
    };

    /// The policy of a task type's options.
    pub fn of(options: &TaskOptions) -> RetryPolicy {
        RetryPolicy {
            retry_delay: options.retry_delay,
            backoff: options.backoff,
        }
    }

    /// When the retry after failed attempt `attempt` (1-based) is due,
    /// jitter included.
    pub fn retry_at(&self, attempt: u32, at: DateTime<Utc>) -> DateTime<Utc> {
        let delay = self.backoff.delay(self.retry_delay, attempt);
        // A delay beyond chrono's range means "not for a very long time".
        at + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::days(3650))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::of(&TaskOptions::DEFAULT)
    }
}

/// Retry policies by task type: the registry's options for the types a
/// process knows, [`RetryPolicy::default`] for the rest.
pub trait RetryPolicies: Send + Sync {
    fn policy(&self, task_type: &str) -> RetryPolicy;
}

/// One policy for every type (tests, and stores that know no registry).
impl RetryPolicies for RetryPolicy {
    fn policy(&self, _task_type: &str) -> RetryPolicy {
        *self
    }
}

/// What a failed attempt leads to: a retry after the backoff while the
/// error is retryable and retries are left, a cancellation when the error
/// is a cancellation or a cancel was requested, else a failure.
///
/// `policy` is `None` when the task type is unknown to this process: such
/// a task is not retried here (it fails, so an operator sees it).
pub fn after_error(
    error: TaskFailure,
    attempt: u32,
    max_retries: u32,
    cancel_requested: bool,
    policy: Option<&RetryPolicy>,
    at: DateTime<Utc>,
) -> Outcome {
    if cancel_requested {
        return Outcome::Cancelled(error);
    }
    match policy {
        Some(policy) if error.kind.is_retryable() && attempt <= max_retries => Outcome::Retry {
            run_at: policy.retry_at(attempt, at),
            error,
        },
        _ if error.kind == ErrorKind::Cancelled => Outcome::Cancelled(error),
        _ => Outcome::Failed(error),
    }
}
