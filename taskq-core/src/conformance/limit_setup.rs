//! What the limit rules (queue, rate, type and key limits) share: due
//! tasks in claim order, a settle, claimers racing and the wait until
//! settled tasks' slots are back.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::Barrier;

use crate::backend::{Backend, Outcome, QueueStats, Settlement, TypeLimitStats};
use crate::task::TaskRecord;

use super::helpers::*;

/// Due pending tasks of `queue`, one per `(type, concurrency key)` of
/// `tasks`, due since 10 s before `t0` a millisecond apart, enqueued in
/// claim order.
pub(super) async fn due_records_at(
    backend: &dyn Backend,
    queue: &str,
    tasks: &[(&str, Option<&str>)],
    t0: DateTime<Utc>,
) -> Vec<TaskRecord> {
    let due = t0 - secs(10);
    let records: Vec<TaskRecord> = tasks
        .iter()
        .enumerate()
        .map(|(i, (task_type, key))| {
            let mut task = record(
                task_type,
                queue,
                5,
                due + chrono::Duration::milliseconds(i as i64),
            );
            task.concurrency_key = key.map(str::to_owned);
            task
        })
        .collect();
    backend.enqueue(records.clone()).await.expect("enqueue");
    records
}

/// `n` due pending tasks of type `t` and no key in `queue`, due since
/// 10 s before `t0`.
pub(super) async fn due_tasks_at(
    backend: &dyn Backend,
    queue: &str,
    n: usize,
    t0: DateTime<Utc>,
) -> Vec<TaskRecord> {
    due_records_at(backend, queue, &vec![("t", None); n], t0).await
}

/// `n` due pending tasks of type `t` and no key in `queue`.
pub(super) async fn due_tasks(backend: &dyn Backend, queue: &str, n: usize) -> Vec<TaskRecord> {
    due_tasks_at(backend, queue, n, now()).await
}

/// The stats of `queue`, which must be listed.
pub(super) async fn stats_of(backend: &dyn Backend, queue: &str) -> QueueStats {
    backend
        .queue_stats()
        .await
        .expect("stats")
        .into_iter()
        .find(|s| s.queue == queue)
        .expect("queue listed")
}

/// Settles `task` as finished, which must apply.
pub(super) async fn finish(backend: &dyn Backend, task: &TaskRecord) {
    let applied = backend
        .settle(vec![Settlement {
            id: task.id,
            attempt: task.attempt,
            outcome: Outcome::Finished(json!(null)),
            at: now(),
        }])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true]);
}

/// Claims until one returns tasks, for at most 10 s: a slot freed by a
/// settle comes back at once on most backends, and once the settle's
/// background acknowledgement lands on SQL records with Redis delivery.
pub(super) async fn claim_when_free(
    backend: &dyn Backend,
    queue: &str,
    n: usize,
) -> Vec<TaskRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = claim(backend, queue, n, "w-late").await;
        if !got.is_empty() || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How `claimers` racing claimers claim: each is released with the others
/// and then claims `per_claim` tasks `times` times at `at`, as worker
/// `{worker}-{i}`, leased for an hour.
pub(super) struct Race {
    pub queue: &'static str,
    pub worker: String,
    pub claimers: usize,
    pub times: usize,
    pub per_claim: usize,
    pub at: DateTime<Utc>,
}

impl Race {
    /// Every task the claimers got together.
    pub(super) async fn run(&self, backend: &Arc<dyn Backend>) -> Vec<TaskRecord> {
        let barrier = Arc::new(Barrier::new(self.claimers));
        let mut handles = Vec::new();
        for i in 0..self.claimers {
            let backend = backend.clone();
            let barrier = barrier.clone();
            let worker = format!("{}-{i}", self.worker);
            let Race {
                queue,
                times,
                per_claim,
                at,
                ..
            } = *self;
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                let mut got = Vec::new();
                for _ in 0..times {
                    let lease = Duration::from_secs(3600);
                    got.extend(claim_at(&*backend, queue, per_claim, &worker, at, lease).await);
                }
                got
            }));
        }
        let mut claimed = Vec::new();
        for handle in handles {
            claimed.extend(handle.await.expect("claimer"));
        }
        claimed
    }
}

/// Waits, for at most 10 s, until a claim of `n` tasks of `queue` gets
/// all `n` (each released at once): the settled tasks' slots are back.
pub(super) async fn assert_slots_come_back(
    backend: &dyn Backend,
    queue: &str,
    n: usize,
    round: usize,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let probe = claim(backend, queue, n, "probe").await;
        let full = probe.len() == n;
        for task in &probe {
            backend
                .release("probe", &[(task.id, task.attempt)], now())
                .await
                .expect("release");
        }
        if full || tokio::time::Instant::now() >= deadline {
            assert!(full, "round {round}: the settled tasks' slots came back");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stored limits of `task_type` with its running count, if it has any.
pub(super) async fn limit_row(backend: &dyn Backend, task_type: &str) -> Option<TypeLimitStats> {
    backend
        .type_limits()
        .await
        .expect("type limits")
        .into_iter()
        .find(|row| row.task_type == task_type)
}
