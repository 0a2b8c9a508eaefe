//! Pending work per task type, the task types workers report, and the
//! pending tasks no live worker can run ([`crate::coverage`]).

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{
    Backend, Outcome, PendingByType, QueueStats, Settlement, WorkerQueue, WorkerState,
};

use super::helpers::*;

fn row(queue: &str, task_type: &str, count: u64) -> PendingByType {
    PendingByType {
        queue: queue.to_owned(),
        task_type: task_type.to_owned(),
        count,
    }
}

async fn enqueue(backend: &dyn Backend, tasks: &[(&str, &str)], delay: chrono::Duration) {
    let at = now() + delay;
    let records = tasks
        .iter()
        .map(|(task_type, queue)| record(task_type, queue, 5, at))
        .collect();
    backend.enqueue(records).await.expect("enqueue");
}

/// `pending_by_type` counts pending tasks, due or scheduled, per queue and
/// type; running and ended ones leave it.
pub async fn stats_count_pending_by_type(backend: Arc<dyn Backend>) {
    assert!(backend.pending_by_type().await.expect("pending").is_empty());
    let b = backend.as_ref();
    enqueue(b, &[("a", "q1"), ("b", "q1"), ("a", "q2")], secs(-1)).await;
    enqueue(b, &[("a", "q1"), ("c:with colon", "q1")], secs(3600)).await;
    assert_eq!(
        backend.pending_by_type().await.expect("pending"),
        [
            row("q1", "a", 2),
            row("q1", "b", 1),
            row("q1", "c:with colon", 1),
            row("q2", "a", 1),
        ]
    );
    // Running: no longer pending. Settled: neither.
    let claimed = claim(b, "q2", 10, "w").await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        backend.pending_by_type().await.expect("pending"),
        [
            row("q1", "a", 2),
            row("q1", "b", 1),
            row("q1", "c:with colon", 1)
        ]
    );
    let settled = backend
        .settle(vec![Settlement {
            id: claimed[0].id,
            attempt: claimed[0].attempt,
            outcome: Outcome::Finished(serde_json::json!(null)),
            at: now(),
        }])
        .await
        .expect("settle");
    assert_eq!(settled, [true]);
    // The due ones go; the scheduled ones stay pending.
    let due = claim(b, "q1", 10, "w").await;
    assert_eq!(due.len(), 2, "{due:?}");
    assert_eq!(
        backend.pending_by_type().await.expect("pending"),
        [row("q1", "a", 1), row("q1", "c:with colon", 1)]
    );
}

/// A worker's task types are stored with its report and replaced by its
/// heartbeats; a control keeps them.
pub async fn workers_report_their_task_types(backend: Arc<dyn Backend>) {
    let mut w = worker_info("w-types", secs(30));
    w.task_types = vec!["alpha".to_owned(), "beta:v2".to_owned()];
    backend.register_worker(&w).await.expect("register");
    let listed = backend.list_workers(now()).await.expect("list");
    assert_eq!(listed[0].task_types, w.task_types);

    w.task_types = vec!["gamma".to_owned()];
    backend.worker_heartbeat(&w).await.expect("beat");
    let stored = backend.get_worker("w-types", now()).await.expect("get");
    assert_eq!(stored.map(|s| s.task_types), Some(w.task_types.clone()));

    let paused = backend
        .control_worker("w-types", crate::WorkerControl::Pause, now())
        .await
        .expect("pause");
    assert_eq!(paused.task_types, w.task_types);

    w.task_types.clear();
    backend.worker_heartbeat(&w).await.expect("beat");
    let stored = backend.get_worker("w-types", now()).await.expect("get");
    assert_eq!(stored.map(|s| s.task_types), Some(Vec::new()));
}

fn unclaimable(stats: &[QueueStats], queue: &str) -> (u64, u64, Vec<(String, u64)>) {
    let s = stats
        .iter()
        .find(|s| s.queue == queue)
        .unwrap_or_else(|| panic!("no stats for {queue}: {stats:?}"));
    let types = s
        .unclaimable_types
        .iter()
        .map(|t| (t.task_type.clone(), t.count))
        .collect();
    (s.live_workers, s.unclaimable, types)
}

fn owned(types: &[(&str, u64)]) -> Vec<(String, u64)> {
    types.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
}

/// Queue stats (as the client reads them) count, per queue, the pending
/// tasks whose type no live worker serving the queue runs: all of them
/// with no live worker; stopping and gone workers do not count, paused
/// ones do; running tasks are not pending.
pub async fn queue_stats_show_pending_types_no_live_worker_runs(backend: Arc<dyn Backend>) {
    let b = backend.as_ref();
    enqueue(
        b,
        &[("a", "default"), ("b", "default"), ("b", "heavy")],
        secs(-1),
    )
    .await;
    enqueue(b, &[("b", "default")], secs(3600)).await;
    let stats = crate::coverage::queue_stats(b).await.expect("stats");
    assert_eq!(
        unclaimable(&stats, "default"),
        (0, 3, owned(&[("a", 1), ("b", 2)])),
        "no worker at all"
    );
    assert_eq!(unclaimable(&stats, "heavy"), (0, 1, owned(&[("b", 1)])));

    // `worker_info` serves `default` and `heavy`.
    let mut runs_a = worker_info("w-a", secs(30));
    runs_a.task_types = vec!["a".to_owned()];
    backend.register_worker(&runs_a).await.expect("register");
    let mut stopping_b = worker_info("w-stopping", secs(30));
    stopping_b.task_types = vec!["b".to_owned()];
    stopping_b.state = WorkerState::Stopping;
    backend
        .register_worker(&stopping_b)
        .await
        .expect("register");
    let mut gone_b = worker_info("w-gone", secs(-1));
    gone_b.task_types = vec!["b".to_owned()];
    backend.register_worker(&gone_b).await.expect("register");
    let mut elsewhere_b = worker_info("w-elsewhere", secs(30));
    elsewhere_b.task_types = vec!["b".to_owned()];
    elsewhere_b.queues = vec![WorkerQueue {
        name: "other".to_owned(),
        concurrency: 1,
    }];
    backend
        .register_worker(&elsewhere_b)
        .await
        .expect("register");
    let stats = crate::coverage::queue_stats(b).await.expect("stats");
    assert_eq!(
        unclaimable(&stats, "default"),
        (1, 2, owned(&[("b", 2)])),
        "only w-a is live on default, and it runs `a` alone"
    );
    assert_eq!(unclaimable(&stats, "heavy"), (1, 1, owned(&[("b", 1)])));

    // A paused worker with `b` will claim it once resumed: not unclaimable.
    let mut paused_b = worker_info("w-paused", secs(30));
    paused_b.task_types = vec!["b".to_owned()];
    paused_b.state = WorkerState::Paused;
    backend.register_worker(&paused_b).await.expect("register");
    let stats = crate::coverage::queue_stats(b).await.expect("stats");
    assert_eq!(unclaimable(&stats, "default"), (2, 0, Vec::new()));
    assert_eq!(unclaimable(&stats, "heavy"), (2, 0, Vec::new()));

    // Its only taker leaves: `b` is unclaimable again; a claimed `b` is
    // running, not pending.
    backend
        .deregister_worker("w-paused")
        .await
        .expect("deregister");
    let claimed = claim_at(b, "heavy", 1, "w", now(), Duration::from_secs(30)).await;
    assert_eq!(claimed.len(), 1);
    let stats = crate::coverage::queue_stats(b).await.expect("stats");
    assert_eq!(unclaimable(&stats, "default"), (1, 2, owned(&[("b", 2)])));
    assert_eq!(unclaimable(&stats, "heavy"), (1, 0, Vec::new()));
}
