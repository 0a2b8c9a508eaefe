//! Settlements: each outcome's state, fencing by attempt, repeated
//! settlements in one batch.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::backend::{Backend, Outcome, PageRequest, Settlement, TaskFilter};
use crate::lifecycle::RetryPolicy;
use crate::task::{ErrorKind, Progress, TaskFailure, TaskRecord, TaskState};

use super::helpers::*;

/// Settle paths: finished, failed, retry (back to pending at its time).
pub async fn settle_outcomes(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..3)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::milliseconds(i)))
        .collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    claim(&*backend, "q", 3, "w").await;
    let retry_at = now() + chrono::Duration::milliseconds(800);
    let applied = backend
        .settle(vec![
            Settlement {
                id: tasks[0].id,
                attempt: 1,
                outcome: Outcome::Finished(json!({"ok": true})),
                at: now(),
            },
            Settlement {
                id: tasks[1].id,
                attempt: 1,
                outcome: Outcome::Failed(failure(ErrorKind::Permanent, "bad")),
                at: now(),
            },
            Settlement {
                id: tasks[2].id,
                attempt: 1,
                outcome: Outcome::Retry {
                    error: failure(ErrorKind::Retryable, "flaky"),
                    run_at: retry_at,
                },
                at: now(),
            },
        ])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true, true, true]);
    let finished = get(&*backend, tasks[0].id).await;
    assert_eq!(finished.state, TaskState::Finished);
    assert_eq!(finished.result, Some(json!({"ok": true})));
    assert!(finished.finished_at.is_some() && finished.lease_until.is_none());
    let failed = get(&*backend, tasks[1].id).await;
    assert_eq!(failed.state, TaskState::Failed);
    assert_eq!(failed.error, Some(failure(ErrorKind::Permanent, "bad")));
    let retrying = get(&*backend, tasks[2].id).await;
    assert_eq!(retrying.state, TaskState::Pending);
    assert_eq!(
        retrying.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Retryable)
    );
    assert!(
        claim(&*backend, "q", 10, "w").await.is_empty(),
        "retry claimed before its time"
    );
    let again = claim_at(
        &*backend,
        "q",
        10,
        "w",
        retry_at + chrono::Duration::milliseconds(10),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ids(&again), vec![tasks[2].id]);
    assert_eq!(again[0].attempt, 2);
}

/// A stale attempt's settlement and progress are rejected.
pub async fn fencing_rejects_stale_attempts(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let start = now();
    claim_at(&*backend, "q", 1, "old", start, Duration::from_millis(100)).await;
    let report = backend
        .rescue_expired(
            start + chrono::Duration::seconds(1),
            &RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1);
    let second = claim_at(
        &*backend,
        "q",
        1,
        "new",
        start + chrono::Duration::seconds(2),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(second[0].attempt, 2);
    let progress = Progress {
        fraction: 0.5,
        message: "late".into(),
    };
    assert!(
        !backend
            .record_progress(task.id, 1, progress.clone())
            .await
            .expect("progress")
    );
    assert!(
        backend
            .record_progress(task.id, 2, progress.clone())
            .await
            .expect("progress")
    );
    let applied = backend
        .settle(vec![Settlement {
            id: task.id,
            attempt: 1,
            outcome: Outcome::Finished(json!("stale")),
            at: now(),
        }])
        .await
        .expect("settle");
    assert_eq!(applied, vec![false]);
    let current = get(&*backend, task.id).await;
    assert_eq!(current.state, TaskState::Running);
    assert_eq!(current.worker_id.as_deref(), Some("new"));
    assert_eq!(current.progress, Some(progress));
}

/// One batch that settles an attempt twice applies the first settlement
/// only, as settling one at a time would; the list indexes count the task
/// once, in the state the first settlement gave it.
pub async fn settle_batch_applies_a_repeat_once(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let claimed = claim(&*backend, "q", 1, "w").await;
    assert_eq!(claimed.len(), 1);
    let settle = |outcome| Settlement {
        id: task.id,
        attempt: 1,
        outcome,
        at: now(),
    };
    let applied = backend
        .settle(vec![
            settle(Outcome::Finished(json!("first"))),
            settle(Outcome::Failed(TaskFailure {
                kind: ErrorKind::Permanent,
                message: "second".into(),
            })),
        ])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true, false]);
    let current = get(&*backend, task.id).await;
    assert_eq!(current.state, TaskState::Finished);
    assert_eq!(current.result, Some(json!("first")));
    for (state, expected) in [(TaskState::Finished, 1), (TaskState::Failed, 0)] {
        let filter = TaskFilter {
            state: Some(state),
            ..Default::default()
        };
        let listed = backend
            .list(&filter, PageRequest::new(1, 10))
            .await
            .expect("list");
        assert_eq!(listed.total, expected, "{state:?}");
    }
}
