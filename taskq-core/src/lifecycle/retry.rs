//! After an error: what follows a failed attempt, whether the worker saw the
//! error or the rescuer found the lease expired. One rule for both, so a
//! worker that dies waits the same backoff as one whose handler failed.

use chrono::{DateTime, Utc};

use crate::backend::Outcome;
use crate::retry_policy::RetryPolicy;
use crate::task::{ErrorKind, TaskFailure};

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
