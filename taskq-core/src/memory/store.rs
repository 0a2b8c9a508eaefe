//! [`Store`] for the in-memory backend: reads, progress, deletes, purges.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryBackend;
use crate::backend::{
    Page, PageRequest, PendingByType, QueueStats, Store, TaskFilter, TypeLimitStats,
    check_purge_states,
};
use crate::ends::TaskEnds;
use crate::error::Error;
use crate::lifecycle;
use crate::task::{Progress, TaskId, TaskRecord, TaskState, WorkflowId};

#[async_trait]
impl Store for MemoryBackend {
    async fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, Error> {
        Ok(self.lock().tasks.get(&id).cloned())
    }

    async fn list(
        &self,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<Page<TaskRecord>, Error> {
        let state = self.lock();
        let mut matching: Vec<&TaskRecord> = state
            .tasks
            .values()
            .filter(|r| filter.state.is_none_or(|s| r.state == s))
            .filter(|r| filter.task_type.as_ref().is_none_or(|t| &r.task_type == t))
            .filter(|r| filter.queue.as_ref().is_none_or(|q| &r.queue == q))
            .filter(|r| filter.created_after.is_none_or(|t| r.created_at >= t))
            .filter(|r| filter.created_before.is_none_or(|t| r.created_at < t))
            .filter(|r| lifecycle::has_tags(&r.tags, &filter.tags))
            .filter(|r| lifecycle::has_metadata(&r.metadata, &filter.metadata))
            .filter(|r| {
                filter
                    .schedule
                    .as_ref()
                    .is_none_or(|s| r.schedule.as_ref() == Some(s))
            })
            .collect();
        matching.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        let total = matching.len() as u64;
        let items = matching
            .into_iter()
            .skip(page.offset() as usize)
            .take(page.page_size as usize)
            .cloned()
            .collect();
        Ok(Page {
            items,
            total,
            page: page.page,
            page_size: page.page_size,
        })
    }

    async fn record_progress(
        &self,
        id: TaskId,
        attempt: u32,
        progress: Progress,
    ) -> Result<bool, Error> {
        let mut state = self.lock();
        Ok(state
            .tasks
            .get_mut(&id)
            .is_some_and(|record| lifecycle::record_progress(record, attempt, progress)))
    }

    async fn delete_task(&self, id: TaskId) -> Result<TaskRecord, Error> {
        let mut state = self.lock();
        lifecycle::check_delete(state.tasks.get(&id).ok_or(Error::NotFound(id))?)?;
        let record = state.tasks.get(&id).cloned().ok_or(Error::NotFound(id))?;
        state.remove_ended(&[id]);
        Ok(record)
    }

    async fn get_many(&self, ids: &[TaskId]) -> Result<Vec<TaskRecord>, Error> {
        let state = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| state.tasks.get(id).cloned())
            .collect())
    }

    async fn workflow_steps(&self, workflow: WorkflowId) -> Result<Vec<TaskRecord>, Error> {
        let state = self.lock();
        Ok(state
            .workflows
            .get(&workflow)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| state.tasks.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn task_states(&self, ids: &[TaskId]) -> Result<Vec<(TaskId, TaskState)>, Error> {
        let state = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| state.tasks.get(id).map(|r| (*id, r.state)))
            .collect())
    }

    fn task_ends(&self) -> Option<Arc<TaskEnds>> {
        Some(self.ends.clone())
    }

    async fn purge(&self, states: &[TaskState], before: DateTime<Utc>) -> Result<u64, Error> {
        check_purge_states(states)?;
        let mut state = self.lock();
        let doomed: Vec<TaskId> = state
            .tasks
            .values()
            .filter(|r| lifecycle::is_purged(r, states, before))
            .map(|r| r.id)
            .collect();
        Ok(state.remove_ended(&doomed) as u64)
    }

    async fn type_limits(&self) -> Result<Vec<TypeLimitStats>, Error> {
        let state = self.lock();
        let now = Utc::now();
        let mut rows: Vec<TypeLimitStats> = state
            .type_limits
            .keys()
            .chain(state.key_limits.keys())
            .chain(state.type_rates.keys())
            .chain(state.key_rates.keys())
            .map(|task_type| {
                let rate = state.type_rates.get(task_type);
                let key_rate = state.key_rates.get(task_type).copied();
                TypeLimitStats {
                    task_type: task_type.clone(),
                    limit: state.type_limits.get(task_type).copied(),
                    key_limit: state.key_limits.get(task_type).copied(),
                    rate_limit: rate.map(|(limit, _)| *limit),
                    rate_held_until: rate.and_then(|&(limit, tat)| {
                        lifecycle::RateBucket::new(limit, tat, now).next_start()
                    }),
                    key_rate_limit: key_rate,
                    held_keys: key_rate.map_or(0, |limit| {
                        state
                            .key_tats
                            .iter()
                            .filter(|((t, _), tat)| {
                                t == task_type
                                    && lifecycle::RateBucket::new(limit, Some(**tat), now)
                                        .next_start()
                                        .is_some()
                            })
                            .count() as u64
                    }),
                    ..TypeLimitStats::default()
                }
            })
            .collect();
        rows.sort_by(|a, b| a.task_type.cmp(&b.task_type));
        rows.dedup_by(|a, b| a.task_type == b.task_type);
        let mut keys: HashMap<&str, Vec<(String, u64)>> = HashMap::new();
        for record in state.running.iter().filter_map(|id| state.tasks.get(id)) {
            if let Some(row) = rows.iter_mut().find(|r| r.task_type == record.task_type) {
                row.running += 1;
                if let (Some(_), Some(key)) = (row.key_limit, &record.concurrency_key) {
                    keys.entry(record.task_type.as_str())
                        .or_default()
                        .push((key.clone(), 1));
                }
            }
        }
        for row in &mut rows {
            if let Some(counts) = keys.remove(row.task_type.as_str()) {
                row.set_key_counts(counts);
            }
        }
        Ok(rows)
    }

    async fn queue_stats(&self) -> Result<Vec<QueueStats>, Error> {
        let state = self.lock();
        let now = Utc::now();
        // Counted from the indexes, not from every record: ended records
        // cost nothing (a worker reads this at its start, under the lock
        // claims need).
        let mut stats: HashMap<&str, QueueStats> = state
            .queue_sizes
            .keys()
            .map(|queue| {
                let stats = QueueStats {
                    queue: queue.clone(),
                    ..QueueStats::default()
                };
                (queue.as_str(), stats)
            })
            .collect();
        // Pending or scheduled by the record's time against this clock,
        // whichever index holds it (a caller's clock may have filed it).
        let ready = state.ready.values().flatten().map(|order| order.3);
        let delayed = state.delayed.iter().map(|&(_, id)| id);
        for id in ready.chain(delayed).chain(state.running.iter().copied()) {
            let Some(record) = state.tasks.get(&id) else {
                continue;
            };
            let Some(entry) = stats.get_mut(record.queue.as_str()) else {
                continue;
            };
            match record.state {
                TaskState::Running => entry.running += 1,
                _ if record.scheduled_at > now => entry.scheduled += 1,
                _ => entry.pending += 1,
            }
        }
        for queue in &state.paused {
            stats
                .entry(queue)
                .or_insert_with(|| QueueStats {
                    queue: queue.clone(),
                    ..QueueStats::default()
                })
                .paused = true;
        }
        for (queue, limit) in &state.limits {
            stats
                .entry(queue)
                .or_insert_with(|| QueueStats {
                    queue: queue.clone(),
                    ..QueueStats::default()
                })
                .limit = Some(*limit);
        }
        for (queue, (limit, tat)) in &state.rates {
            let entry = stats.entry(queue).or_insert_with(|| QueueStats {
                queue: queue.clone(),
                ..QueueStats::default()
            });
            entry.rate_limit = Some(*limit);
            entry.rate_held_until = lifecycle::rate_next_start(limit, *tat, now);
        }
        for queue in state.fair.keys() {
            stats
                .entry(queue)
                .or_insert_with(|| QueueStats {
                    queue: queue.clone(),
                    ..QueueStats::default()
                })
                .fair = true;
        }
        let mut stats: Vec<QueueStats> = stats.into_values().collect();
        stats.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(stats)
    }

    async fn pending_by_type(&self) -> Result<Vec<PendingByType>, Error> {
        let state = self.lock();
        let mut rows: Vec<PendingByType> = state
            .pending_types
            .iter()
            .flat_map(|(queue, types)| {
                types.iter().map(|(task_type, &count)| PendingByType {
                    queue: queue.clone(),
                    task_type: task_type.clone(),
                    count,
                })
            })
            .collect();
        rows.sort_by(|a, b| (&a.queue, &a.task_type).cmp(&(&b.queue, &b.task_type)));
        Ok(rows)
    }
}
