//! One warning at start for each queue this worker serves that holds
//! pending tasks no live worker has a handler for (this one included).
//!
//! A worker claims only the task types its binary links, so such tasks
//! wait without a sound: the worker's own polls never see them. The
//! check runs once per [`Worker::run`](super::Worker::run), after the
//! worker registered, not per poll: what comes later shows as
//! `QueueStats::unclaimable` (the dashboard's warning, the
//! `taskq_queue_unclaimable` metric), read from the same place
//! ([`crate::coverage`]).

use tracing::{debug, warn};

use crate::backend::{Backend, QueueStats};

/// Warns for each of `queues` whose pending tasks include types no live
/// worker serving it can run; returns those queues' stats. A failed read is
/// left to the loops that will meet the same backend.
pub(super) async fn warn_unserved(backend: &dyn Backend, queues: &[String]) -> Vec<QueueStats> {
    let stats = match crate::coverage::queue_stats(backend).await {
        Ok(stats) => stats,
        Err(err) => {
            debug!(error = %err, "could not check for pending tasks without a handler");
            return Vec::new();
        }
    };
    let unserved: Vec<QueueStats> = stats
        .into_iter()
        .filter(|q| q.unclaimable > 0 && queues.contains(&q.queue))
        .collect();
    for queue in &unserved {
        let types: Vec<&str> = queue
            .unclaimable_types
            .iter()
            .map(|t| t.task_type.as_str())
            .collect();
        warn!(
            queue = %queue.queue,
            task_types = ?types,
            pending = queue.unclaimable,
            "pending tasks of types no live worker has a handler for: they wait until a \
             worker whose binary links their crate serves this queue"
        );
    }
    unserved
}
