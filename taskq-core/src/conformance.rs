//! The backend conformance suite: the rules of [`crate::backend`], written
//! once, run against every backend.
//!
//! A backend's test file instantiates it with a factory that returns a fresh,
//! isolated backend per test (its own file, schema or key prefix):
//!
//! ```ignore
//! taskq_core::conformance_suite!(sqlite, || async { Arc::new(fresh_sqlite().await) as Arc<dyn Backend> });
//! ```
//!
//! This expands to a module `sqlite` with one `#[tokio::test]` per rule,
//! so `cargo test sqlite::` runs one backend alone.

pub mod model;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use crate::backend::{
    Backend, ClaimRequest, LeaseStatus, Outcome, PageRequest, Position, Settlement, TaskFilter,
    WORKER_GONE_KEPT, WorkerControl, WorkerInfo, WorkerQueue, WorkerState,
};
use crate::client::Client;
use crate::error::Error;
use crate::lifecycle::RetryPolicy;
use crate::maintenance::scheduler::{Scheduler, SchedulerConfig};
use crate::registry::{HandlerFuture, Location, Registry, TaskDef, validate_params};
use crate::schedule::{MisfirePolicy, Schedule, ScheduleDef, ScheduleFiring};
use crate::task::{
    ErrorKind, Progress, TaskFailure, TaskId, TaskOptions, TaskRecord, TaskState, seq_for,
};

/// A pending record as a client would submit it.
pub fn record(task_type: &str, queue: &str, priority: i32, at: DateTime<Utc>) -> TaskRecord {
    TaskRecord {
        id: uuid::Uuid::now_v7(),
        task_type: task_type.to_owned(),
        params: json!({ "n": 1 }),
        state: TaskState::Pending,
        queue: queue.to_owned(),
        priority,
        attempt: 0,
        max_retries: 1,
        result: None,
        error: None,
        progress: None,
        created_at: Utc::now(),
        scheduled_at: at,
        started_at: None,
        finished_at: None,
        worker_id: None,
        lease_until: None,
        cancel_requested: false,
        timeout: Some(Duration::from_secs(60)),
        soft_timeout: None,
        seq: seq_for(at),
    }
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

async fn claim(backend: &dyn Backend, queue: &str, limit: usize, worker: &str) -> Vec<TaskRecord> {
    claim_at(
        backend,
        queue,
        limit,
        worker,
        now(),
        Duration::from_secs(30),
    )
    .await
}

async fn claim_at(
    backend: &dyn Backend,
    queue: &str,
    limit: usize,
    worker: &str,
    at: DateTime<Utc>,
    lease: Duration,
) -> Vec<TaskRecord> {
    backend
        .claim(ClaimRequest {
            queue,
            limit,
            worker_id: worker,
            lease,
            now: at,
        })
        .await
        .expect("claim")
}

fn ids(records: &[TaskRecord]) -> Vec<TaskId> {
    records.iter().map(|r| r.id).collect()
}

fn failure(kind: ErrorKind, message: &str) -> TaskFailure {
    TaskFailure {
        kind,
        message: message.to_owned(),
    }
}

async fn get(backend: &dyn Backend, id: TaskId) -> TaskRecord {
    backend.get(id).await.expect("get").expect("task exists")
}

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
        .release("someone-else", &[(task.id, 1)])
        .await
        .expect("release");
    assert_eq!(get(&*backend, task.id).await.state, TaskState::Running);
    backend
        .release("w", &[(task.id, 1)])
        .await
        .expect("release");
    let released = get(&*backend, task.id).await;
    assert_eq!((released.state, released.attempt), (TaskState::Pending, 0));
    assert_eq!(claim(&*backend, "q", 1, "w2").await[0].attempt, 1);
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

/// Purge removes old terminal tasks only; non-terminal states are refused.
pub async fn purge(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(10);
    let tasks: Vec<TaskRecord> = (0..3)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::milliseconds(i)))
        .collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    claim(&*backend, "q", 2, "w").await;
    let finished_at = now() - chrono::Duration::seconds(5);
    backend
        .settle(vec![
            Settlement {
                id: tasks[0].id,
                attempt: 1,
                outcome: Outcome::Finished(json!(1)),
                at: finished_at,
            },
            Settlement {
                id: tasks[1].id,
                attempt: 1,
                outcome: Outcome::Failed(failure(ErrorKind::Permanent, "x")),
                at: finished_at,
            },
        ])
        .await
        .expect("settle");
    assert!(matches!(
        backend.purge(&[TaskState::Pending], now()).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        backend
            .purge(
                &[TaskState::Finished],
                finished_at - chrono::Duration::seconds(1)
            )
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        backend
            .purge(&[TaskState::Finished], now())
            .await
            .expect("purge"),
        1
    );
    assert!(backend.get(tasks[0].id).await.expect("get").is_none());
    assert!(backend.get(tasks[1].id).await.expect("get").is_some());
    assert!(backend.get(tasks[2].id).await.expect("get").is_some());
}

/// List: newest first, filters, pagination, total.
pub async fn list_filters_and_pages(backend: Arc<dyn Backend>) {
    let base = now() - chrono::Duration::seconds(100);
    let mut all = Vec::new();
    for i in 0..25 {
        let mut r = record(
            if i % 5 == 0 { "report" } else { "analyze" },
            if i % 2 == 0 { "a" } else { "b" },
            5,
            base,
        );
        r.created_at = base + chrono::Duration::milliseconds(i * 10);
        all.push(r);
    }
    backend.enqueue(all.clone()).await.expect("enqueue");
    let page1 = backend
        .list(&TaskFilter::default(), PageRequest::new(1, 10))
        .await
        .expect("list");
    assert_eq!(page1.total, 25);
    assert_eq!(page1.items.len(), 10);
    assert_eq!(page1.items[0].id, all[24].id, "newest first");
    let page3 = backend
        .list(&TaskFilter::default(), PageRequest::new(3, 10))
        .await
        .expect("list");
    assert_eq!(
        ids(&page3.items),
        all[..5].iter().rev().map(|r| r.id).collect::<Vec<_>>()
    );
    let reports = backend
        .list(
            &TaskFilter {
                task_type: Some("report".into()),
                ..Default::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .expect("list");
    assert_eq!(reports.total, 5);
    let queue_a = backend
        .list(
            &TaskFilter {
                queue: Some("a".into()),
                state: Some(TaskState::Pending),
                ..Default::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .expect("list");
    assert_eq!(queue_a.total, 13);
    let window = backend
        .list(
            &TaskFilter {
                created_after: Some(all[10].created_at),
                created_before: Some(all[15].created_at),
                ..Default::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .expect("list");
    assert_eq!(
        ids(&window.items),
        all[10..15].iter().rev().map(|r| r.id).collect::<Vec<_>>()
    );
    let running = backend
        .list(
            &TaskFilter {
                state: Some(TaskState::Running),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .expect("list");
    assert_eq!(running.total, 0);
    // A page past any list (its offset near `u64::MAX`) is empty, not an
    // error, with or without a filter.
    for filter in [
        TaskFilter::default(),
        TaskFilter {
            task_type: Some("report".into()),
            ..Default::default()
        },
    ] {
        for page in [
            PageRequest::new(u64::MAX, PageRequest::MAX_PAGE_SIZE),
            PageRequest::new(u64::MAX / 2, 2),
            PageRequest::new((1 << 53) + 1, 1),
        ] {
            let beyond = backend.list(&filter, page).await.expect("list far page");
            assert!(beyond.items.is_empty(), "{page:?}");
            assert_eq!(
                beyond.total,
                if filter.task_type.is_some() { 5 } else { 25 }
            );
        }
    }
}

/// List filters combine (state, type, queue, creation window), and a task
/// that changes state moves between the filtered lists at once while
/// keeping its place by creation time, not by when its state changed;
/// pages are offsets into the list as it is when asked.
pub async fn list_filters_follow_state_changes(backend: Arc<dyn Backend>) {
    let base = now() - chrono::Duration::seconds(100);
    let mut all = Vec::new();
    for i in 0..6 {
        let mut r = record(if i % 2 == 0 { "x" } else { "y" }, "q", 5, base);
        r.created_at = base + chrono::Duration::milliseconds(i * 10);
        all.push(r);
    }
    // A task of another queue, to be filtered out.
    let other = record("x", "other", 5, base);
    backend.enqueue(all.clone()).await.expect("enqueue");
    backend.enqueue(vec![other.clone()]).await.expect("enqueue");
    let list = |state: Option<TaskState>, task_type: Option<&str>, page: u64, size: u64| {
        let backend = backend.clone();
        let filter = TaskFilter {
            state,
            task_type: task_type.map(str::to_owned),
            queue: Some("q".into()),
            ..TaskFilter::default()
        };
        async move {
            let got = backend
                .list(&filter, PageRequest::new(page, size))
                .await
                .expect("list");
            (got.total, ids(&got.items))
        }
    };
    let newest_first =
        |picked: &[usize]| -> Vec<TaskId> { picked.iter().rev().map(|&i| all[i].id).collect() };
    let pending = Some(TaskState::Pending);
    assert_eq!(
        list(pending, Some("x"), 1, 10).await,
        (3, newest_first(&[0, 2, 4]))
    );
    // Claim the two oldest (same priority and due time: creation order).
    let claimed = claim(&*backend, "q", 2, "w").await;
    assert_eq!(ids(&claimed), vec![all[0].id, all[1].id]);
    assert_eq!(list(pending, None, 1, 2).await, (4, newest_first(&[4, 5])));
    assert_eq!(list(pending, None, 2, 2).await, (4, newest_first(&[2, 3])));
    assert_eq!(list(pending, None, 3, 2).await, (4, vec![]));
    let running = Some(TaskState::Running);
    assert_eq!(list(running, None, 1, 10).await, (2, newest_first(&[0, 1])));
    assert_eq!(list(running, None, 2, 1).await, (2, newest_first(&[0])));
    assert_eq!(
        list(running, Some("x"), 1, 10).await,
        (1, newest_first(&[0]))
    );
    assert_eq!(list(running, Some("z"), 1, 10).await, (0, vec![]));
    backend
        .settle(vec![
            Settlement {
                id: all[0].id,
                attempt: 1,
                outcome: Outcome::Finished(json!(1)),
                at: now(),
            },
            Settlement {
                id: all[1].id,
                attempt: 1,
                outcome: Outcome::Failed(failure(ErrorKind::Permanent, "x")),
                at: now(),
            },
        ])
        .await
        .expect("settle");
    assert_eq!(list(running, None, 1, 10).await, (0, vec![]));
    let finished = Some(TaskState::Finished);
    let failed = Some(TaskState::Failed);
    assert_eq!(list(finished, None, 1, 10).await, (1, newest_first(&[0])));
    assert_eq!(list(finished, Some("y"), 1, 10).await, (0, vec![]));
    assert_eq!(
        list(failed, Some("y"), 1, 10).await,
        (1, newest_first(&[1]))
    );
    // Between two pages the newest pending task is cancelled: the second
    // page is read from the list as it is now.
    assert_eq!(list(pending, None, 1, 2).await, (4, newest_first(&[4, 5])));
    backend.cancel(all[5].id, now()).await.expect("cancel");
    assert_eq!(list(pending, None, 2, 2).await, (3, newest_first(&[2])));
    let cancelled = Some(TaskState::Cancelled);
    assert_eq!(
        list(cancelled, Some("y"), 1, 10).await,
        (1, newest_first(&[5]))
    );
    // Retried, the failed task is pending again at its creation place
    // (the oldest), not at the front.
    backend.retry(all[1].id, now()).await.expect("retry");
    assert_eq!(list(failed, None, 1, 10).await, (0, vec![]));
    assert_eq!(
        list(pending, None, 1, 10).await,
        (4, newest_first(&[1, 2, 3, 4]))
    );
    assert_eq!(
        list(pending, Some("y"), 1, 10).await,
        (2, newest_first(&[1, 3]))
    );
    assert_eq!(
        list(None, Some("x"), 1, 10).await,
        (3, newest_first(&[0, 2, 4]))
    );
    // Every filter at once, with a creation window [all[1], all[4]).
    let window = TaskFilter {
        state: pending,
        task_type: Some("y".into()),
        queue: Some("q".into()),
        created_after: Some(all[1].created_at),
        created_before: Some(all[4].created_at),
    };
    let got = backend
        .list(&window, PageRequest::new(1, 10))
        .await
        .expect("list");
    assert_eq!((got.total, ids(&got.items)), (2, newest_first(&[1, 3])));
    let got = backend
        .list(&window, PageRequest::new(2, 1))
        .await
        .expect("list");
    assert_eq!((got.total, ids(&got.items)), (2, newest_first(&[1])));
    // Without the queue filter the other queue's task counts too.
    let every_x = TaskFilter {
        state: pending,
        task_type: Some("x".into()),
        ..TaskFilter::default()
    };
    let got = backend
        .list(&every_x, PageRequest::new(1, 10))
        .await
        .expect("list");
    assert_eq!(
        (got.total, ids(&got.items)),
        (3, vec![other.id, all[4].id, all[2].id])
    );
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

/// Stores every field of a record unchanged.
pub async fn records_round_trip(backend: Arc<dyn Backend>) {
    let mut task = record("round_trip", "q", -3, now());
    task.params = json!({ "text": "<script>alert(1)</script>", "list": [1, 2.5, null] });
    task.timeout = Some(Duration::from_millis(1500));
    task.soft_timeout = Some(Duration::from_millis(700));
    task.max_retries = 7;
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let stored = get(&*backend, task.id).await;
    assert_eq!(stored.params, task.params);
    assert_eq!(
        (stored.priority, stored.max_retries, stored.seq),
        (-3, 7, task.seq)
    );
    assert_eq!(
        (stored.timeout, stored.soft_timeout),
        (task.timeout, task.soft_timeout)
    );
    assert_eq!(
        stored.created_at.timestamp_micros(),
        task.created_at.timestamp_micros()
    );
    assert_eq!(
        stored.scheduled_at.timestamp_micros(),
        task.scheduled_at.timestamp_micros()
    );
}

// ---- schedules -----------------------------------------------------------

/// The task type schedule rules submit: takes any JSON, returns it.
pub static SCHEDULED_TASK: TaskDef = TaskDef {
    name: "conformance_scheduled",
    options: TaskOptions::DEFAULT,
    params_schema: || schemars::json_schema!({}),
    validate: validate_params::<serde_json::Value>,
    handler: echo_handler,
    location: Location {
        file: file!(),
        line: line!(),
        module: module_path!(),
    },
};

fn echo_handler(_: crate::context::TaskContext, params: serde_json::Value) -> HandlerFuture {
    Box::pin(async move { Ok(params) })
}

/// A client knowing [`SCHEDULED_TASK`] only.
pub fn schedule_client(backend: Arc<dyn Backend>) -> Client {
    let registry = Registry::from_defs([&SCHEDULED_TASK]).expect("one task");
    Client::with_registry(backend, registry)
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn stored_schedule(name: &str, next: Option<DateTime<Utc>>) -> Schedule {
    let mut schedule = Schedule::new(
        ScheduleDef::interval(name, SCHEDULED_TASK.name, Duration::from_secs(60)),
        now(),
    )
    .expect("valid");
    schedule.next_run_at = next;
    schedule
}

/// A firing planned from `schedule` as read: `ticks` ticks from its next
/// run, a second apart, each task with its tick's id.
fn firing(schedule: &Schedule, next: Option<DateTime<Utc>>, ticks: i64) -> ScheduleFiring {
    let due = schedule.next_run_at.expect("due");
    ScheduleFiring {
        name: schedule.def.name.clone(),
        expected_next_run_at: Some(due),
        expected_revision: schedule.revision,
        next_run_at: next,
        fired_at: now(),
        tasks: (0..ticks)
            .map(|k| {
                let tick = due + secs(k);
                let mut task = record(SCHEDULED_TASK.name, "q", 5, tick);
                task.id = schedule.task_id_for(tick);
                task.params = schedule.def.params.clone();
                task
            })
            .collect(),
    }
}

/// How many tasks of [`SCHEDULED_TASK`]'s type the store holds.
async fn scheduled_tasks(backend: &dyn Backend) -> u64 {
    let filter = TaskFilter {
        task_type: Some(SCHEDULED_TASK.name.to_owned()),
        ..TaskFilter::default()
    };
    backend
        .list(&filter, PageRequest::new(1, 1))
        .await
        .expect("list")
        .total
}

async fn read_schedule(backend: &dyn Backend, name: &str) -> Schedule {
    backend
        .get_schedule(name)
        .await
        .expect("get")
        .expect("exists")
}

/// Create, get, list, update and delete; names are unique.
pub async fn schedule_crud(backend: Arc<dyn Backend>) {
    let a = stored_schedule("a", Some(now() + secs(60)));
    backend.create_schedule(a.clone()).await.expect("create");
    assert!(matches!(
        backend.create_schedule(a.clone()).await,
        Err(Error::ScheduleExists(name)) if name == "a"
    ));
    for name in ["c", "b"] {
        backend
            .create_schedule(stored_schedule(name, None))
            .await
            .expect("create");
    }
    let got = backend
        .get_schedule("a")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.def, a.def);
    assert!(backend.get_schedule("zz").await.expect("get").is_none());
    let page = backend
        .list_schedules(PageRequest::new(1, 2))
        .await
        .expect("list");
    assert_eq!(page.total, 3);
    let names: Vec<&str> = page.items.iter().map(|s| s.def.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let page2 = backend
        .list_schedules(PageRequest::new(2, 2))
        .await
        .expect("list");
    assert_eq!(page2.items.len(), 1);
    assert_eq!(page2.items[0].def.name, "c");

    // An update replaces the definition but not the bookkeeping.
    let fired = firing(&a, Some(now() + secs(120)), 1);
    assert!(backend.fire_schedule(fired).await.expect("fire"));
    let mut edited = a.clone();
    edited.def.description = "edited".into();
    edited.def.params = json!({ "k": [1, 2] });
    edited.next_run_at = Some(now() + secs(30));
    edited.run_count = 0;
    backend.update_schedule(&edited).await.expect("update");
    let got = backend
        .get_schedule("a")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.def.description, "edited");
    assert_eq!(got.def.params, json!({ "k": [1, 2] }));
    assert_eq!(
        got.next_run_at.map(|t| t.timestamp_micros()),
        edited.next_run_at.map(|t| t.timestamp_micros())
    );
    assert_eq!(got.run_count, 1, "bookkeeping kept");
    assert!(got.last_task_id.is_some());

    let missing = stored_schedule("missing", None);
    assert!(matches!(
        backend.update_schedule(&missing).await,
        Err(Error::ScheduleNotFound(_))
    ));
    assert!(backend.delete_schedule("b").await.expect("delete"));
    assert!(!backend.delete_schedule("b").await.expect("delete"));
    assert!(backend.get_schedule("b").await.expect("get").is_none());
}

/// Due schedules: enabled, next run reached, earliest first, limited; the
/// next due time ignores disabled ones.
pub async fn schedule_due_index(backend: Arc<dyn Backend>) {
    let t0 = now();
    let mut disabled = stored_schedule("disabled", Some(t0 - secs(50)));
    disabled.def.enabled = false;
    for schedule in [
        stored_schedule("late", Some(t0 - secs(5))),
        stored_schedule("later", Some(t0 - secs(1))),
        stored_schedule("early", Some(t0 - secs(10))),
        stored_schedule("future", Some(t0 + secs(30))),
        stored_schedule("done", None),
        disabled,
    ] {
        backend.create_schedule(schedule).await.expect("create");
    }
    let due = backend.due_schedules(t0, 10).await.expect("due");
    let names: Vec<&str> = due.iter().map(|s| s.def.name.as_str()).collect();
    assert_eq!(names, ["early", "late", "later"]);
    let due = backend.due_schedules(t0, 2).await.expect("due");
    assert_eq!(due.len(), 2);
    let next = backend
        .next_schedule_due()
        .await
        .expect("next")
        .expect("some");
    assert_eq!(next.timestamp_micros(), (t0 - secs(10)).timestamp_micros());
    for name in ["early", "late", "later"] {
        backend.delete_schedule(name).await.expect("delete");
    }
    let next = backend
        .next_schedule_due()
        .await
        .expect("next")
        .expect("some");
    assert_eq!(next.timestamp_micros(), (t0 + secs(30)).timestamp_micros());
}

/// A firing is a compare-and-set on `next_run_at` and `revision`; each
/// tick's task is queued at most once, and a refused firing queues nothing
/// new.
pub async fn schedule_fire_is_compare_and_set(backend: Arc<dyn Backend>) {
    let t0 = now();
    let schedule = stored_schedule("s", Some(t0 - secs(1)));
    backend
        .create_schedule(schedule.clone())
        .await
        .expect("create");
    let first = firing(&schedule, Some(t0 + secs(59)), 2);
    let task_ids = ids(&first.tasks);
    assert!(backend.fire_schedule(first).await.expect("fire"));
    // Another scheduler's plan from the same read: same ticks, same ids.
    let stale = firing(&schedule, Some(t0 + secs(59)), 2);
    assert!(!backend.fire_schedule(stale).await.expect("fire"));
    assert_eq!(scheduled_tasks(&*backend).await, 2, "each tick queued once");
    for id in &task_ids {
        assert_eq!(get(&*backend, *id).await.state, TaskState::Pending);
    }
    let got = read_schedule(&*backend, "s").await;
    assert_eq!(got.run_count, 2);
    assert_eq!(got.last_task_id, Some(task_ids[1]));
    assert!(got.last_run_at.is_some());
    assert_eq!(got.revision, schedule.revision, "firings are not edits");
    assert_eq!(
        got.next_run_at.map(|t| t.timestamp_micros()),
        Some((t0 + secs(59)).timestamp_micros())
    );
    // A firing with no tasks (skipped misfires) moves the schedule only.
    let skip = firing(&got, Some(t0 + secs(119)), 0);
    assert!(backend.fire_schedule(skip).await.expect("fire"));
    let got = read_schedule(&*backend, "s").await;
    assert_eq!((got.run_count, got.last_task_id), (2, Some(task_ids[1])));
    // Disabled (an edit) and missing schedules do not fire.
    let mut off = got.clone();
    off.def.enabled = false;
    backend.update_schedule(&off).await.expect("update");
    let refused = firing(&got, None, 1);
    let refused_id = refused.tasks[0].id;
    assert!(!backend.fire_schedule(refused).await.expect("fire"));
    assert!(backend.get(refused_id).await.expect("get").is_none());
    let ghost = stored_schedule("ghost", Some(t0));
    assert!(
        !backend
            .fire_schedule(firing(&ghost, None, 1))
            .await
            .expect("fire")
    );
    assert_eq!(scheduled_tasks(&*backend).await, 2);
}

/// A tick whose task is already queued (a scheduler queued it, then died
/// before moving the schedule on) fires without queueing it again, and
/// without failing.
pub async fn schedule_fire_tolerates_queued_tick(backend: Arc<dyn Backend>) {
    let schedule = stored_schedule("crashed", Some(now() - secs(1)));
    backend
        .create_schedule(schedule.clone())
        .await
        .expect("create");
    let planned = firing(&schedule, Some(now() + secs(60)), 2);
    // The first tick's task got queued; the compare-and-set never ran.
    backend
        .enqueue(planned.tasks[..1].to_vec())
        .await
        .expect("enqueue");
    let ids = ids(&planned.tasks);
    assert!(backend.fire_schedule(planned).await.expect("fire"));
    assert_eq!(scheduled_tasks(&*backend).await, 2);
    for id in ids.iter().copied() {
        assert_eq!(get(&*backend, id).await.state, TaskState::Pending);
    }
    let got = read_schedule(&*backend, "crashed").await;
    assert_eq!((got.run_count, got.last_task_id), (2, Some(ids[1])));
}

/// A batch of firings applies each one that is current, and only those.
pub async fn schedule_fire_batch_applies_current_firings(backend: Arc<dyn Backend>) {
    let t0 = now();
    let fresh = stored_schedule("fresh", Some(t0 - secs(2)));
    let stale = stored_schedule("stale", Some(t0 - secs(2)));
    for s in [&fresh, &stale] {
        backend.create_schedule(s.clone()).await.expect("create");
    }
    assert!(
        backend
            .fire_schedule(firing(&stale, Some(t0 + secs(58)), 1))
            .await
            .expect("fire")
    );
    let batch = vec![
        firing(&fresh, Some(t0 + secs(58)), 2),
        firing(&stale, Some(t0 + secs(58)), 1),
    ];
    let fresh_ids = ids(&batch[0].tasks);
    let stale_id = batch[1].tasks[0].id;
    let applied = backend.fire_schedules(batch).await.expect("fire");
    assert_eq!(applied, [true, false]);
    for id in fresh_ids {
        assert_eq!(get(&*backend, id).await.state, TaskState::Pending);
    }
    assert_eq!(get(&*backend, stale_id).await.state, TaskState::Pending);
    assert_eq!(
        scheduled_tasks(&*backend).await,
        3,
        "stale tick queued once"
    );
    assert_eq!(read_schedule(&*backend, "fresh").await.run_count, 2);
    assert_eq!(read_schedule(&*backend, "stale").await.run_count, 1);
    assert!(
        backend
            .fire_schedules(Vec::new())
            .await
            .expect("fire")
            .is_empty()
    );
}

/// One batch of current firings updates each schedule with its own values:
/// the next run and run count, and the last run and last task only where
/// the firing queued tasks.
pub async fn schedule_fire_batch_bookkeeping(backend: Arc<dyn Backend>) {
    let t0 = DateTime::from_timestamp(now().timestamp(), 0).expect("in range");
    let names = ["two", "none", "one"];
    let mut stored = Vec::new();
    for name in names {
        let schedule = stored_schedule(name, Some(t0 - secs(3)));
        backend.create_schedule(schedule).await.expect("create");
        stored.push(read_schedule(&*backend, name).await);
    }
    let batch = vec![
        firing(&stored[0], Some(t0 + secs(10)), 2),
        firing(&stored[1], Some(t0 + secs(20)), 0),
        firing(&stored[2], None, 1),
    ];
    let last_ids: Vec<Option<TaskId>> =
        batch.iter().map(|f| f.tasks.last().map(|t| t.id)).collect();
    let applied = backend.fire_schedules(batch).await.expect("fire");
    assert_eq!(applied, [true, true, true]);
    let expected = [
        (Some(t0 + secs(10)), 2),
        (Some(t0 + secs(20)), 0),
        (None, 1),
    ];
    for ((name, (next, runs)), last) in names.into_iter().zip(expected).zip(last_ids) {
        let got = read_schedule(&*backend, name).await;
        assert_eq!(
            (got.next_run_at, got.run_count, got.last_task_id),
            (next, runs, last),
            "{name}"
        );
        assert_eq!(got.last_run_at.is_some(), runs > 0, "{name}");
    }
    assert_eq!(scheduled_tasks(&*backend).await, 3);
}

/// Of many concurrent firings of one tick, exactly one applies, and the
/// tick's task is queued once.
pub async fn schedule_concurrent_firings_fire_once(backend: Arc<dyn Backend>) {
    let schedule = stored_schedule("race", Some(now() - secs(1)));
    backend
        .create_schedule(schedule.clone())
        .await
        .expect("create");
    let mut handles = Vec::new();
    for _ in 0..8 {
        let backend = backend.clone();
        let fire = firing(&schedule, Some(now() + secs(60)), 1);
        handles.push(tokio::spawn(async move {
            backend.fire_schedule(fire).await.expect("fire")
        }));
    }
    let mut applied = 0;
    for handle in handles {
        applied += usize::from(handle.await.expect("firer"));
    }
    assert_eq!(applied, 1);
    assert_eq!(scheduled_tasks(&*backend).await, 1);
    let tick = schedule.next_run_at.expect("due");
    assert_eq!(
        get(&*backend, schedule.task_id_for(tick)).await.state,
        TaskState::Pending
    );
    let got = read_schedule(&*backend, "race").await;
    assert_eq!(got.run_count, 1);
    assert_eq!(got.last_task_id, Some(schedule.task_id_for(tick)));
}

/// An edit bumps the revision; a firing planned before it is refused and
/// queues nothing, and the firing planned from the new read runs the new
/// definition.
pub async fn schedule_edit_refuses_stale_firing(backend: Arc<dyn Backend>) {
    let schedule = stored_schedule("edited", Some(now() - secs(1)));
    backend
        .create_schedule(schedule.clone())
        .await
        .expect("create");
    let before = read_schedule(&*backend, "edited").await;
    let mut edited = before.clone();
    edited.def.params = json!({ "version": 2 });
    backend.update_schedule(&edited).await.expect("update");
    let stale = firing(&before, Some(now() + secs(60)), 1);
    let id = stale.tasks[0].id;
    assert!(!backend.fire_schedule(stale).await.expect("fire"));
    assert!(
        backend.get(id).await.expect("get").is_none(),
        "nothing queued"
    );
    let after = read_schedule(&*backend, "edited").await;
    assert_eq!(after.revision, before.revision + 1);
    assert_eq!(after.run_count, 0);
    assert!(
        backend
            .fire_schedule(firing(&after, Some(now() + secs(60)), 1))
            .await
            .expect("fire")
    );
    assert_eq!(get(&*backend, id).await.params, json!({ "version": 2 }));
}

/// "Run now" queues one task with the schedule's params and records it
/// like a firing (last run, last task, run count, which `max_runs` caps),
/// enabled or not; the schedule's ticks are otherwise unchanged.
pub async fn schedule_run_now_records_the_run(backend: Arc<dyn Backend>) {
    let client = schedule_client(backend.clone());
    let next = now() + secs(600);
    let created = client
        .create_schedule(
            ScheduleDef::interval("manual", SCHEDULED_TASK.name, Duration::from_secs(600))
                .start_at(next)
                .params(json!({ "by": "hand" }))
                .queue("manual-q")
                .max_runs(2),
        )
        .await
        .expect("create");
    let first = client.run_schedule_now("manual").await.expect("run now");
    let task = get(&*backend, first).await;
    assert_eq!(
        (task.params, task.queue.as_str()),
        (json!({ "by": "hand" }), "manual-q")
    );
    let got = read_schedule(&*backend, "manual").await;
    assert_eq!((got.run_count, got.last_task_id), (1, Some(first)));
    assert!(got.last_run_at.is_some());
    assert_eq!(got.next_run_at, created.next_run_at, "its ticks unchanged");
    // Disabled, it still runs by hand; the second run reaches max_runs.
    client.disable_schedule("manual").await.expect("disable");
    let second = client.run_schedule_now("manual").await.expect("run now");
    assert_ne!(first, second);
    let got = read_schedule(&*backend, "manual").await;
    assert_eq!((got.run_count, got.last_task_id), (2, Some(second)));
    assert_eq!(scheduled_tasks(&*backend).await, 2);
    client.enable_schedule("manual").await.expect("enable");
    let got = read_schedule(&*backend, "manual").await;
    assert_eq!(got.next_run_at, None, "max_runs reached: finished");
    assert!(matches!(
        client.run_schedule_now("missing").await,
        Err(Error::ScheduleNotFound(_))
    ));
}

/// Every kind and field of a schedule is stored unchanged.
pub async fn schedule_round_trip(backend: Arc<dyn Backend>) {
    let at = now() + secs(3600);
    let defs = [
        ScheduleDef::once("once", SCHEDULED_TASK.name, at)
            .misfire(MisfirePolicy::Skip)
            .description("héllo <b>"),
        ScheduleDef::interval("every", SCHEDULED_TASK.name, Duration::from_millis(90_500))
            .start_at(at)
            .end_at(at + secs(86_400))
            .max_runs(7)
            .queue("other")
            .priority(-4)
            .misfire(MisfirePolicy::RunEach { max: 12 }),
        ScheduleDef::cron_in(
            "cron",
            SCHEDULED_TASK.name,
            "0 30 2 * * 1-5",
            "America/New_York",
        )
        .params(json!({ "a": null, "b": [1.5, "x"] }))
        .enabled(false),
    ];
    for def in defs {
        let schedule = Schedule::new(def, now()).expect("valid");
        backend
            .create_schedule(schedule.clone())
            .await
            .expect("create");
        let got = backend
            .get_schedule(&schedule.def.name)
            .await
            .expect("get")
            .expect("exists");
        let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros());
        assert_eq!(got.def.kind, schedule.def.kind);
        assert_eq!(got.def.params, schedule.def.params);
        assert_eq!(
            (
                got.def.enabled,
                got.def.max_runs,
                &got.def.queue,
                got.def.priority
            ),
            (
                schedule.def.enabled,
                schedule.def.max_runs,
                &schedule.def.queue,
                schedule.def.priority
            )
        );
        assert_eq!(got.def.misfire, schedule.def.misfire);
        assert_eq!(got.def.description, schedule.def.description);
        assert_eq!(micros(got.def.start_at), micros(schedule.def.start_at));
        assert_eq!(micros(got.def.end_at), micros(schedule.def.end_at));
        assert_eq!(micros(got.next_run_at), micros(schedule.next_run_at));
        assert_eq!(
            got.created_at.timestamp_micros(),
            schedule.created_at.timestamp_micros()
        );
        assert_eq!((got.run_count, got.last_run_at), (0, None));
    }
}

/// Three schedulers against one store (one backend handle each, all on the
/// same data), a per-second schedule over `ticks` ticks: every tick
/// submits exactly one task — no duplicates, no misses.
///
/// Takes about `ticks` seconds. Returns (ticks seen, tasks submitted).
pub async fn schedule_three_schedulers(
    label: &str,
    backends: [Arc<dyn Backend>; 3],
    ticks: u32,
) -> (usize, usize) {
    let client = schedule_client(backends[0].clone());
    let start = (now() + secs(2)).trunc_subsecs(0);
    let end = start + secs(i64::from(ticks) - 1);
    client
        .create_schedule(
            ScheduleDef::cron("every-second", SCHEDULED_TASK.name, "* * * * * *")
                .start_at(start)
                .end_at(end)
                .misfire(MisfirePolicy::RunEach { max: 100 }),
        )
        .await
        .expect("create");
    let stop = crate::CancellationToken::new();
    let mut runs = Vec::new();
    for backend in &backends {
        let scheduler = Scheduler::new(&schedule_client(backend.clone())).config(SchedulerConfig {
            // Short sleeps so all three wake for every tick and race.
            max_sleep: Duration::from_millis(200),
            sync_static: false,
            ..SchedulerConfig::default()
        });
        runs.push(tokio::spawn(scheduler.run(stop.clone())));
    }
    let wait = (end - now()).to_std().unwrap_or_default() + Duration::from_secs(3);
    tokio::time::sleep(wait).await;
    stop.cancel();
    for run in runs {
        run.await.expect("scheduler");
    }
    let mut scheduled = Vec::new();
    let filter = TaskFilter {
        task_type: Some(SCHEDULED_TASK.name.to_owned()),
        ..TaskFilter::default()
    };
    for page in 1.. {
        let got = backends[0]
            .list(&filter, PageRequest::new(page, PageRequest::MAX_PAGE_SIZE))
            .await
            .expect("list");
        if got.items.is_empty() {
            break;
        }
        scheduled.extend(got.items.iter().map(|r| r.scheduled_at.timestamp_micros()));
    }
    let tasks = scheduled.len();
    scheduled.sort_unstable();
    let distinct: HashSet<i64> = scheduled.iter().copied().collect();
    assert_eq!(distinct.len(), tasks, "{label}: a tick fired twice");
    let expected: Vec<i64> = (0..i64::from(ticks))
        .map(|k| (start + secs(k)).timestamp_micros())
        .collect();
    assert_eq!(
        scheduled, expected,
        "{label}: every tick fired once, in order"
    );
    let schedule = client.get_schedule("every-second").await.expect("get");
    assert_eq!(schedule.run_count, u64::from(ticks), "{label}: run count");
    assert_eq!(schedule.next_run_at, None, "{label}: past its end");
    (distinct.len(), tasks)
}

/// What a suite factory returns: a backend, or `None` when the backend's
/// server is not configured (the factory prints why; the test returns).
pub trait SuiteBackend {
    /// The backend to test, or `None` to skip.
    fn into_suite_backend(self) -> Option<Arc<dyn Backend>>;
}

impl SuiteBackend for Arc<dyn Backend> {
    fn into_suite_backend(self) -> Option<Arc<dyn Backend>> {
        Some(self)
    }
}

impl SuiteBackend for Option<Arc<dyn Backend>> {
    fn into_suite_backend(self) -> Option<Arc<dyn Backend>> {
        self
    }
}

/// Only ended tasks can be deleted, one at a time; others stay.
pub async fn delete_one_ended_task(backend: Arc<dyn Backend>) {
    let at = now() - chrono::Duration::seconds(1);
    let done = record("t", "q", 0, at);
    let running = record("t", "q", 0, at);
    let pending = record("t", "q", 0, at + chrono::Duration::hours(1));
    let cancelled = record("t", "q", 0, at + chrono::Duration::hours(1));
    backend
        .enqueue(vec![done.clone(), running.clone()])
        .await
        .expect("enqueue");
    backend
        .enqueue(vec![pending.clone(), cancelled.clone()])
        .await
        .expect("enqueue");
    let claimed = claim(&*backend, "q", 2, "w1").await;
    assert_eq!(claimed.len(), 2);
    backend
        .settle(vec![Settlement {
            id: done.id,
            attempt: 1,
            outcome: Outcome::Finished(json!("ok")),
            at: now(),
        }])
        .await
        .expect("settle");
    backend.cancel(cancelled.id, now()).await.expect("cancel");

    for (id, state) in [
        (pending.id, TaskState::Pending),
        (running.id, TaskState::Running),
    ] {
        match backend.delete_task(id).await {
            Err(Error::InvalidTransition {
                id: got,
                state: got_state,
                action,
            }) => assert_eq!((got, got_state, action), (id, state, "delete")),
            other => panic!("expected InvalidTransition, got {other:?}"),
        }
        assert_eq!(get(&*backend, id).await.state, state, "unchanged");
    }
    let deleted = backend.delete_task(done.id).await.expect("delete");
    assert_eq!(
        (deleted.id, deleted.state, deleted.result),
        (done.id, TaskState::Finished, Some(json!("ok")))
    );
    let deleted = backend.delete_task(cancelled.id).await.expect("delete");
    assert_eq!(deleted.state, TaskState::Cancelled);
    assert_eq!(backend.get(done.id).await.expect("get"), None);
    assert!(matches!(
        backend.delete_task(done.id).await,
        Err(Error::NotFound(id)) if id == done.id
    ));
    let left = backend
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .expect("list");
    let mut left_ids = ids(&left.items);
    left_ids.sort();
    let mut want = vec![pending.id, running.id];
    want.sort();
    assert_eq!((left.total, left_ids), (2, want));
    // The running task still settles after its neighbours went.
    let applied = backend
        .settle(vec![Settlement {
            id: running.id,
            attempt: 1,
            outcome: Outcome::Finished(json!(1)),
            at: now(),
        }])
        .await
        .expect("settle");
    assert_eq!(applied, [true]);
}

/// A worker's report as a worker would send it, expiring `ttl` from now
/// (to the microsecond, as SQL stores it).
pub fn worker_info(id: &str, ttl: chrono::Duration) -> WorkerInfo {
    let now = now().trunc_subsecs(6);
    WorkerInfo {
        id: id.to_owned(),
        host: "host-a".to_owned(),
        pid: 4242,
        queues: vec![
            WorkerQueue {
                name: "default".to_owned(),
                concurrency: 4,
            },
            WorkerQueue {
                name: "heavy".to_owned(),
                concurrency: 1,
            },
        ],
        in_flight_count: 0,
        in_flight: Vec::new(),
        state: WorkerState::Running,
        requested: None,
        started_at: now - chrono::Duration::seconds(5),
        heartbeat_at: now,
        expires_at: now + ttl,
    }
}

fn invalid_control(result: Result<WorkerInfo, Error>, expected: WorkerState) {
    match result {
        Err(Error::InvalidWorkerControl { state, .. }) => assert_eq!(state, expected),
        other => panic!("expected InvalidWorkerControl from {expected}, got {other:?}"),
    }
}

/// Register, list, heartbeat, control and deregister; the worker owns its
/// report, controls own `requested`, and register clears it.
pub async fn worker_registry(backend: Arc<dyn Backend>) {
    let ttl = chrono::Duration::seconds(30);
    assert!(backend.list_workers(now()).await.expect("list").is_empty());
    let mut a = worker_info("w-a", ttl);
    backend.register_worker(&a).await.expect("register");
    backend
        .register_worker(&worker_info("w-b", ttl))
        .await
        .expect("register");
    let listed = backend.list_workers(now()).await.expect("list");
    assert_eq!(
        listed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["w-a", "w-b"]
    );
    assert_eq!(listed[0], a, "round trip");

    // A heartbeat replaces the report.
    let running = vec![uuid::Uuid::now_v7(), uuid::Uuid::now_v7()];
    a.in_flight = running.clone();
    a.in_flight_count = 2;
    a.heartbeat_at += chrono::Duration::seconds(1);
    assert_eq!(backend.worker_heartbeat(&a).await.expect("beat"), None);
    let stored = backend.get_worker("w-a", now()).await.expect("get");
    assert_eq!(stored.as_ref(), Some(&a));

    // Controls: checked against where the worker is headed.
    let unknown = backend
        .control_worker("w-none", WorkerControl::Pause, now())
        .await;
    assert!(
        matches!(unknown, Err(Error::WorkerNotFound(ref id)) if id == "w-none"),
        "{unknown:?}"
    );
    invalid_control(
        backend
            .control_worker("w-a", WorkerControl::Resume, now())
            .await,
        WorkerState::Running,
    );
    let paused = backend
        .control_worker("w-a", WorkerControl::Pause, now())
        .await
        .expect("pause");
    assert_eq!(paused.requested, Some(WorkerState::Paused));
    assert_eq!(paused.state, WorkerState::Running, "until the worker obeys");
    invalid_control(
        backend
            .control_worker("w-a", WorkerControl::Pause, now())
            .await,
        WorkerState::Paused,
    );
    // The heartbeat hands the request over and keeps it.
    assert_eq!(
        backend.worker_heartbeat(&a).await.expect("beat"),
        Some(WorkerState::Paused)
    );
    a.state = WorkerState::Paused;
    assert_eq!(
        backend.worker_heartbeat(&a).await.expect("beat"),
        Some(WorkerState::Paused)
    );
    let stored = backend
        .get_worker("w-a", now())
        .await
        .expect("get")
        .expect("w-a");
    assert_eq!(
        (stored.state, stored.requested),
        (WorkerState::Paused, Some(WorkerState::Paused))
    );
    let resumed = backend
        .control_worker("w-a", WorkerControl::Resume, now())
        .await
        .expect("resume");
    assert_eq!(resumed.requested, Some(WorkerState::Running));
    let stopping = backend
        .control_worker("w-a", WorkerControl::Shutdown, now())
        .await
        .expect("shutdown");
    assert_eq!(stopping.requested, Some(WorkerState::Stopping));
    invalid_control(
        backend
            .control_worker("w-a", WorkerControl::Shutdown, now())
            .await,
        WorkerState::Stopping,
    );
    assert_eq!(
        backend.worker_heartbeat(&a).await.expect("beat"),
        Some(WorkerState::Stopping)
    );
    a.state = WorkerState::Stopping;
    backend.worker_heartbeat(&a).await.expect("beat");
    invalid_control(
        backend
            .control_worker("w-a", WorkerControl::Resume, now())
            .await,
        WorkerState::Stopping,
    );

    // A restart under the same id starts without the old request.
    a.state = WorkerState::Running;
    backend.register_worker(&a).await.expect("register again");
    assert_eq!(backend.worker_heartbeat(&a).await.expect("beat"), None);

    assert!(backend.deregister_worker("w-a").await.expect("deregister"));
    assert!(!backend.deregister_worker("w-a").await.expect("deregister"));
    assert_eq!(backend.get_worker("w-a", now()).await.expect("get"), None);
    let left = backend.list_workers(now()).await.expect("list");
    assert_eq!(
        left.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["w-b"]
    );
}

/// A worker past `expires_at` is listed as gone and refuses controls;
/// past [`WORKER_GONE_KEPT`] it is forgotten; a heartbeat brings it back.
pub async fn worker_registry_gone_and_forgotten(backend: Arc<dyn Backend>) {
    let kept = chrono::Duration::from_std(WORKER_GONE_KEPT).expect("kept");
    let quiet = worker_info("w-quiet", chrono::Duration::seconds(-5));
    backend.register_worker(&quiet).await.expect("register");
    let long_gone = worker_info("w-long-gone", -kept - chrono::Duration::seconds(60));
    backend.register_worker(&long_gone).await.expect("register");
    backend
        .register_worker(&worker_info("w-live", chrono::Duration::seconds(30)))
        .await
        .expect("register");

    let listed = backend.list_workers(now()).await.expect("list");
    let states: Vec<(&str, WorkerState)> =
        listed.iter().map(|w| (w.id.as_str(), w.state)).collect();
    assert_eq!(
        states,
        [
            ("w-live", WorkerState::Running),
            ("w-quiet", WorkerState::Gone)
        ]
    );
    assert_eq!(
        backend.get_worker("w-long-gone", now()).await.expect("get"),
        None
    );
    for control in [
        WorkerControl::Pause,
        WorkerControl::Resume,
        WorkerControl::Shutdown,
    ] {
        invalid_control(
            backend.control_worker("w-quiet", control, now()).await,
            WorkerState::Gone,
        );
    }
    assert!(matches!(
        backend
            .control_worker("w-long-gone", WorkerControl::Pause, now())
            .await,
        Err(Error::WorkerNotFound(_))
    ));
    // Seen from later, the quiet worker is forgotten too.
    let later = now() + kept + chrono::Duration::seconds(10);
    let listed = backend.list_workers(later).await.expect("list");
    assert!(listed.iter().all(|w| w.id != "w-quiet"), "{listed:?}");
    // It beats again: back, running.
    let back = worker_info("w-quiet", chrono::Duration::seconds(30));
    assert_eq!(backend.worker_heartbeat(&back).await.expect("beat"), None);
    let stored = backend
        .get_worker("w-quiet", now())
        .await
        .expect("get")
        .expect("back");
    assert_eq!(stored.state, WorkerState::Running);
}

/// Of many operators pausing one worker at once, exactly one succeeds.
pub async fn worker_control_is_compare_and_set(backend: Arc<dyn Backend>) {
    backend
        .register_worker(&worker_info("w-race", chrono::Duration::seconds(30)))
        .await
        .expect("register");
    let mut racers = Vec::new();
    for _ in 0..8 {
        let backend = backend.clone();
        racers.push(tokio::spawn(async move {
            backend
                .control_worker("w-race", WorkerControl::Pause, now())
                .await
        }));
    }
    let mut won = 0;
    for racer in racers {
        match racer.await.expect("join") {
            Ok(worker) => {
                assert_eq!(worker.requested, Some(WorkerState::Paused));
                won += 1;
            }
            Err(Error::InvalidWorkerControl { state, .. }) => {
                assert_eq!(state, WorkerState::Paused)
            }
            Err(err) => panic!("unexpected: {err}"),
        }
    }
    assert_eq!(won, 1);
}

/// Instantiates the suite for one backend: `conformance_suite!(name, factory)`
/// where `factory` is `|| async { … }` giving a fresh backend, as an
/// `Arc<dyn Backend>`, or as an `Option<Arc<dyn Backend>>` that is `None`
/// when a server-backed backend is not configured (see [`SuiteBackend`]).
///
/// Attributes written before the name are put on every generated test, so a
/// suite whose server is missing can show as ignored, with its reason:
/// `conformance_suite!(#[cfg_attr(taskq_no_redis, ignore = "no Redis")] redis, factory)`.
#[macro_export]
macro_rules! conformance_suite {
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_suite!(@tests [$(#[$attr])*] $factory;
                claim_order, claim_respects_limit, eta_is_respected, pause_and_resume,
                cancel_pending, cancel_running, heartbeat_reports_lost_leases, reorder,
                reorder_without_gap, reorder_across_priorities, reorder_counts_delayed_tasks,
                settle_outcomes, fencing_rejects_stale_attempts,
                settle_batch_applies_a_repeat_once,
                rescue_expired_leases, rescue_waits_the_backoff,
                release_returns_without_spending_attempt,
                retry_terminal_tasks, purge, list_filters_and_pages,
                list_filters_follow_state_changes,
                concurrent_claims_are_exclusive, enqueue_rejects_duplicate_ids,
                records_round_trip, schedule_crud, schedule_due_index,
                schedule_fire_is_compare_and_set, schedule_fire_tolerates_queued_tick,
                schedule_fire_batch_applies_current_firings,
                schedule_concurrent_firings_fire_once, schedule_edit_refuses_stale_firing,
                schedule_fire_batch_bookkeeping,
                schedule_run_now_records_the_run, schedule_round_trip, delete_one_ended_task,
                worker_registry, worker_registry_gone_and_forgotten,
                worker_control_is_compare_and_set);
        }
    };
    (@tests [$($attr:tt)*] $factory:expr;) => {};
    // One test per step: the attributes repeat inside each test, which a
    // single repetition over the tests cannot express.
    (@tests [$($attr:tt)*] $factory:expr; $test:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $test() {
            let factory = $factory;
            let Some(backend) =
                $crate::conformance::SuiteBackend::into_suite_backend(factory().await)
            else {
                return;
            };
            $crate::conformance::$test(backend).await;
        }
        $crate::conformance_suite!(@tests [$($attr)*] $factory; $($rest),*);
    };
}
