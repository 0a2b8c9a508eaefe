//! Reordering pending tasks within their queue.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, Position};
use crate::error::Error;
use crate::task::TaskRecord;

use super::helpers::*;

/// Reorder: front, back, before another — ids unchanged.
pub async fn reorder(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(10);
    let tasks: Vec<TaskRecord> = (0..5)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::milliseconds(i)))
        .collect();
    let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| tasks[i].id);
    backend.enqueue(tasks).await.expect("enqueue");

    let moved = backend.reorder(e, Position::Front).await.expect("front");
    assert_eq!(moved.id, e);
    backend.reorder(a, Position::Back).await.expect("back");
    backend
        .reorder(d, Position::Before(b))
        .await
        .expect("before");
    // Before the very first task, and again into a spot with no gap left.
    backend
        .reorder(c, Position::Before(e))
        .await
        .expect("before first");
    backend
        .reorder(a, Position::Before(d))
        .await
        .expect("before, no gap");
    let order = ids(&claim(&*backend, "q", 10, "w").await);
    assert_eq!(order, vec![c, e, a, d, b]);

    let running = order[0];
    assert!(matches!(
        backend.reorder(running, Position::Front).await,
        Err(Error::InvalidTransition { .. })
    ));
}

/// Reorder into a spot with no free `seq` between neighbours.
pub async fn reorder_without_gap(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(10);
    let p = record("t", "q", 5, t0);
    let mut q = record("t", "q", 5, t0);
    let mut r = record("t", "q", 5, t0);
    q.seq = p.seq + 1;
    r.seq = p.seq + 2;
    backend
        .enqueue(vec![p.clone(), q.clone(), r.clone()])
        .await
        .expect("enqueue");
    backend
        .reorder(r.id, Position::Before(q.id))
        .await
        .expect("before");
    assert_eq!(
        ids(&claim(&*backend, "q", 10, "w").await),
        vec![p.id, r.id, q.id]
    );
}

/// Front, back and before place a task among every pending task of its
/// queue, due or delayed; a delayed task keeps its due time.
pub async fn reorder_counts_delayed_tasks(backend: Arc<dyn Backend>) {
    let due = now() - chrono::Duration::seconds(1);
    let later = now() + chrono::Duration::seconds(60);
    let a = record("t", "q", 5, due);
    let b = record("t", "q", 5, due);
    let d = record("t", "q", 9, later);
    let e = record("t", "q", 1, later);
    backend
        .enqueue(vec![a.clone(), b.clone(), d.clone(), e.clone()])
        .await
        .expect("enqueue");
    let front = backend.reorder(a.id, Position::Front).await.expect("front");
    assert_eq!(front.priority, 9, "front outranks the delayed task too");
    assert!(front.seq < d.seq);
    let back = backend.reorder(b.id, Position::Back).await.expect("back");
    assert_eq!(back.priority, 1, "back goes behind the delayed task too");
    assert!(back.seq > e.seq);
    let moved = backend
        .reorder(e.id, Position::Before(d.id))
        .await
        .expect("before a delayed task");
    assert_eq!(moved.priority, 9);
    let shift = (moved.scheduled_at - e.scheduled_at).abs();
    assert!(
        shift < chrono::Duration::milliseconds(1),
        "the due time moved"
    );
    assert_eq!(ids(&claim(&*backend, "q", 10, "w").await), vec![a.id, b.id]);
    let once_due = claim_at(
        &*backend,
        "q",
        10,
        "w",
        later + chrono::Duration::seconds(1),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ids(&once_due), vec![e.id, d.id]);
}

/// Reorder across priorities takes the neighbour's priority.
pub async fn reorder_across_priorities(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(10);
    let high = record("t", "q", 9, t0);
    let low = record("t", "q", 1, t0);
    let other = record("t", "elsewhere", 5, t0);
    backend
        .enqueue(vec![high.clone(), low.clone(), other.clone()])
        .await
        .expect("enqueue");
    let moved = backend
        .reorder(low.id, Position::Front)
        .await
        .expect("front");
    assert_eq!(moved.priority, 9);
    assert!(matches!(
        backend.reorder(low.id, Position::Before(other.id)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        backend
            .reorder(low.id, Position::Before(uuid::Uuid::now_v7()))
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        ids(&claim(&*backend, "q", 10, "w").await),
        vec![low.id, high.id]
    );
}
