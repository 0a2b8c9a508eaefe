//! Storing new tasks on Redis: the id index first (one `MSETNX` for a
//! submit's batch, or `SET NX` per task, so a batch spanning queues
//! refuses an existing id before any record is written), then one
//! `ENQUEUE` script per queue.

use std::sync::Arc;

use chrono::Utc;
use fred::clients::Pipeline;
use fred::prelude::*;

use super::record::{self, micros};
use super::reply::{array, by_queue};
use super::{RedisBackend, scripts};
use crate::backend::Enqueued;
use crate::error::Error;
use crate::lifecycle;
use crate::task::{TaskId, TaskRecord, TaskState};

/// How [`RedisBackend::enqueue_records`] treats ids already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EnqueueMode {
    /// Refuse the batch.
    Strict,
    /// Skip those tasks.
    Missing,
}

impl EnqueueMode {
    fn as_arg(self) -> &'static str {
        match self {
            EnqueueMode::Strict => "strict",
            EnqueueMode::Missing => "missing",
        }
    }
}

impl RedisBackend {
    /// Stores new pending tasks. [`EnqueueMode::Strict`] (a submit) fails
    /// the whole batch if any id exists; [`EnqueueMode::Missing`] (a
    /// schedule's tick tasks, whose ids are the ticks') skips the ids
    /// already stored, so queueing a tick again is harmless.
    pub(super) async fn enqueue_records(
        &self,
        tasks: Vec<TaskRecord>,
        mode: EnqueueMode,
    ) -> Result<Enqueued, Error> {
        if tasks.is_empty() {
            return Ok(Enqueued::ALL);
        }
        // `lifecycle::check_new_ids`: repeats first, then the stored ids
        // the `SET NX` below finds.
        lifecycle::check_batch_ids(&tasks)?;
        let queues: Vec<Option<Arc<str>>> = tasks
            .iter()
            .map(|t| Some(Arc::from(t.queue.as_str())))
            .collect();
        let groups = by_queue(&queues);
        // Waiting workflow steps are written first, in every queue: a
        // parent must not end (and carry its end, see `workflow.rs`)
        // before its children exist.
        let of_state = |waiting: bool| -> Vec<Option<Arc<str>>> {
            queues
                .iter()
                .zip(&tasks)
                .map(|(q, t)| {
                    q.clone()
                        .filter(|_| (t.state == TaskState::Waiting) == waiting)
                })
                .collect()
        };
        let mut writes = by_queue(&of_state(true));
        writes.extend(by_queue(&of_state(false)));
        let client = self.pool.next();
        // The index first: in strict mode an id any queue already has
        // fails the whole batch before a record is written (scripts are
        // atomic per queue only), and in either mode a record is never
        // without its index entry, even if this process dies between the
        // two steps. One `MSETNX` (all or nothing) where the keys may
        // share a command (not on a cluster): one command, not one per
        // task. When it finds an id, the `SET NX` path below names it.
        if mode == EnqueueMode::Strict && !client.is_clustered() {
            let pairs: Vec<(String, &str)> = tasks
                .iter()
                .map(|t| (self.keys.task_queue(t.id), t.queue.as_str()))
                .collect();
            let pipeline = client.pipeline();
            let _: () = pipeline.msetnx(pairs).await.map_err(Error::backend)?;
            self.add_to_sets(&pipeline, &tasks, &groups).await?;
            let mut replies = pipeline.try_all::<Value>().await.into_iter();
            let set = replies
                .next()
                .ok_or_else(|| Error::backend("enqueue: short pipeline reply"))?
                .map_err(Error::backend)?;
            for reply in replies {
                reply.map_err(Error::backend)?;
            }
            if set.as_i64() == Some(1) {
                return self.write_records(&tasks, writes, mode).await;
            }
        }
        let pipeline = client.pipeline();
        for task in &tasks {
            let _: () = pipeline
                .set(
                    self.keys.task_queue(task.id),
                    task.queue.as_str(),
                    None,
                    Some(SetOptions::NX),
                    true,
                )
                .await
                .map_err(Error::backend)?;
        }
        self.add_to_sets(&pipeline, &tasks, &groups).await?;
        let mut replies = pipeline.try_all::<Value>().await.into_iter();
        let mut existing = None;
        let mut claimed = Vec::with_capacity(tasks.len());
        for task in &tasks {
            let reply = replies
                .next()
                .ok_or_else(|| Error::backend("enqueue: short pipeline reply"))?;
            match reply.map_err(Error::backend)? {
                Value::Null => claimed.push(task.id),
                _ => existing = existing.or(Some(task.id)),
            }
        }
        for reply in replies {
            reply.map_err(Error::backend)?;
        }
        if let (EnqueueMode::Strict, Some(id)) = (mode, existing) {
            // Undo this call's index entries; the batch changes nothing.
            self.delete_task_indexes(&claimed).await?;
            return Err(lifecycle::id_exists(id));
        }
        self.write_records(&tasks, writes, mode).await
    }

    /// The sets a new task joins beside its id index: its workflow's
    /// steps (a step) and the queue names.
    async fn add_to_sets(
        &self,
        pipeline: &Pipeline<Client>,
        tasks: &[TaskRecord],
        groups: &[(Arc<str>, Vec<usize>)],
    ) -> Result<(), Error> {
        for task in tasks {
            if let Some(step) = &task.step {
                let _: () = pipeline
                    .sadd(self.keys.workflow(step.workflow), task.id.to_string())
                    .await
                    .map_err(Error::backend)?;
            }
        }
        for (queue, _) in groups {
            let _: () = pipeline
                .sadd(self.keys.queues(), queue.as_ref())
                .await
                .map_err(Error::backend)?;
        }
        Ok(())
    }

    /// The `ENQUEUE` scripts of tasks whose ids are indexed: `writes`,
    /// their positions per queue.
    async fn write_records(
        &self,
        tasks: &[TaskRecord],
        writes: Vec<(Arc<str>, Vec<usize>)>,
        mode: EnqueueMode,
    ) -> Result<Enqueued, Error> {
        let now = micros(Utc::now());
        let mut enqueued = Enqueued::ALL;
        for (queue, positions) in writes {
            let mut args = vec![now.clone(), mode.as_arg().to_owned()];
            for &i in &positions {
                let task = &tasks[i];
                let fields = record::to_fields(task)?;
                let lock = task
                    .unique
                    .as_ref()
                    .map_or_else(String::new, |u| self.keys.unique(&queue, &u.key));
                args.extend([
                    lock,
                    task.expires_at.map(micros).unwrap_or_default(),
                    match task.fair_round {
                        0 => String::new(),
                        round => round.to_string(),
                    },
                    fields.len().to_string(),
                ]);
                args.extend(fields);
            }
            let reply = self.run_once(&scripts::ENQUEUE, &queue, args).await?;
            let mut pairs = array("enqueue", reply)?.into_iter();
            while let (Some(at), Some(holder)) = (pairs.next(), pairs.next()) {
                let at = at
                    .as_usize()
                    .and_then(|at| positions.get(at).copied())
                    .ok_or_else(|| Error::backend("enqueue: bad duplicate position"))?;
                let holder = holder
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .ok_or_else(|| Error::backend("enqueue: bad holder id"))?;
                enqueued.duplicates.push((at, holder));
            }
        }
        // A duplicate was not stored: its id stays free.
        enqueued.duplicates.sort_unstable();
        let unstored: Vec<TaskId> = enqueued
            .duplicates
            .iter()
            .map(|&(at, _)| tasks[at].id)
            .collect();
        self.delete_task_indexes(&unstored).await?;
        Ok(enqueued)
    }
}
