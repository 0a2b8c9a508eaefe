//! What this process remembers of the tasks it claimed (their queue, type
//! and creation time), so settle and heartbeat skip a lookup, and the
//! id-index lookups for the rest.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};

use fred::prelude::*;

use super::permits::Permit;
use super::{AttemptStart, Claimed, RedisBackend};
use crate::error::Error;
use crate::task::{TaskId, TaskState};

/// Entries `claimed` keeps at most (beyond, it starts over).
const CLAIMED_CACHE_MAX: usize = 100_000;

impl Claimed {
    /// `SETTLE`'s started_at and worker_id of `attempt`: known when this
    /// process claimed that attempt of a record without history, else `''`.
    pub(super) fn first_attempt_args(&self, attempt: u32) -> [String; 2] {
        match self.first_attempt.as_ref().filter(|a| a.attempt == attempt) {
            Some(a) => [a.started_at.to_string(), a.worker_id.to_string()],
            None => Default::default(),
        }
    }
}

impl RedisBackend {
    pub(super) fn cache(&self) -> MutexGuard<'_, HashMap<TaskId, Claimed>> {
        self.claimed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps what settle wants of tasks of `queue` just claimed (or pushed).
    pub(super) fn remember<'a>(
        &self,
        tasks: impl IntoIterator<Item = &'a crate::task::TaskRecord>,
        queue: &str,
    ) {
        let queue: Arc<str> = Arc::from(queue);
        // One shared name per type in the batch (usually one), and per
        // worker (one).
        let mut types: Vec<Arc<str>> = Vec::new();
        let mut workers: Vec<Arc<str>> = Vec::new();
        let mut cache = self.cache();
        if cache.len() >= CLAIMED_CACHE_MAX {
            cache.clear();
        }
        for task in tasks {
            let task_type = match types.iter().find(|t| ***t == *task.task_type) {
                Some(known) => known.clone(),
                None => {
                    let name: Arc<str> = Arc::from(task.task_type.as_str());
                    types.push(name.clone());
                    name
                }
            };
            // A claimed attempt (pushed tasks are pending) of a record
            // with no history yet.
            let first_attempt = match (&task.worker_id, task.started_at) {
                (Some(worker), Some(started))
                    if task.state == TaskState::Running && task.attempts.is_empty() =>
                {
                    let worker_id = match workers.iter().find(|w| ***w == **worker) {
                        Some(known) => known.clone(),
                        None => {
                            let name: Arc<str> = Arc::from(worker.as_str());
                            workers.push(name.clone());
                            name
                        }
                    };
                    Some(AttemptStart {
                        attempt: task.attempt,
                        started_at: started.timestamp_micros(),
                        worker_id,
                    })
                }
                _ => None,
            };
            cache.insert(
                task.id,
                Claimed {
                    queue: queue.clone(),
                    task_type,
                    created: task.created_at.timestamp_micros(),
                    children: !self.delivery_only
                        && task.step.as_ref().is_some_and(|s| !s.children.is_empty()),
                    first_attempt,
                    permit: None,
                },
            );
        }
    }

    /// Notes the permits just claimed tasks hold (`permits.rs`), so their
    /// settle, release and heartbeat return or extend them.
    pub(super) fn hold_permits(&self, permits: Vec<Permit>) {
        if permits.is_empty() {
            return;
        }
        let mut cache = self.cache();
        for permit in permits {
            let id = permit.member.split_once(':').map(|(id, _)| id);
            let Some(id) = id.and_then(|id| id.parse::<TaskId>().ok()) else {
                continue;
            };
            if let Some(entry) = cache.get_mut(&id) {
                entry.permit = Some(permit);
            }
        }
    }

    /// The permits of `ids` this process holds; `take` also forgets them
    /// (their tasks are released).
    pub(super) fn permits_of(&self, ids: &[TaskId], take: bool) -> Vec<Option<Permit>> {
        let mut cache = self.cache();
        ids.iter()
            .map(|id| {
                let entry = cache.get_mut(id)?;
                if take {
                    entry.permit.take()
                } else {
                    entry.permit.clone()
                }
            })
            .collect()
    }

    /// Takes the entries of settled tasks out, returning what this
    /// process remembers of each one it claimed.
    pub(super) fn forget(&self, ids: &[TaskId]) -> Vec<Option<Claimed>> {
        let mut cache = self.cache();
        ids.iter().map(|id| cache.remove(id)).collect()
    }

    /// The queue of each task (`None`: no such task), from the cache or
    /// the index (one pipelined round trip for the misses).
    pub(super) async fn queues_of(&self, ids: &[TaskId]) -> Result<Vec<Option<Arc<str>>>, Error> {
        let mut found: Vec<Option<Arc<str>>> = {
            let cache = self.cache();
            ids.iter()
                .map(|id| cache.get(id).map(|c| c.queue.clone()))
                .collect()
        };
        let missing: Vec<usize> = (0..ids.len()).filter(|&i| found[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let client = self.pool.next();
        let pipeline = client.pipeline();
        for &i in &missing {
            let _: () = pipeline
                .get(self.keys.task_queue(ids[i]))
                .await
                .map_err(Error::backend)?;
        }
        let replies: Vec<Result<Value, fred::error::Error>> = pipeline.try_all().await;
        for (&i, reply) in missing.iter().zip(replies) {
            found[i] = reply.map_err(Error::backend)?.into_string().map(Arc::from);
        }
        Ok(found)
    }

    pub(super) async fn queue_of(&self, id: TaskId) -> Result<Option<Arc<str>>, Error> {
        Ok(self.queues_of(&[id]).await?.pop().flatten())
    }

    /// Every queue name seen.
    pub(super) async fn queue_names(&self) -> Result<Vec<String>, Error> {
        let mut names: Vec<String> = self
            .pool
            .next()
            .smembers(self.keys.queues())
            .await
            .map_err(Error::backend)?;
        names.sort();
        Ok(names)
    }
}
