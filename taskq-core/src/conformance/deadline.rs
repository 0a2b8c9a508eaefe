//! Snoozes and deadlines to start: a snooze gives its attempt back and
//! counts; a task past its `expires_at` is never claimed, and the sweep
//! ends it `EXPIRED` (retries waiting for their backoff too).

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, Outcome, PageRequest, Settlement, TaskFilter};
use crate::lifecycle::EXPIRE_BATCH;
use crate::task::{ErrorKind, TaskRecord, TaskState};

use super::helpers::*;

const LEASE: Duration = Duration::from_secs(30);

/// A snoozed attempt is `PENDING` again at its time, its attempt given
/// back, one more snooze counted; a second snooze counts two.
pub async fn snooze_gives_the_attempt_back(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(1);
    let task = record("t", "q", 5, t0);
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let mut at = now();
    for round in 1..=2u32 {
        let claimed = claim_at(&*backend, "q", 1, "w", at, LEASE).await;
        assert_eq!(ids(&claimed), vec![task.id], "round {round}");
        assert_eq!(claimed[0].attempt, 1, "a snooze spends no attempt");
        assert_eq!(claimed[0].snoozes, round - 1);
        let run_at = at + secs(60);
        let applied = backend
            .settle(vec![Settlement {
                id: task.id,
                attempt: 1,
                outcome: Outcome::Snooze { run_at },
                at,
            }])
            .await
            .expect("settle");
        assert_eq!(applied, vec![true]);
        let snoozed = get(&*backend, task.id).await;
        assert_eq!(snoozed.state, TaskState::Pending);
        assert_eq!((snoozed.attempt, snoozed.snoozes), (0, round));
        assert!(snoozed.lease_until.is_none() && snoozed.finished_at.is_none());
        assert!(
            claim_at(&*backend, "q", 1, "w", at + secs(30), LEASE)
                .await
                .is_empty(),
            "claimed before its snooze ended"
        );
        at = run_at + secs(1);
    }
    // A stale snooze (the attempt moved on) changes nothing.
    let stale = backend
        .settle(vec![Settlement {
            id: task.id,
            attempt: 7,
            outcome: Outcome::Snooze { run_at: at },
            at,
        }])
        .await
        .expect("settle");
    assert_eq!(stale, vec![false]);
    assert_eq!(get(&*backend, task.id).await.snoozes, 2);
}

/// A claim never starts a task past its deadline; the sweep (or the
/// claim that met it) ends it `EXPIRED`, finished, with the kind; a task
/// without a deadline, or with one ahead, is claimed as usual.
pub async fn expire_claim_never_starts_an_overdue_task(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(1);
    let mut overdue = record("t", "q", 9, t0);
    overdue.expires_at = Some(now() + secs(60));
    let mut ahead = record("t", "q", 5, t0 + chrono::Duration::milliseconds(1));
    ahead.expires_at = Some(now() + secs(3600));
    let plain = record("t", "q", 1, t0 + chrono::Duration::milliseconds(2));
    backend
        .enqueue(vec![overdue.clone(), ahead.clone(), plain.clone()])
        .await
        .expect("enqueue");
    assert_eq!(
        get(&*backend, overdue.id)
            .await
            .expires_at
            .map(|t| t.timestamp()),
        overdue.expires_at.map(|t| t.timestamp()),
        "the deadline round-trips"
    );
    let later = now() + secs(120);
    let claimed = claim_at(&*backend, "q", 10, "w", later, LEASE).await;
    assert_eq!(ids(&claimed), vec![ahead.id, plain.id]);
    backend
        .expire_overdue(later, EXPIRE_BATCH)
        .await
        .expect("expire");
    let expired = get(&*backend, overdue.id).await;
    assert_eq!(expired.state, TaskState::Expired);
    assert_eq!(expired.attempt, 0, "it never ran");
    assert!(expired.finished_at.is_some());
    assert_eq!(expired.error.map(|e| e.kind), Some(ErrorKind::Expired));
    // Running tasks are past the deadline's reach.
    assert_eq!(
        backend
            .expire_overdue(now() + secs(7200), EXPIRE_BATCH)
            .await
            .expect("expire"),
        0
    );
    assert_eq!(get(&*backend, ahead.id).await.state, TaskState::Running);
}

/// The sweep takes tasks waiting for a retry and tasks not due yet, in
/// batches of its limit, and leaves the others; an expired task lists
/// under `EXPIRED`, counts as ended (delete, purge), and a retry runs it
/// again without a deadline.
pub async fn expire_sweep_takes_retries_and_batches(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(1);
    let deadline = now() + secs(60);
    let tasks: Vec<TaskRecord> = (0..4)
        .map(|i| {
            let mut task = record("t", "q", 5, t0 + chrono::Duration::milliseconds(i));
            // The last one is not due before its deadline (an ETA far off).
            if i == 3 {
                task.scheduled_at = now() + secs(3600);
                task.seq = crate::task::seq_for(task.scheduled_at);
            }
            task.expires_at = Some(deadline);
            task
        })
        .collect();
    let keep = record("t", "q", 5, t0 + chrono::Duration::milliseconds(9));
    let mut all = tasks.clone();
    all.push(keep.clone());
    backend.enqueue(all).await.expect("enqueue");
    // The first fails once and waits for a retry past the deadline.
    let claimed = claim(&*backend, "q", 1, "w").await;
    assert_eq!(ids(&claimed), vec![tasks[0].id]);
    backend
        .settle(vec![Settlement {
            id: tasks[0].id,
            attempt: 1,
            outcome: Outcome::Retry {
                error: failure(ErrorKind::Retryable, "flaky"),
                run_at: now() + secs(600),
            },
            at: now(),
        }])
        .await
        .expect("settle");
    let later = deadline + secs(1);
    let first = backend.expire_overdue(later, 3).await.expect("expire");
    let second = backend.expire_overdue(later, 3).await.expect("expire");
    assert_eq!((first, second), (3, 1), "batches of the limit");
    for task in &tasks {
        assert_eq!(get(&*backend, task.id).await.state, TaskState::Expired);
    }
    assert_eq!(get(&*backend, keep.id).await.state, TaskState::Pending);
    let listed = backend
        .list(
            &TaskFilter {
                state: Some(TaskState::Expired),
                ..TaskFilter::default()
            },
            PageRequest::default(),
        )
        .await
        .expect("list");
    assert_eq!(listed.total, 4);
    // Retry: pending again, due now, no deadline left to expire it.
    let retried = backend.retry(tasks[1].id, now()).await.expect("retry");
    assert_eq!(retried.state, TaskState::Pending);
    assert_eq!(retried.expires_at, None);
    assert_eq!(
        backend
            .expire_overdue(now() + secs(7200), EXPIRE_BATCH)
            .await
            .expect("expire"),
        0
    );
    // Ended: delete and purge take it.
    backend.delete_task(tasks[2].id).await.expect("delete");
    let purged = backend
        .purge(&[TaskState::Expired], now() + secs(3600))
        .await
        .expect("purge");
    assert_eq!(purged, 2);
}
