//! Hooks for using Redis as the delivery path of records kept elsewhere
//! (taskq-sea's SQL records with Redis delivery): an idempotent push of
//! pending tasks, a check of which tasks Redis lacks (so a sweep sends
//! only those), and an epoch key whose disappearance tells that Redis
//! lost its data.
//!
//! Kept apart from `broker.rs`: the pure-Redis backend never calls these.

use std::sync::LazyLock;

use chrono::Utc;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::RedisBackend;
use super::record::{self, micros};
use super::reply::{array, integer, unexpected};
use super::scripts::script;
use crate::error::Error;
use crate::task::{TaskId, TaskRecord};

/// Records one push script files at most (larger pushes repeat), so no
/// single script blocks Redis for long.
const PUSH_BATCH: usize = 500;

/// ARGV[4] now; then per task: id, created (µs), priority, seq, scheduled
/// at (µs), task type, field count, fields…. Files each task as pending
/// unless Redis already has it pending or running (then it is left alone:
/// no second delivery); a terminal or missing copy is replaced. Returns
/// how many were filed.
static PUSH: LazyLock<Script> = LazyLock::new(|| script(include_str!("scripts/delivery_push.lua")));

/// ARGV[4…] task ids of the queue. Returns those Redis holds neither
/// pending nor running: what a push of them would file (see `PUSH`).
static LACKING: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/delivery_lacking.lua")));

impl RedisBackend {
    /// Makes this backend the delivery path of records kept elsewhere:
    /// that store carries a workflow step's end to its children (its
    /// waiting steps are never pushed here), so settling a step this
    /// process claimed skips the outbox entry, and the round trips that
    /// would carry it to children Redis does not hold. The rare paths
    /// that read a step from its copy (a settle by a process that did
    /// not claim it, a cancel, a rescue) still write one, carried to
    /// nobody and deleted as usual.
    pub fn into_delivery_path(mut self) -> RedisBackend {
        self.delivery_only = true;
        self
    }

    /// Which of `tasks` (id and queue) Redis holds neither pending nor
    /// running, i.e. which a [`RedisBackend::push_pending`] of their
    /// records would file. Lets a caller whose records are elsewhere
    /// read and send only those, instead of every record. Order is not
    /// kept.
    pub async fn lacking(&self, tasks: &[(TaskId, String)]) -> Result<Vec<TaskId>, Error> {
        let mut queues: Vec<&str> = Vec::new();
        for (_, queue) in tasks {
            if !queues.contains(&queue.as_str()) {
                queues.push(queue);
            }
        }
        let mut lacking = Vec::new();
        for queue in queues {
            let ids: Vec<String> = tasks
                .iter()
                .filter(|(_, q)| q == queue)
                .map(|(id, _)| id.to_string())
                .collect();
            for chunk in ids.chunks(PUSH_BATCH) {
                let reply = self.run(&LACKING, queue, chunk.to_vec()).await?;
                for id in array("lacking", reply)? {
                    let id = id
                        .as_str()
                        .and_then(|id| TaskId::parse_str(&id).ok())
                        .ok_or_else(|| unexpected("lacking", &id))?;
                    lacking.push(id);
                }
            }
        }
        Ok(lacking)
    }

    /// Files `PENDING` records for delivery, idempotently: a task Redis
    /// already holds pending or running is left as it is, a terminal or
    /// missing copy is replaced by the record. Unlike
    /// [`Broker::enqueue`](crate::Broker::enqueue) an existing id is not
    /// an error: the caller's own store decides which ids exist. Returns
    /// how many tasks were filed.
    pub async fn push_pending(&self, tasks: &[TaskRecord]) -> Result<u64, Error> {
        if tasks.is_empty() {
            return Ok(0);
        }
        let client = self.pool.next();
        // The id → queue index first, so a claim that follows the script
        // can settle; a single-key command per id (cluster slots differ).
        let pipeline = client.pipeline();
        let mut queues: Vec<&str> = Vec::new();
        for task in tasks {
            let _: () = pipeline
                .set(
                    self.keys.task_queue(task.id),
                    task.queue.as_str(),
                    None,
                    None,
                    false,
                )
                .await
                .map_err(Error::backend)?;
            if !queues.contains(&task.queue.as_str()) {
                queues.push(&task.queue);
            }
        }
        for queue in &queues {
            let _: () = pipeline
                .sadd(self.keys.queues(), *queue)
                .await
                .map_err(Error::backend)?;
        }
        for reply in pipeline.try_all::<Value>().await {
            reply.map_err(Error::backend)?;
        }
        let now = micros(Utc::now());
        let mut pushed = 0;
        for queue in queues {
            let in_queue: Vec<&TaskRecord> = tasks.iter().filter(|t| t.queue == queue).collect();
            for chunk in in_queue.chunks(PUSH_BATCH) {
                let mut args = vec![now.clone()];
                for task in chunk {
                    let fields = record::to_fields(task)?;
                    args.push(task.id.to_string());
                    args.push(micros(task.created_at));
                    args.push(task.priority.to_string());
                    args.push(task.seq.to_string());
                    args.push(micros(task.scheduled_at));
                    args.push(task.task_type.clone());
                    args.push(fields.len().to_string());
                    args.extend(fields);
                }
                let reply = self.run(&PUSH, queue, args).await?;
                pushed += integer("push", &reply)?.max(0) as u64;
            }
            self.remember(in_queue.iter().copied(), queue);
        }
        Ok(pushed)
    }

    /// The deployment's delivery epoch: an opaque value stored under
    /// `<prefix>:epoch`. Sets it to `candidate` if there is none (Redis
    /// started empty or lost its data) and returns the value now stored,
    /// so a caller that sees `candidate` back, or a value other than the
    /// one it saw before, knows Redis lost what it held.
    pub async fn delivery_epoch(&self, candidate: &str) -> Result<String, Error> {
        let key = format!("{}:epoch", self.config.prefix);
        let client = self.pool.next();
        let pipeline = client.pipeline();
        let _: () = pipeline
            .set(key.as_str(), candidate, None, Some(SetOptions::NX), false)
            .await
            .map_err(Error::backend)?;
        let _: () = pipeline.get(key.as_str()).await.map_err(Error::backend)?;
        let mut replies = pipeline.try_all::<Value>().await.into_iter();
        let _set = replies
            .next()
            .ok_or_else(|| Error::backend("epoch: short pipeline reply"))?
            .map_err(Error::backend)?;
        let current = replies
            .next()
            .ok_or_else(|| Error::backend("epoch: short pipeline reply"))?
            .map_err(Error::backend)?;
        // A `FLUSHALL` between the two commands leaves nothing: report
        // the candidate, which the caller reads as a loss.
        Ok(current
            .into_string()
            .unwrap_or_else(|| candidate.to_owned()))
    }
}
