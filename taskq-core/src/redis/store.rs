//! [`Store`] on Redis: records are hashes; lists read one per-queue index
//! (creation, state, type, or state and type) by rank; stats count sorted
//! sets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fred::prelude::*;

use super::record::{self, micros};
use super::reply::{array, integer, status_reply, unexpected};
use super::{RedisBackend, scripts};
use crate::backend::{
    Page, PageRequest, PendingByType, QueueStats, Store, TaskFilter, check_purge_states,
};
use crate::error::Error;
use crate::lifecycle;
use crate::task::{Progress, TaskId, TaskRecord, TaskState, WorkflowId};
use crate::workflow::StepEnd;

/// Done entries one purge script looks at (the pass repeats until done).
const PURGE_BATCH: usize = 500;
/// The most list entries one list script returns (2^53).
const LIST_LIMIT_MAX: u64 = 1 << 53;

impl RedisBackend {
    /// Records by (queue, id), in order; missing ones (gone) left out.
    /// Running ones get their lease in a second round trip: its
    /// running-set member names the attempt the record holds.
    async fn records(&self, wanted: &[(String, TaskId)]) -> Result<Vec<TaskRecord>, Error> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.next();
        let pipeline = client.pipeline();
        for (queue, id) in wanted {
            let key = format!("{}{id}", self.queue_keys(queue).record_prefix);
            let _: () = pipeline.hgetall(key).await.map_err(Error::backend)?;
        }
        let mut records = Vec::with_capacity(wanted.len());
        let mut running = Vec::new();
        for ((queue, _), reply) in wanted.iter().zip(pipeline.try_all::<Value>().await) {
            let value = reply.map_err(Error::backend)?;
            let empty = match &value {
                Value::Array(items) => items.is_empty(),
                Value::Map(map) => map.is_empty(),
                Value::Null => true,
                _ => false,
            };
            if !empty {
                let found = record::from_value(flatten_map(value))?;
                if found.state == TaskState::Running {
                    running.push((records.len(), queue));
                }
                records.push(found);
            }
        }
        if running.is_empty() {
            return Ok(records);
        }
        let pipeline = client.pipeline();
        for &(at, queue) in &running {
            let task = &records[at];
            let _: () = pipeline
                .zscore(
                    self.queue_keys(queue).keys[2].as_str(),
                    record::running_member(task.id, task.attempt),
                )
                .await
                .map_err(Error::backend)?;
        }
        for (&(at, _), lease) in running.iter().zip(pipeline.try_all::<Value>().await) {
            record::set_lease(&mut records[at], &lease.map_err(Error::backend)?)?;
        }
        Ok(records)
    }
}

/// `HGETALL` may come back as a map (RESP3) or a flat array (RESP2).
fn flatten_map(value: Value) -> Value {
    match value {
        Value::Map(map) => Value::Array(
            map.inner()
                .into_iter()
                .flat_map(|(k, v)| [Value::from(k), v])
                .collect(),
        ),
        other => other,
    }
}

#[async_trait]
impl Store for RedisBackend {
    /// Two pipelines: the ids' queues, then each record's state field.
    async fn task_states(&self, ids: &[TaskId]) -> Result<Vec<(TaskId, TaskState)>, Error> {
        let queues = self.queues_of(ids).await?;
        let found: Vec<(TaskId, &str)> = ids
            .iter()
            .zip(&queues)
            .filter_map(|(id, queue)| queue.as_deref().map(|q| (*id, q)))
            .collect();
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.next();
        let pipeline = client.pipeline();
        for (id, queue) in &found {
            let key = format!("{}{id}", self.queue_keys(queue).record_prefix);
            let _: () = pipeline.hget(key, "state").await.map_err(Error::backend)?;
        }
        let mut states = Vec::with_capacity(found.len());
        for ((id, _), reply) in found.iter().zip(pipeline.try_all::<Value>().await) {
            if let Some(state) = reply.map_err(Error::backend)?.into_string() {
                states.push((*id, state.parse()?));
            }
        }
        Ok(states)
    }

    fn task_ends(&self) -> Option<std::sync::Arc<crate::ends::TaskEnds>> {
        Some(self.ends.clone())
    }

    async fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, Error> {
        let Some(queue) = self.queue_of(id).await? else {
            return Ok(None);
        };
        Ok(self
            .records(&[(queue.to_string(), id)])
            .await?
            .into_iter()
            .next())
    }

    async fn get_many(&self, ids: &[TaskId]) -> Result<Vec<TaskRecord>, Error> {
        let queues = self.queues_of(ids).await?;
        let wanted: Vec<(String, TaskId)> = ids
            .iter()
            .zip(queues)
            .filter_map(|(id, queue)| queue.map(|q| (q.to_string(), *id)))
            .collect();
        self.records(&wanted).await
    }

    async fn step_parents(
        &self,
        ids: &[TaskId],
        queue: Option<&str>,
    ) -> Result<Vec<StepEnd>, Error> {
        self.step_parents_of(ids, queue).await
    }

    async fn workflow_steps(&self, workflow: WorkflowId) -> Result<Vec<TaskRecord>, Error> {
        let members: Vec<String> = self
            .pool
            .next()
            .smembers(self.keys.workflow(workflow))
            .await
            .map_err(Error::backend)?;
        let ids: Vec<TaskId> = members.iter().filter_map(|m| m.parse().ok()).collect();
        self.get_many(&ids).await
    }

    async fn list(
        &self,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<Page<TaskRecord>, Error> {
        let queues = match &filter.queue {
            Some(queue) => vec![queue.clone()],
            None => self.queue_names().await?,
        };
        let min = filter
            .created_after
            .map_or_else(|| "-inf".to_owned(), micros);
        let max = filter
            .created_before
            .map_or_else(|| "+inf".to_owned(), |t| format!("({}", micros(t)));
        // One queue pages in Redis; several each give their newest
        // `offset + page_size` matches, merged here. Lua counts in
        // doubles: cap what it is asked for where they are still exact
        // (no list holds that many; a page past the end is simply empty).
        let offset = page.offset().min(LIST_LIMIT_MAX);
        let (skip, count, skip_here) = if queues.len() == 1 {
            (offset, page.page_size, 0)
        } else {
            let count = offset.saturating_add(page.page_size).min(LIST_LIMIT_MAX);
            (0, count, offset)
        };
        let metadata = if filter.metadata.is_empty() {
            String::new()
        } else {
            let pairs: Vec<(&String, &serde_json::Value)> = filter.metadata.iter().collect();
            serde_json::to_string(&pairs).map_err(Error::Serialization)?
        };
        let mut total = 0u64;
        let mut candidates: Vec<(i64, TaskId, String)> = Vec::new();
        for queue in queues {
            let reply = array(
                "list",
                self.run(
                    &scripts::LIST,
                    &queue,
                    vec![
                        min.clone(),
                        max.clone(),
                        filter
                            .state
                            .map_or_else(String::new, |s| s.as_str().to_owned()),
                        filter.task_type.clone().unwrap_or_default(),
                        skip.to_string(),
                        count.to_string(),
                        filter.schedule.clone().unwrap_or_default(),
                        metadata.clone(),
                    ]
                    .into_iter()
                    .chain(filter.tags.iter().cloned())
                    .collect(),
                )
                .await?,
            )?;
            let mut items = reply.into_iter();
            let count = items
                .next()
                .ok_or_else(|| Error::backend("list: empty reply"))?;
            total += integer("list", &count)?.max(0) as u64;
            while let (Some(created), Some(id)) = (items.next(), items.next()) {
                let created = created
                    .as_f64()
                    .ok_or_else(|| unexpected("list", &created))?;
                let id = id
                    .as_string()
                    .and_then(|s| s.parse::<TaskId>().ok())
                    .ok_or_else(|| unexpected("list", &id))?;
                candidates.push((created as i64, id, queue.clone()));
            }
        }
        candidates.sort_by_key(|c| std::cmp::Reverse((c.0, c.1)));
        let wanted: Vec<(String, TaskId)> = candidates
            .into_iter()
            .skip(usize::try_from(skip_here).unwrap_or(usize::MAX))
            .take(page.page_size as usize)
            .map(|(_, id, queue)| (queue, id))
            .collect();
        Ok(Page {
            items: self.records(&wanted).await?,
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
        let Some(queue) = self.queue_of(id).await? else {
            return Ok(false);
        };
        let progress = serde_json::to_string(&progress).map_err(Error::Serialization)?;
        let reply = self
            .run(
                &scripts::PROGRESS,
                &queue,
                vec![id.to_string(), attempt.to_string(), progress],
            )
            .await?;
        Ok(integer("progress", &reply)? == 1)
    }

    async fn delete_task(&self, id: TaskId) -> Result<TaskRecord, Error> {
        let queue = self.queue_of(id).await?.ok_or(Error::NotFound(id))?;
        let reply = self
            .run_once(&scripts::DELETE, &queue, vec![id.to_string()])
            .await?;
        let record = status_reply("delete", reply)?.into_record(id, "delete")?;
        // The id index last: while it exists a retry can still find the
        // task (and get `missing`), never a half-deleted one.
        let _: i64 = self
            .pool
            .next()
            .del(self.keys.task_queue(id))
            .await
            .map_err(Error::backend)?;
        self.forget(&[id]);
        Ok(record)
    }

    async fn purge(&self, states: &[TaskState], before: DateTime<Utc>) -> Result<u64, Error> {
        check_purge_states(states)?;
        if states.is_empty() {
            return Ok(0);
        }
        let mut deleted = 0u64;
        for queue in self.queue_names().await? {
            let mut offset = 0u64;
            loop {
                let mut args = vec![micros(before), offset.to_string(), PURGE_BATCH.to_string()];
                args.extend(states.iter().map(|s| s.as_str().to_owned()));
                let reply = array("purge", self.run(&scripts::PURGE, &queue, args).await?)?;
                if reply.len() < 3 {
                    return Err(Error::backend("purge: short reply"));
                }
                let scanned = integer("purge", &reply[0])?;
                offset += integer("purge", &reply[1])?.max(0) as u64;
                deleted += integer("purge", &reply[2])?.max(0) as u64;
                let gone: Vec<TaskId> = reply[3..]
                    .iter()
                    .filter_map(|v| v.as_string().and_then(|s| s.parse().ok()))
                    .collect();
                self.delete_task_indexes(&gone).await?;
                if scanned < PURGE_BATCH as i64 {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    async fn queue_stats(&self) -> Result<Vec<QueueStats>, Error> {
        let now_at = Utc::now();
        let now = micros(now_at);
        let mut stats = Vec::new();
        for queue in self.queue_names().await? {
            let reply = array(
                "stats",
                self.run(&scripts::STATS, &queue, vec![now.clone()]).await?,
            )?;
            let count = |i: usize| -> Result<u64, Error> {
                let value = reply
                    .get(i)
                    .ok_or_else(|| Error::backend("stats: short reply"))?;
                Ok(integer("stats", value)?.max(0) as u64)
            };
            stats.push(QueueStats {
                queue: queue.clone(),
                pending: count(0)?,
                scheduled: count(1)?,
                running: count(2)?,
                paused: count(3)? == 1,
                limit: u32::try_from(count(4)?).ok().filter(|&limit| limit > 0),
                fair: count(5)? == 1,
                ..QueueStats::default()
            });
            if let Some(stats) = stats.last_mut() {
                rate_stats(stats, reply.get(6..).unwrap_or(&[]), now_at);
            }
        }
        Ok(stats)
    }

    async fn type_limits(&self) -> Result<Vec<crate::backend::TypeLimitStats>, Error> {
        self.read_type_limits().await
    }

    async fn pending_by_type(&self) -> Result<Vec<PendingByType>, Error> {
        let mut rows = Vec::new();
        for queue in self.queue_names().await? {
            let reply = array(
                "pending types",
                self.run(&scripts::PENDING_TYPES, &queue, Vec::new())
                    .await?,
            )?;
            let mut of_queue = Vec::with_capacity(reply.len() / 2);
            for pair in reply.chunks(2) {
                let [task_type, count] = pair else {
                    return Err(Error::backend("pending types: odd reply"));
                };
                let task_type = task_type
                    .as_string()
                    .ok_or_else(|| unexpected("pending types", task_type))?;
                let count = integer("pending types", count)?.max(0) as u64;
                of_queue.push(PendingByType {
                    queue: queue.clone(),
                    task_type,
                    count,
                });
            }
            of_queue.sort_by(|a, b| a.task_type.cmp(&b.task_type));
            rows.extend(of_queue);
        }
        Ok(rows)
    }
}

/// Fills a queue's rate limit and hold from the stats script's `starts`,
/// `period` and `tat` (nil when the queue has no rate limit).
fn rate_stats(stats: &mut QueueStats, rate: &[Value], now: DateTime<Utc>) {
    let number = |i: usize| rate.get(i).and_then(|v| v.as_i64());
    let (Some(starts), Some(period)) = (number(0), number(1)) else {
        return;
    };
    let Ok(starts) = u32::try_from(starts) else {
        return;
    };
    let limit = crate::rate_limit::RateLimit::new(
        starts,
        std::time::Duration::from_micros(period.max(0) as u64),
    );
    let tat = number(2).and_then(DateTime::from_timestamp_micros);
    stats.rate_limit = Some(limit);
    stats.rate_held_until = lifecycle::rate_next_start(&limit, tat, now);
}
