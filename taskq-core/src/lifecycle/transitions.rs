//! One function per event. Each either applies its rule to the record in
//! place, or leaves the record untouched and says why not: `false` or
//! [`LeaseStatus::Lost`] for a fenced call that is stale, an
//! [`Error::InvalidTransition`] for an operator's call the state refuses.

use chrono::{DateTime, Utc};

use super::messages::{
    cancelled_before_run, id_exists, id_repeated, lease_failure, released_after_cancel,
};
use crate::backend::{LeaseStatus, Outcome, Settlement};
use crate::error::Error;
use crate::retry_policy::RetryPolicies;
use crate::task::{AttemptOutcome, ErrorKind, Progress, TaskId, TaskRecord, TaskState, seq_for};

use super::history::end_attempt;

/// **submit** takes a batch whole or not at all. A batch naming one id
/// twice is refused ([`id_repeated`]) before anything is looked up; then
/// the first id of the batch that is already stored refuses it
/// ([`id_exists`]). Backends that learn of a stored id from their store's
/// unique key check only the first half here ([`check_batch_ids`]).
pub fn check_new_ids(batch: &[TaskRecord], exists: impl Fn(TaskId) -> bool) -> Result<(), Error> {
    check_batch_ids(batch)?;
    match batch.iter().find(|t| exists(t.id)) {
        Some(dup) => Err(id_exists(dup.id)),
        None => Ok(()),
    }
}

/// The first half of [`check_new_ids`]: no id twice in one batch.
pub fn check_batch_ids(batch: &[TaskRecord]) -> Result<(), Error> {
    // The common single submit needs no set.
    if batch.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    match batch.iter().find(|t| !seen.insert(t.id)) {
        Some(dup) => Err(id_repeated(dup.id)),
        None => Ok(()),
    }
}

/// Whether a claim at `now` may take the task: pending, due, and not
/// past its deadline to start ([`super::is_expired`]).
pub fn is_claimable(record: &TaskRecord, now: DateTime<Utc>) -> bool {
    record.state == TaskState::Pending
        && record.scheduled_at <= now
        && !super::is_expired(record, now)
}

/// Whether a claim limited to `task_types` (`None`: any) takes a task of
/// `task_type`. A worker built without some task's crate must leave that
/// task for a worker that has it, not fail it as unknown.
pub fn accepts_type(task_types: Option<&[&str]>, task_type: &str) -> bool {
    task_types.is_none_or(|types| types.contains(&task_type))
}

/// **claim**: a due pending task becomes `RUNNING` for `worker_id`: one more
/// attempt, started now, leased until `lease_until`, with no progress yet.
/// The caller picks claimable tasks ([`is_claimable`]) of an unpaused
/// queue, of a type the claimer takes ([`accepts_type`]), in
/// [`super::claim_order`].
pub fn claim(
    record: &mut TaskRecord,
    worker_id: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) {
    record.state = TaskState::Running;
    record.attempt += 1;
    record.started_at = Some(now);
    record.worker_id = Some(worker_id.to_owned());
    record.lease_until = Some(lease_until);
    record.progress = None;
}

/// The fence of the calls a running attempt makes: the task is `RUNNING`
/// with this attempt (and, where given, this worker).
pub fn is_running_attempt(record: &TaskRecord, attempt: u32, worker_id: Option<&str>) -> bool {
    record.state == TaskState::Running
        && record.attempt == attempt
        && worker_id.is_none_or(|worker| record.worker_id.as_deref() == Some(worker))
}

/// **settle**: a running attempt's outcome, fenced by attempt; `false`
/// (and no change) when stale. The lease and any cancel request end with
/// the attempt. `Retry` puts the task back to `PENDING` at `run_at`,
/// queued as if submitted then (`seq` from `run_at`), keeping the error;
/// `Snooze` does too, but gives the attempt back (as [`release`] does)
/// and counts the snooze instead of touching the error. The attempt's
/// entry is appended to the history ([`end_attempt`]).
pub fn settle(record: &mut TaskRecord, settlement: &Settlement) -> bool {
    if !is_running_attempt(record, settlement.attempt, None) {
        return false;
    }
    let (outcome, error) = settled_attempt(&settlement.outcome);
    end_attempt(record, outcome, error, settlement.at);
    record.lease_until = None;
    record.cancel_requested = false;
    match &settlement.outcome {
        Outcome::Finished(result) => {
            record.state = TaskState::Finished;
            record.result = Some(result.clone());
            record.finished_at = Some(settlement.at);
        }
        Outcome::Failed(error) | Outcome::Cancelled(error) => {
            record.state = if matches!(settlement.outcome, Outcome::Failed(_)) {
                TaskState::Failed
            } else {
                TaskState::Cancelled
            };
            record.error = Some(error.clone());
            record.finished_at = Some(settlement.at);
        }
        Outcome::Retry { error, run_at } => {
            record.state = TaskState::Pending;
            record.error = Some(error.clone());
            record.scheduled_at = *run_at;
            record.seq = seq_for(*run_at);
        }
        Outcome::Snooze { run_at } => {
            record.state = TaskState::Pending;
            record.attempt -= 1;
            record.snoozes += 1;
            record.scheduled_at = *run_at;
            record.seq = seq_for(*run_at);
        }
    }
    true
}

/// How a settlement's attempt ends in the history, and with which error.
pub fn settled_attempt(outcome: &Outcome) -> (AttemptOutcome, Option<&crate::task::TaskFailure>) {
    match outcome {
        Outcome::Finished(_) => (AttemptOutcome::Finished, None),
        Outcome::Failed(error) => (AttemptOutcome::Failed, Some(error)),
        Outcome::Cancelled(error) => (AttemptOutcome::Cancelled, Some(error)),
        Outcome::Retry { error, .. } => (AttemptOutcome::Retried, Some(error)),
        Outcome::Snooze { .. } => (AttemptOutcome::Snoozed, None),
    }
}

/// **heartbeat**: extends the lease of `worker_id`'s running attempt and
/// tells it whether a cancel was requested; [`LeaseStatus::Lost`] (and no
/// change) when the attempt is no longer the worker's.
pub fn heartbeat(
    record: &mut TaskRecord,
    worker_id: &str,
    attempt: u32,
    lease_until: DateTime<Utc>,
) -> LeaseStatus {
    if !is_running_attempt(record, attempt, Some(worker_id)) {
        return LeaseStatus::Lost;
    }
    record.lease_until = Some(lease_until);
    if record.cancel_requested {
        LeaseStatus::CancelRequested
    } else {
        LeaseStatus::Held
    }
}

/// **release** (graceful hand-back): `worker_id`'s running attempt goes
/// back to `PENDING` and gives its attempt back, so the next claim runs
/// the same attempt number again. If a cancel was requested the task is
/// `CANCELLED` instead ([`released_after_cancel`]): running it again only
/// to stop it at its first heartbeat would repeat its side effects.
/// Either way the attempt's entry is appended (`released` or `cancelled`).
/// `false` when stale.
pub fn release(record: &mut TaskRecord, worker_id: &str, attempt: u32, now: DateTime<Utc>) -> bool {
    if !is_running_attempt(record, attempt, Some(worker_id)) {
        return false;
    }
    record.lease_until = None;
    if record.cancel_requested {
        let error = released_after_cancel(worker_id);
        end_attempt(record, AttemptOutcome::Cancelled, Some(&error), now);
        record.state = TaskState::Cancelled;
        record.cancel_requested = false;
        record.finished_at = Some(now);
        record.error = Some(error);
    } else {
        end_attempt(record, AttemptOutcome::Released, None, now);
        record.state = TaskState::Pending;
        record.attempt -= 1;
    }
    true
}

/// **cancel**: a pending (or waiting) task is `CANCELLED` at once
/// ([`cancelled_before_run`]); a running one gets `cancel_requested`, and
/// its worker stops it and settles it. Terminal tasks refuse.
pub fn cancel(record: &mut TaskRecord, now: DateTime<Utc>) -> Result<(), Error> {
    match record.state {
        TaskState::Pending | TaskState::Waiting => {
            record.state = TaskState::Cancelled;
            record.finished_at = Some(now);
            record.error = Some(cancelled_before_run());
            Ok(())
        }
        TaskState::Running => {
            record.cancel_requested = true;
            Ok(())
        }
        state => Err(Error::InvalidTransition {
            id: record.id,
            state,
            action: "cancel",
        }),
    }
}

/// **retry** (an operator's): a `FAILED`, `CANCELLED` or `EXPIRED` task is
/// `PENDING` again, due `now`, same id, queued as if submitted now. Its
/// last error stays until an attempt replaces it; if its retries were
/// spent it gets one more (`max_retries` rises to `attempt`). It starts
/// afresh otherwise: no deadline (the one it had passed, or it would not
/// be retried by hand) and no snoozes counted.
pub fn retry(record: &mut TaskRecord, now: DateTime<Utc>) -> Result<(), Error> {
    if !is_retryable_state(record.state) {
        return Err(Error::InvalidTransition {
            id: record.id,
            state: record.state,
            action: "retry",
        });
    }
    record.state = TaskState::Pending;
    record.scheduled_at = now;
    record.seq = seq_for(now);
    record.finished_at = None;
    record.result = None;
    record.cancel_requested = false;
    record.max_retries = record.max_retries.max(record.attempt);
    record.expires_at = None;
    record.snoozes = 0;
    Ok(())
}

/// The states an operator's [`retry`] takes.
pub const fn is_retryable_state(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Failed | TaskState::Cancelled | TaskState::Expired
    )
}

/// **reorder** takes pending tasks only; [`super::reorder`] plans the move.
pub fn check_reorder(record: &TaskRecord) -> Result<(), Error> {
    if record.state != TaskState::Pending {
        return Err(Error::InvalidTransition {
            id: record.id,
            state: record.state,
            action: "reorder",
        });
    }
    Ok(())
}

/// **delete** takes ended tasks only: cancel a live one first.
pub fn check_delete(record: &TaskRecord) -> Result<(), Error> {
    if !record.state.is_terminal() {
        return Err(Error::InvalidTransition {
            id: record.id,
            state: record.state,
            action: "delete",
        });
    }
    Ok(())
}

/// **purge** deletes a task in one of `states` (all terminal, see
/// [`crate::backend::check_purge_states`]) that finished before `before`.
pub fn is_purged(record: &TaskRecord, states: &[TaskState], before: DateTime<Utc>) -> bool {
    states.contains(&record.state) && record.finished_at.is_some_and(|at| at < before)
}

/// **progress** of a running attempt, fenced by attempt; `false` when stale.
pub fn record_progress(record: &mut TaskRecord, attempt: u32, progress: Progress) -> bool {
    if !is_running_attempt(record, attempt, None) {
        return false;
    }
    record.progress = Some(progress);
    true
}

/// Whether the rescuer at `now` takes the task: running, lease ended
/// strictly before `now`.
pub fn is_lease_expired(record: &TaskRecord, now: DateTime<Utc>) -> bool {
    record.state == TaskState::Running && record.lease_until.is_some_and(|lease| lease < now)
}

/// What a rescue did with one expired lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rescued {
    /// Back to `PENDING`, due after the task's backoff.
    Requeued,
    /// No retry left: `FAILED` with [`ErrorKind::LeaseExpired`].
    Failed,
    /// A cancel had been requested: `CANCELLED`.
    Cancelled,
}

/// **rescue**: a running task whose lease ended before `now` (its worker
/// died or hung) is `CANCELLED` if a cancel was requested, `FAILED` if it
/// has no retry left, and otherwise `PENDING` again after the same backoff
/// a failed attempt waits ([`super::after_error`]), queued as a retry is.
/// `None` (and no change) when the lease has not expired.
pub fn rescue(
    record: &mut TaskRecord,
    now: DateTime<Utc>,
    policies: &dyn RetryPolicies,
) -> Option<Rescued> {
    if !is_lease_expired(record, now) {
        return None;
    }
    let retry_at = rescue_retry_at(
        &record.task_type,
        record.attempt,
        record.max_retries,
        record.cancel_requested,
        now,
        policies,
    );
    Some(rescue_to(record, now, retry_at))
}

/// When a rescued task runs again: `None` if it does not (a cancel was
/// requested, or no retry is left), else its backoff after `attempt`.
/// Backends that decide in SQL or Lua draw this first and pass it in.
pub fn rescue_retry_at(
    task_type: &str,
    attempt: u32,
    max_retries: u32,
    cancel_requested: bool,
    now: DateTime<Utc>,
    policies: &dyn RetryPolicies,
) -> Option<DateTime<Utc>> {
    (!cancel_requested && attempt <= max_retries)
        .then(|| policies.policy(task_type).retry_at(attempt, now))
}

/// [`rescue`] with the retry time already drawn by [`rescue_retry_at`]
/// (`None`: the task is cancelled or fails). The caller has checked
/// [`is_lease_expired`].
pub fn rescue_to(
    record: &mut TaskRecord,
    now: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
) -> Rescued {
    let worker = record.worker_id.clone().unwrap_or_default();
    record.lease_until = None;
    if record.cancel_requested {
        let error = lease_failure(ErrorKind::Cancelled, &worker);
        end_attempt(record, AttemptOutcome::Cancelled, Some(&error), now);
        record.state = TaskState::Cancelled;
        record.cancel_requested = false;
        record.finished_at = Some(now);
        record.error = Some(error);
        return Rescued::Cancelled;
    }
    let error = lease_failure(ErrorKind::LeaseExpired, &worker);
    let requeued = retry_at.is_some() && record.attempt <= record.max_retries;
    let outcome = if requeued {
        AttemptOutcome::Retried
    } else {
        AttemptOutcome::Failed
    };
    end_attempt(record, outcome, Some(&error), now);
    record.error = Some(error);
    match retry_at {
        Some(at) if requeued => {
            record.state = TaskState::Pending;
            record.scheduled_at = at;
            record.seq = seq_for(at);
            Rescued::Requeued
        }
        _ => {
            record.state = TaskState::Failed;
            record.finished_at = Some(now);
            Rescued::Failed
        }
    }
}
