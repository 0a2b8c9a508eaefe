//! Which pending work the live workers can take: the `live_workers` and
//! `unclaimable` fields of [`QueueStats`].
//!
//! A worker claims only the task types it has handlers for (the types its
//! binary links), so a task whose type no live worker serving its queue
//! runs waits — correctly, but invisibly unless someone says so. This is
//! where that is said, once for every backend: the backend answers two
//! cheap questions, [`Store::pending_by_type`] (read from its index of
//! pending tasks) and [`WorkerRegistry::list_workers`], and the join of
//! the two is plain code here.
//!
//! Cost per [`Client::queue_stats`](crate::Client::queue_stats) call, on
//! top of the counts: one read of the worker registry, and the pending
//! counts per type — on SQL one `GROUP BY queue, task_type` over the
//! pending rows (found through the state index, so it follows the pending
//! tasks, not every record); on Redis one script per queue doing a `ZCARD`
//! per task type of the queue's per-state-and-type index (no task is
//! read); in memory a walk of the pending indexes.

use std::collections::BTreeMap;

use chrono::Utc;

use crate::backend::{Backend, PendingByType, QueueStats, TypeCount, WorkerInfo};
#[cfg(doc)]
use crate::backend::{Store, WorkerRegistry};
use crate::error::Error;

/// [`Store::queue_stats`] with
/// `live_workers` and the `unclaimable` fields filled from the backend's
/// workers as seen now. The three reads are separate calls, so a task
/// submitted or claimed meanwhile may show in one and not another until
/// the next call.
pub async fn queue_stats(backend: &dyn Backend) -> Result<Vec<QueueStats>, Error> {
    let mut stats = backend.queue_stats().await?;
    let pending = backend.pending_by_type().await?;
    let workers = backend.list_workers(Utc::now()).await?;
    fill_unclaimable(&mut stats, &pending, &workers);
    Ok(stats)
}

/// Sets, on each of `stats`, the live workers serving its queue and the
/// pending tasks of `pending` that none of them has a handler for
/// (all of the queue's pending tasks when no live worker serves it).
/// Queues of `pending` missing from `stats` are left out.
pub fn fill_unclaimable(
    stats: &mut [QueueStats],
    pending: &[PendingByType],
    workers: &[WorkerInfo],
) {
    let mut unclaimable: BTreeMap<&str, Vec<TypeCount>> = BTreeMap::new();
    for row in pending {
        let takers = workers
            .iter()
            .any(|w| w.can_take(&row.queue, &row.task_type));
        if !takers && row.count > 0 {
            unclaimable.entry(&row.queue).or_default().push(TypeCount {
                task_type: row.task_type.clone(),
                count: row.count,
            });
        }
    }
    for queue in stats.iter_mut() {
        queue.live_workers = workers
            .iter()
            .filter(|w| w.is_live() && w.queues.iter().any(|q| q.name == queue.queue))
            .count() as u64;
        let mut types = unclaimable.remove(queue.queue.as_str()).unwrap_or_default();
        types.sort_by(|a, b| a.task_type.cmp(&b.task_type));
        queue.unclaimable = types.iter().map(|t| t.count).sum();
        queue.unclaimable_types = types;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{WorkerQueue, WorkerState};

    fn worker(state: WorkerState, queues: &[&str], types: &[&str]) -> WorkerInfo {
        let now = Utc::now();
        WorkerInfo {
            id: format!("w-{state}"),
            host: "h".to_owned(),
            pid: 1,
            queues: queues
                .iter()
                .map(|q| WorkerQueue {
                    name: (*q).to_owned(),
                    concurrency: 1,
                })
                .collect(),
            task_types: types.iter().map(|t| (*t).to_owned()).collect(),
            in_flight_count: 0,
            in_flight: Vec::new(),
            state,
            requested: None,
            started_at: now,
            heartbeat_at: now,
            expires_at: now,
        }
    }

    fn pending(queue: &str, task_type: &str, count: u64) -> PendingByType {
        PendingByType {
            queue: queue.to_owned(),
            task_type: task_type.to_owned(),
            count,
        }
    }

    fn stats(queues: &[&str]) -> Vec<QueueStats> {
        queues
            .iter()
            .map(|q| QueueStats {
                queue: (*q).to_owned(),
                ..QueueStats::default()
            })
            .collect()
    }

    fn types(stats: &QueueStats) -> Vec<(&str, u64)> {
        stats
            .unclaimable_types
            .iter()
            .map(|t| (t.task_type.as_str(), t.count))
            .collect()
    }

    #[test]
    fn stats_without_workers_count_every_pending_task() {
        let mut s = stats(&["q"]);
        fill_unclaimable(&mut s, &[pending("q", "b", 2), pending("q", "a", 1)], &[]);
        assert_eq!((s[0].live_workers, s[0].unclaimable), (0, 3));
        assert_eq!(types(&s[0]), [("a", 1), ("b", 2)]);
    }

    #[test]
    fn stats_count_types_only_live_workers_of_the_queue_run() {
        let workers = [
            worker(WorkerState::Running, &["q"], &["a"]),
            // Paused still counts: it resumes and claims.
            worker(WorkerState::Paused, &["q", "r"], &["c"]),
            // Neither stopping nor gone workers will claim again.
            worker(WorkerState::Stopping, &["q"], &["b"]),
            worker(WorkerState::Gone, &["q"], &["b"]),
            // Has `b`, but serves another queue.
            worker(WorkerState::Running, &["r"], &["b"]),
        ];
        let mut s = stats(&["q", "r", "idle"]);
        let rows = [
            pending("q", "a", 4),
            pending("q", "b", 2),
            pending("q", "c", 1),
            pending("r", "b", 5),
            pending("r", "d", 1),
            pending("elsewhere", "a", 1),
        ];
        fill_unclaimable(&mut s, &rows, &workers);
        assert_eq!((s[0].live_workers, s[0].unclaimable), (2, 2));
        assert_eq!(types(&s[0]), [("b", 2)]);
        assert_eq!((s[1].live_workers, s[1].unclaimable), (2, 1));
        assert_eq!(types(&s[1]), [("d", 1)]);
        assert_eq!((s[2].live_workers, s[2].unclaimable), (0, 0));
        assert!(s[2].unclaimable_types.is_empty());
    }
}
