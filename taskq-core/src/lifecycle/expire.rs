//! Expiry: a deadline to *start*. A task not started by its
//! [`TaskRecord::expires_at`] never starts: it ends
//! [`TaskState::Expired`], whether it waited for its first attempt or for
//! a retry. Claims never start it (and may expire it on the spot); a
//! sweep ([`crate::maintenance::expirer`]) expires the rest.

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::task::{ErrorKind, TaskFailure, TaskRecord, TaskState};

/// How many overdue tasks one expiry statement or script takes: a pass
/// repeats it until a batch comes back short.
pub const EXPIRE_BATCH: usize = 500;

/// Whether the task's deadline to start has passed at `now`: it is
/// `PENDING` (due or not, first attempt or retry) and `expires_at <= now`.
pub fn is_expired(record: &TaskRecord, now: DateTime<Utc>) -> bool {
    record.state == TaskState::Pending && record.expires_at.is_some_and(|at| at <= now)
}

/// The error an expired task carries (the last attempt's error, if any,
/// gives way: the deadline is why it ended). The same words everywhere
/// (the Lua repeats them); the deadline itself stays on the record.
pub fn expired_failure() -> TaskFailure {
    TaskFailure {
        kind: ErrorKind::Expired,
        message: "not started before its deadline".into(),
    }
}

/// **expire**: an [expired](is_expired) task ends `EXPIRED` at `now`, with
/// [`expired_failure`]. `false` (and no change) when it is not expired.
/// A workflow step that expires is a parent that did not finish
/// ([`super::parent_ended`]).
pub fn expire(record: &mut TaskRecord, now: DateTime<Utc>) -> bool {
    if !is_expired(record, now) {
        return false;
    }
    record.state = TaskState::Expired;
    record.finished_at = Some(now);
    record.error = Some(expired_failure());
    true
}

/// A deadline given with a submission must lie ahead of `now`: one in the
/// past (or now) would store a task that can never start.
pub fn check_expires_at(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Error> {
    if expires_at <= now {
        return Err(Error::InvalidDeadline {
            field: "expires_at",
            message: format!(
                "expires_at {} is not in the future",
                expires_at.to_rfc3339()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{claim, is_claimable, retry};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn expire_ends_a_pending_task_past_its_deadline() {
        let mut record = super::super::test_record::pending(at(0));
        record.expires_at = Some(at(10));
        assert!(!expire(&mut record, at(9)));
        assert_eq!(record.state, TaskState::Pending);
        assert!(is_claimable(&record, at(9)));
        assert!(!is_claimable(&record, at(10)), "a claim never starts it");
        assert!(expire(&mut record, at(10)));
        assert_eq!(record.state, TaskState::Expired);
        assert!(record.state.is_terminal());
        assert_eq!(record.finished_at, Some(at(10)));
        assert_eq!(
            record.error.as_ref().map(|e| e.kind),
            Some(ErrorKind::Expired)
        );
    }

    #[test]
    fn expire_takes_tasks_waiting_for_a_retry_not_running_ones() {
        let mut record = super::super::test_record::pending(at(0));
        record.expires_at = Some(at(10));
        claim(&mut record, "w", at(1), at(31));
        assert!(!expire(&mut record, at(20)), "a started task runs on");
        // Back to PENDING for a retry at 60 s: past the deadline, it ends.
        record.state = TaskState::Pending;
        record.scheduled_at = at(60);
        assert!(expire(&mut record, at(20)));
        assert_eq!(record.state, TaskState::Expired);
    }

    #[test]
    fn expire_leaves_tasks_without_a_deadline() {
        let mut record = super::super::test_record::pending(at(0));
        assert!(!expire(&mut record, at(1_000_000)));
    }

    #[test]
    fn expire_retry_clears_the_deadline() {
        let mut record = super::super::test_record::pending(at(0));
        record.expires_at = Some(at(10));
        record.snoozes = 4;
        assert!(expire(&mut record, at(10)));
        retry(&mut record, at(20)).unwrap();
        assert_eq!(record.state, TaskState::Pending);
        assert_eq!(record.expires_at, None);
        assert_eq!(record.snoozes, 0);
        assert!(is_claimable(&record, at(20)));
    }

    #[test]
    fn expire_at_in_the_past_is_refused() {
        assert!(matches!(
            check_expires_at(at(0), at(0)),
            Err(Error::InvalidDeadline {
                field: "expires_at",
                ..
            })
        ));
        assert!(check_expires_at(at(1), at(0)).is_ok());
    }
}
