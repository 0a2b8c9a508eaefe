//! Retry policy: how long a task waits before its next attempt after a
//! failed one. Plain data of the task model, below the backend traits
//! (a rescue pass takes the policies) and the lifecycle (which applies
//! them, see [`crate::lifecycle::after_error`]).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::task::{Backoff, TaskOptions};

/// How long to wait before the retry after a failed attempt.
///
/// ```
/// use std::time::Duration;
/// use taskq_core::retry_policy::RetryPolicy;
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
