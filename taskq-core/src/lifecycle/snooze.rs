//! Snooze: a handler asks to run again later without spending an attempt
//! (Celery's `retry(countdown=)`, Oban's `{:snooze, s}`, River's
//! `JobSnooze`). Bounded twice, so a task cannot snooze forever unless its
//! type asks: a count per task ([`TaskOptions::max_snoozes`]) and a
//! longest delay ([`MAX_SNOOZE_DELAY`]).
//!
//! [`TaskOptions::max_snoozes`]: crate::task::TaskOptions::max_snoozes

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backend::Outcome;
use crate::context::TaskContext;
use crate::error::TaskError;
use crate::retry_policy::RetryPolicy;
use crate::task::{ErrorKind, TaskFailure, TaskOptions};

/// The longest delay one snooze may ask for: longer waits are schedules,
/// not snoozes (and a typo of units, `from_secs(ms)`, shows at once).
pub const MAX_SNOOZE_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);

/// What a snooze of `delay` leads to, for an attempt of a task that has
/// snoozed `snoozes` times, of a type that allows `max_snoozes` (`None`:
/// any number): [`Outcome::Snooze`] due `at + delay`, or
/// [`Outcome::Failed`] with [`ErrorKind::SnoozeLimit`] when the bound is
/// reached or the delay is above [`MAX_SNOOZE_DELAY`], or
/// [`Outcome::Cancelled`] when a cancel was requested (running it again
/// only to stop it would repeat its side effects). A zero delay is a
/// snooze due at once.
pub fn after_snooze(
    delay: Duration,
    snoozes: u32,
    max_snoozes: Option<u32>,
    cancel_requested: bool,
    at: DateTime<Utc>,
) -> Outcome {
    if cancel_requested {
        return Outcome::Cancelled(TaskFailure {
            kind: ErrorKind::Cancelled,
            message: "cancelled while it snoozed".into(),
        });
    }
    if delay > MAX_SNOOZE_DELAY {
        return Outcome::Failed(TaskFailure {
            kind: ErrorKind::SnoozeLimit,
            message: format!(
                "snooze of {}s exceeds the longest allowed ({}s)",
                delay.as_secs_f64(),
                MAX_SNOOZE_DELAY.as_secs()
            ),
        });
    }
    if let Some(max) = max_snoozes
        && snoozes >= max
    {
        return Outcome::Failed(TaskFailure {
            kind: ErrorKind::SnoozeLimit,
            message: format!("snoozed {snoozes} times, the most its task type allows"),
        });
    }
    // In range by the check above: 30 days fit a chrono duration.
    let run_at = chrono::Duration::from_std(delay)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(at);
    Outcome::Snooze { run_at }
}

/// What a handler's `Err` leads to: a snooze ([`TaskError::snooze`],
/// through [`after_snooze`]) or a failure ([`super::after_error`]).
/// `options` are the task type's (`None`: unknown to this process, so
/// not retried, and snoozes unbounded but for the delay).
pub fn after_returned_error(
    error: TaskError,
    ctx: &TaskContext,
    cancel_requested: bool,
    options: Option<&TaskOptions>,
    at: DateTime<Utc>,
) -> Outcome {
    if let Some(delay) = error.snooze_delay() {
        let max = options.map_or(crate::task::defaults::MAX_SNOOZES, |o| o.max_snoozes);
        return after_snooze(delay, ctx.snoozes(), max, cancel_requested, at);
    }
    super::after_error(
        error.into_failure(),
        ctx.attempt(),
        ctx.max_retries(),
        cancel_requested,
        options.map(RetryPolicy::of).as_ref(),
        at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Settlement;
    use crate::lifecycle::{claim, settle};
    use crate::task::TaskState;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn snooze_is_due_after_its_delay() {
        let outcome = after_snooze(Duration::from_secs(30), 0, Some(3), false, now());
        assert_eq!(
            outcome,
            Outcome::Snooze {
                run_at: now() + chrono::Duration::seconds(30)
            }
        );
    }

    #[test]
    fn snooze_past_the_bound_fails_with_its_kind() {
        let outcome = after_snooze(Duration::from_secs(1), 3, Some(3), false, now());
        assert!(
            matches!(&outcome, Outcome::Failed(f) if f.kind == ErrorKind::SnoozeLimit),
            "{outcome:?}"
        );
        // Unbounded: the count does not matter.
        let outcome = after_snooze(Duration::from_secs(1), u32::MAX, None, false, now());
        assert!(matches!(outcome, Outcome::Snooze { .. }), "{outcome:?}");
    }

    #[test]
    fn snooze_longer_than_the_maximum_fails() {
        let too_long = MAX_SNOOZE_DELAY + Duration::from_secs(1);
        let outcome = after_snooze(too_long, 0, None, false, now());
        assert!(
            matches!(&outcome, Outcome::Failed(f) if f.kind == ErrorKind::SnoozeLimit),
            "{outcome:?}"
        );
        let outcome = after_snooze(Duration::MAX, 0, None, false, now());
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    }

    #[test]
    fn snooze_after_a_cancel_request_cancels() {
        let outcome = after_snooze(Duration::from_secs(1), 0, None, true, now());
        assert!(matches!(outcome, Outcome::Cancelled(_)), "{outcome:?}");
    }

    #[test]
    fn settled_snooze_gives_the_attempt_back_and_counts() {
        let mut record = super::super::test_record::pending(now());
        claim(
            &mut record,
            "w",
            now(),
            now() + chrono::Duration::seconds(30),
        );
        assert_eq!(record.attempt, 1);
        let run_at = now() + chrono::Duration::seconds(5);
        let id = record.id;
        let applied = settle(
            &mut record,
            &Settlement {
                id,
                attempt: 1,
                outcome: Outcome::Snooze { run_at },
                at: now(),
            },
        );
        assert!(applied);
        assert_eq!(record.state, TaskState::Pending);
        assert_eq!(record.attempt, 0);
        assert_eq!(record.snoozes, 1);
        assert_eq!(record.scheduled_at, run_at);
        assert_eq!(record.lease_until, None);
        assert_eq!(record.error, None);
    }
}
