//! Leases: heartbeats that find a lease lost, the rescue of expired ones
//! (after the backoff), and the release at shutdown.

use std::sync::Arc;
use std::time::Duration;

use chrono::SubsecRound;

use crate::backend::{Backend, LeaseStatus};
use crate::lifecycle::RetryPolicy;
use crate::task::{ErrorKind, TaskState};

use super::helpers::*;

/// Heartbeats extend only the caller's live attempts.
pub async fn heartbeat_reports_lost_leases(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    claim(&*backend, "q", 1, "w1").await;
    let lease = now() + chrono::Duration::seconds(60);
    let statuses = backend
        .heartbeat("w1", &[(task.id, 1), (task.id, 2)], lease)
        .await
        .expect("heartbeat");
    assert_eq!(statuses, vec![LeaseStatus::Held, LeaseStatus::Lost]);
    let other = backend
        .heartbeat("w2", &[(task.id, 1)], lease)
        .await
        .expect("heartbeat");
    assert_eq!(other, vec![LeaseStatus::Lost]);
    let renewed = get(&*backend, task.id).await;
    let until = renewed.lease_until.expect("lease");
    assert!(
        (until - lease).num_milliseconds().abs() < 5,
        "lease not extended"
    );
}

/// Expired leases: requeued, failed when retries are spent, cancelled when
/// cancel was requested; live leases untouched.
pub async fn rescue_expired_leases(backend: Arc<dyn Backend>) {
    let start = now() - chrono::Duration::seconds(60);
    let mut spent = record("t", "q", 9, start);
    spent.max_retries = 0;
    let retryable = record("t", "q", 8, start);
    let to_cancel = record("t", "q", 7, start);
    let live = record("t", "q", 6, start);
    backend
        .enqueue(vec![
            spent.clone(),
            retryable.clone(),
            to_cancel.clone(),
            live.clone(),
        ])
        .await
        .expect("enqueue");
    claim_at(&*backend, "q", 3, "dead", start, Duration::from_secs(1)).await;
    claim_at(&*backend, "q", 1, "alive", start, Duration::from_secs(3600)).await;
    backend.cancel(to_cancel.id, now()).await.expect("cancel");
    let report = backend
        .rescue_expired(now(), &RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(
        (report.requeued, report.failed, report.cancelled),
        (1, 1, 1)
    );
    assert_eq!(get(&*backend, spent.id).await.state, TaskState::Failed);
    assert_eq!(
        get(&*backend, spent.id).await.error.map(|e| e.kind),
        Some(ErrorKind::LeaseExpired)
    );
    assert_eq!(get(&*backend, retryable.id).await.state, TaskState::Pending);
    assert_eq!(
        get(&*backend, to_cancel.id).await.state,
        TaskState::Cancelled
    );
    assert_eq!(get(&*backend, live.id).await.state, TaskState::Running);
    let again = backend
        .rescue_expired(now(), &RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(again, Default::default());
    let reclaimed = claim(&*backend, "q", 10, "w").await;
    assert_eq!(ids(&reclaimed), vec![retryable.id]);
    assert_eq!(reclaimed[0].attempt, 2);
}

/// A rescued task waits its type's backoff, as a failed attempt does,
/// and queues as a retry does (`seq` from its new due time).
pub async fn rescue_waits_the_backoff(backend: Arc<dyn Backend>) {
    // Whole microseconds: what every store keeps of a time.
    let start = now().trunc_subsecs(6) - chrono::Duration::seconds(60);
    let mut task = record("t", "q", 5, start);
    task.max_retries = 5;
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    claim_at(&*backend, "q", 1, "dead", start, Duration::from_secs(1)).await;
    let policy = RetryPolicy {
        retry_delay: Duration::from_secs(10),
        backoff: crate::task::Backoff {
            factor: 2.0,
            max: Duration::from_secs(600),
            jitter: 0.0,
        },
    };
    let rescued_at = start + chrono::Duration::seconds(2);
    let report = backend
        .rescue_expired(rescued_at, &policy)
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1);
    let due = rescued_at + chrono::Duration::seconds(10);
    let stored = get(&*backend, task.id).await;
    assert_eq!(stored.state, TaskState::Pending);
    assert_eq!(stored.scheduled_at, due);
    assert_eq!(stored.seq, crate::task::seq_for(due));
    let early = claim_at(
        &*backend,
        "q",
        1,
        "w",
        due - chrono::Duration::seconds(1),
        Duration::from_secs(30),
    )
    .await;
    assert!(early.is_empty(), "claimed before its backoff ended");
    let second = claim_at(&*backend, "q", 1, "w", due, Duration::from_secs(1)).await;
    assert_eq!(ids(&second), vec![task.id]);
    // The second lease expiry waits twice as long.
    let again = due + chrono::Duration::seconds(2);
    backend
        .rescue_expired(again, &policy)
        .await
        .expect("rescue");
    assert_eq!(
        get(&*backend, task.id).await.scheduled_at,
        again + chrono::Duration::seconds(20)
    );
}

/// Release (graceful shutdown) returns a task without spending an attempt.
pub async fn release_returns_without_spending_attempt(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    claim(&*backend, "q", 1, "w").await;
    backend
        .release("someone-else", &[(task.id, 1)], now())
        .await
        .expect("release");
    assert_eq!(get(&*backend, task.id).await.state, TaskState::Running);
    backend
        .release("w", &[(task.id, 1)], now())
        .await
        .expect("release");
    let released = get(&*backend, task.id).await;
    assert_eq!((released.state, released.attempt), (TaskState::Pending, 0));
    assert_eq!(claim(&*backend, "q", 1, "w2").await[0].attempt, 1);
}

/// A task handed back after a cancel was requested ends `CANCELLED`: it
/// must not run again only to be stopped at its first heartbeat.
pub async fn release_after_cancel_request_cancels(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    claim(&*backend, "q", 1, "w").await;
    backend.cancel(task.id, now()).await.expect("cancel");
    let at = now().trunc_subsecs(3);
    backend
        .release("w", &[(task.id, 1)], at)
        .await
        .expect("release");
    let released = get(&*backend, task.id).await;
    assert_eq!(released.state, TaskState::Cancelled);
    assert!(!released.cancel_requested);
    assert_eq!((released.attempt, released.finished_at), (1, Some(at)));
    assert_eq!(
        released.error.map(|e| e.kind),
        Some(ErrorKind::Cancelled),
        "the record says why it ended"
    );
    assert!(claim(&*backend, "q", 1, "w2").await.is_empty());
}
