//! An operator's calls on one task: cancel (pending or running) and retry.

use std::sync::Arc;

use crate::backend::{Backend, LeaseStatus, Outcome, Settlement};
use crate::error::Error;
use crate::task::{ErrorKind, TaskState};

use super::helpers::*;

/// Pending cancels at once and is never claimed; terminal cannot cancel.
pub async fn cancel_pending(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let cancelled = backend.cancel(task.id, now()).await.expect("cancel");
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert!(claim(&*backend, "q", 10, "w").await.is_empty());
    assert!(matches!(
        backend.cancel(task.id, now()).await,
        Err(Error::InvalidTransition {
            state: TaskState::Cancelled,
            ..
        })
    ));
    let missing = uuid::Uuid::now_v7();
    assert!(
        matches!(backend.cancel(missing, now()).await, Err(Error::NotFound(id)) if id == missing)
    );
}

/// A running task gets a cancel request, seen by its worker's heartbeat,
/// and settles as cancelled.
pub async fn cancel_running(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let claimed = claim(&*backend, "q", 1, "w").await;
    assert_eq!(claimed.len(), 1);
    let requested = backend.cancel(task.id, now()).await.expect("cancel");
    assert_eq!(requested.state, TaskState::Running);
    assert!(requested.cancel_requested);
    let lease = now() + chrono::Duration::seconds(30);
    let statuses = backend
        .heartbeat("w", &[(task.id, 1)], lease)
        .await
        .expect("heartbeat");
    assert_eq!(statuses, vec![LeaseStatus::CancelRequested]);
    let applied = backend
        .settle(vec![Settlement {
            id: task.id,
            attempt: 1,
            outcome: Outcome::Cancelled(failure(ErrorKind::Cancelled, "stopped")),
            at: now(),
        }])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true]);
    let done = get(&*backend, task.id).await;
    assert_eq!(done.state, TaskState::Cancelled);
    assert!(claim(&*backend, "q", 10, "w").await.is_empty());
}

/// Retry: failed/cancelled back to pending with the same id; others refuse.
pub async fn retry_terminal_tasks(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    let pending = record("t", "q", 1, now() + chrono::Duration::seconds(3600));
    backend
        .enqueue(vec![task.clone(), pending.clone()])
        .await
        .expect("enqueue");
    claim(&*backend, "q", 1, "w").await;
    backend
        .settle(vec![Settlement {
            id: task.id,
            attempt: 1,
            outcome: Outcome::Failed(failure(ErrorKind::Permanent, "x")),
            at: now(),
        }])
        .await
        .expect("settle");
    let retried = backend.retry(task.id, now()).await.expect("retry");
    assert_eq!((retried.id, retried.state), (task.id, TaskState::Pending));
    assert!(retried.finished_at.is_none());
    let again = claim(&*backend, "q", 1, "w").await;
    assert_eq!(ids(&again), vec![task.id]);
    assert_eq!(again[0].attempt, 2);
    assert!(matches!(
        backend.retry(pending.id, now()).await,
        Err(Error::InvalidTransition {
            state: TaskState::Pending,
            ..
        })
    ));
    assert!(matches!(
        backend.retry(uuid::Uuid::now_v7(), now()).await,
        Err(Error::NotFound(_))
    ));
}
