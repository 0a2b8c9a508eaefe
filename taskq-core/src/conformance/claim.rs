//! Claims: order, limit, task types, ETAs, paused queues, exclusive
//! claims, and the ids enqueue accepts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, ClaimRequest};
use crate::error::Error;
use crate::task::{TaskRecord, TaskState};

use super::helpers::*;

/// Priority first, then ETA, then submission order; claim marks RUNNING.
pub async fn claim_order(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(10);
    let low = record("t", "q", 1, t0);
    let high_late = record("t", "q", 9, t0 + chrono::Duration::milliseconds(300));
    let high_early = record("t", "q", 9, t0 + chrono::Duration::milliseconds(100));
    let mid_a = record("t", "q", 5, t0 + chrono::Duration::milliseconds(500));
    let mut mid_b = record("t", "q", 5, t0 + chrono::Duration::milliseconds(500));
    mid_b.seq = mid_a.seq + 1;
    let other_queue = record("t", "other", 10, t0);
    let expected = vec![high_early.id, high_late.id, mid_a.id, mid_b.id, low.id];
    backend
        .enqueue(vec![
            low.clone(),
            mid_b.clone(),
            high_late.clone(),
            other_queue.clone(),
            mid_a.clone(),
            high_early.clone(),
        ])
        .await
        .expect("enqueue");
    let mut order = Vec::new();
    for _ in 0..5 {
        let claimed = claim(&*backend, "q", 1, "w1").await;
        assert_eq!(claimed.len(), 1);
        let c = &claimed[0];
        assert_eq!(c.state, TaskState::Running);
        assert_eq!(c.attempt, 1);
        assert_eq!(c.worker_id.as_deref(), Some("w1"));
        assert!(c.lease_until.is_some() && c.started_at.is_some());
        order.push(c.id);
    }
    assert_eq!(order, expected);
    assert!(claim(&*backend, "q", 10, "w1").await.is_empty());
    assert_eq!(
        ids(&claim(&*backend, "other", 10, "w1").await),
        vec![other_queue.id]
    );
}

/// A batch claim takes at most `limit`, in order.
pub async fn claim_respects_limit(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(1);
    let records: Vec<TaskRecord> = (0..7)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::milliseconds(i)))
        .collect();
    backend.enqueue(records.clone()).await.expect("enqueue");
    let first = claim(&*backend, "q", 3, "w").await;
    assert_eq!(ids(&first), ids(&records[..3]));
    let rest = claim(&*backend, "q", 100, "w").await;
    assert_eq!(ids(&rest), ids(&records[3..]));
}

/// A claim limited to some task types takes only those, in order; the
/// others keep their place for a claimer that runs them.
pub async fn claim_takes_only_its_task_types(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(1);
    let at = |ms| t0 + chrono::Duration::milliseconds(ms);
    let foreign_first = record("other", "q", 9, at(0));
    let mine = [record("mine", "q", 5, at(1)), record("mine", "q", 5, at(2))];
    let foreign_last = record("other", "q", 5, at(3));
    let mut all = vec![foreign_first.clone(), foreign_last.clone()];
    all.extend(mine.iter().cloned());
    backend.enqueue(all).await.expect("enqueue");
    let claim_types = |types: Option<&'static [&'static str]>| {
        let backend = backend.clone();
        async move {
            backend
                .claim(ClaimRequest {
                    queue: "q",
                    limit: 10,
                    worker_id: "w",
                    lease: Duration::from_secs(30),
                    now: now(),
                    task_types: types,
                })
                .await
                .expect("claim")
        }
    };
    assert!(
        claim_types(Some(&[])).await.is_empty(),
        "no handlers, no claims"
    );
    assert!(claim_types(Some(&["unheard-of"])).await.is_empty());
    let claimed = claim_types(Some(&["mine", "third"])).await;
    assert_eq!(ids(&claimed), ids(&mine));
    for skipped in [&foreign_first, &foreign_last] {
        let stored = get(&*backend, skipped.id).await;
        assert_eq!((stored.state, stored.attempt), (TaskState::Pending, 0));
    }
    // The skipped tasks kept their places.
    let rest = claim_types(None).await;
    assert_eq!(ids(&rest), vec![foreign_first.id, foreign_last.id]);
}

/// A task is not claimed before its ETA.
pub async fn eta_is_respected(backend: Arc<dyn Backend>) {
    let base = now();
    let later = record("t", "q", 5, base + chrono::Duration::milliseconds(1500));
    backend.enqueue(vec![later.clone()]).await.expect("enqueue");
    let early = claim_at(
        &*backend,
        "q",
        10,
        "w",
        base + chrono::Duration::milliseconds(1400),
        Duration::from_secs(30),
    )
    .await;
    assert!(early.is_empty(), "claimed before its ETA");
    let due = claim_at(
        &*backend,
        "q",
        10,
        "w",
        base + chrono::Duration::milliseconds(1600),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ids(&due), vec![later.id]);
}

/// Paused queues hand out nothing; resuming restores them.
pub async fn pause_and_resume(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    backend.set_queue_paused("q", true).await.expect("pause");
    assert!(claim(&*backend, "q", 10, "w").await.is_empty());
    let stats = backend.queue_stats().await.expect("stats");
    let q = stats.iter().find(|s| s.queue == "q").expect("queue listed");
    assert!(q.paused);
    assert_eq!(q.pending, 1);
    backend.set_queue_paused("q", false).await.expect("resume");
    assert_eq!(ids(&claim(&*backend, "q", 10, "w").await), vec![task.id]);
    let stats = backend.queue_stats().await.expect("stats");
    let q = stats.iter().find(|s| s.queue == "q").expect("queue listed");
    assert!(!q.paused);
    assert_eq!((q.pending, q.running), (0, 1));
}

/// Concurrent claimers never get the same task.
pub async fn concurrent_claims_are_exclusive(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..400)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::microseconds(i)))
        .collect();
    backend.enqueue(tasks).await.expect("enqueue");
    let mut handles = Vec::new();
    for w in 0..4 {
        let backend = backend.clone();
        handles.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut got = Vec::new();
            loop {
                let batch = claim(&*backend, "q", 7, &worker).await;
                if batch.is_empty() {
                    break;
                }
                got.extend(ids(&batch));
            }
            got
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for handle in handles {
        for id in handle.await.expect("claimer") {
            total += 1;
            assert!(seen.insert(id), "task {id} claimed twice");
        }
    }
    assert_eq!(total, 400);
}

/// Enqueue is all or nothing: a duplicate id fails the batch.
pub async fn enqueue_rejects_duplicate_ids(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let fresh = record("t", "q", 5, now());
    assert!(
        backend
            .enqueue(vec![fresh.clone(), task.clone()])
            .await
            .is_err()
    );
    assert!(backend.get(fresh.id).await.expect("get").is_none());
}

/// **submit** refuses a stored id with the typed [`Error::TaskExists`],
/// atomically: a batch naming it stores nothing, and the stored task is
/// unchanged (what the client's idempotent submit relies on).
pub async fn idempotent_enqueue_refuses_a_stored_id_typed(backend: Arc<dyn Backend>) {
    let task = record("t", "q", 5, now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let mut again = task.clone();
    again.priority = 9;
    again.params = serde_json::json!({ "other": true });
    let refused = backend.enqueue(vec![again]).await;
    assert!(
        matches!(refused, Err(Error::TaskExists(id)) if id == task.id),
        "{refused:?}"
    );
    let fresh = record("t", "q", 5, now());
    let refused = backend.enqueue(vec![fresh.clone(), task.clone()]).await;
    assert!(
        matches!(refused, Err(Error::TaskExists(id)) if id == task.id),
        "{refused:?}"
    );
    assert!(backend.get(fresh.id).await.expect("get").is_none());
    let stored = backend.get(task.id).await.expect("get").expect("stored");
    assert_eq!((stored.priority, &stored.params), (5, &task.params));
}
