//! [`Store`], [`ScheduleStore`] and [`WorkerRegistry`] for
//! [`SeaRedisBackend`]: records, schedules and the worker registry are
//! SQL's; Redis receives the tasks schedules fire, and carries the
//! announcements of schedule writes and worker controls to every process.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use taskq_core::backend::{
    Page, PageRequest, PendingByType, QueueStats, ScheduleStore, Store, TaskFilter, WorkerControl,
    WorkerInfo, WorkerRegistry, WorkerState,
};
use taskq_core::schedule::{Schedule, ScheduleFiring};
use taskq_core::throughput::MinuteCounts;
use taskq_core::{Error, Progress, TaskId, TaskRecord, TaskState, WorkflowId};
use tokio::sync::Notify;

use super::SeaRedisBackend;

#[async_trait]
impl Store for SeaRedisBackend {
    async fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, Error> {
        self.sql.get(id).await
    }

    async fn get_many(&self, ids: &[TaskId]) -> Result<Vec<TaskRecord>, Error> {
        self.sql.get_many(ids).await
    }

    async fn workflow_steps(&self, workflow: WorkflowId) -> Result<Vec<TaskRecord>, Error> {
        self.sql.workflow_steps(workflow).await
    }

    /// SQL's answer: the records are there.
    async fn task_states(&self, ids: &[TaskId]) -> Result<Vec<(TaskId, TaskState)>, Error> {
        self.sql.task_states(ids).await
    }

    /// Redis's hub: every task that ends is acknowledged in Redis after
    /// SQL committed it (settle, cancel, release, rescue), and Redis's
    /// scripts' callers announce it on the ended channel to every
    /// process, whatever the SQL database. What Redis does not hold (it
    /// lost the copy) is caught by the fallback poll, which reads SQL.
    fn task_ends(&self) -> Option<Arc<taskq_core::ends::TaskEnds>> {
        self.redis.task_ends()
    }

    /// The records' schema; Redis has none.
    async fn migrate(&self) -> Result<(), Error> {
        self.sql.migrate().await
    }

    async fn list(
        &self,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<Page<TaskRecord>, Error> {
        self.sql.list(filter, page).await
    }

    async fn record_progress(
        &self,
        id: TaskId,
        attempt: u32,
        progress: Progress,
    ) -> Result<bool, Error> {
        self.sql.record_progress(id, attempt, progress).await
    }

    async fn delete_task(&self, id: TaskId) -> Result<TaskRecord, Error> {
        // Redis's copy of an ended task expires with its retention.
        self.sql.delete_task(id).await
    }

    async fn purge(&self, states: &[TaskState], before: DateTime<Utc>) -> Result<u64, Error> {
        let purged = self.sql.purge(states, before).await?;
        self.purge_copies(before).await;
        Ok(purged)
    }

    /// SQL's counts and settings; a rate limit's bucket is Redis's (the
    /// claims spend it there), so its hold is read from Redis.
    /// SQL's rows: the stored limits and the records' running counts; a
    /// rate limit's buckets are Redis's (the claims spend them there), so
    /// its holds are read from Redis.
    async fn type_limits(&self) -> Result<Vec<taskq_core::backend::TypeLimitStats>, Error> {
        let mut rows = self.sql.type_limits().await?;
        if rows
            .iter()
            .any(|r| r.rate_limit.is_some() || r.key_rate_limit.is_some())
        {
            let redis = self.redis.type_limits().await?;
            for row in &mut rows {
                if let Some(held) = redis.iter().find(|r| r.task_type == row.task_type) {
                    row.rate_held_until = held.rate_held_until;
                    row.held_keys = held.held_keys;
                }
            }
        }
        Ok(rows)
    }

    async fn queue_stats(&self) -> Result<Vec<QueueStats>, Error> {
        let mut stats = self.sql.queue_stats().await?;
        if stats.iter().any(|s| s.rate_limit.is_some()) {
            let redis = self.redis.queue_stats().await?;
            for s in stats.iter_mut().filter(|s| s.rate_limit.is_some()) {
                s.rate_held_until = redis
                    .iter()
                    .find(|r| r.queue == s.queue)
                    .and_then(|r| r.rate_held_until);
            }
        }
        Ok(stats)
    }

    async fn pending_by_type(&self) -> Result<Vec<PendingByType>, Error> {
        // The records are SQL's; Redis holds a copy of the pending ones.
        self.sql.pending_by_type().await
    }
}

#[async_trait]
impl ScheduleStore for SeaRedisBackend {
    async fn create_schedule(&self, schedule: Schedule) -> Result<(), Error> {
        let name = schedule.def.name.clone();
        self.sql.create_schedule(schedule).await?;
        self.redis.schedules_changed(&name).await;
        Ok(())
    }

    async fn update_schedule(&self, schedule: &Schedule) -> Result<(), Error> {
        self.sql.update_schedule(schedule).await?;
        self.redis.schedules_changed(&schedule.def.name).await;
        Ok(())
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool, Error> {
        let deleted = self.sql.delete_schedule(name).await?;
        if deleted {
            self.redis.schedules_changed(name).await;
        }
        Ok(deleted)
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>, Error> {
        self.sql.get_schedule(name).await
    }

    async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>, Error> {
        self.sql.list_schedules(page).await
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Schedule>, Error> {
        self.sql.due_schedules(now, limit).await
    }

    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, Error> {
        self.sql.next_schedule_due().await
    }

    async fn fire_schedules(&self, firings: Vec<ScheduleFiring>) -> Result<Vec<bool>, Error> {
        let tasks: Vec<Vec<TaskId>> = firings
            .iter()
            .map(|f| f.tasks.iter().map(|t| t.id).collect())
            .collect();
        let applied = self.sql.fire_schedules(firings).await?;
        let fired: Vec<TaskId> = tasks
            .into_iter()
            .zip(&applied)
            .filter(|(_, applied)| **applied)
            .flat_map(|(tasks, _)| tasks)
            .collect();
        // SQL's records: a tick's task may have been stored (and even run)
        // by an earlier, interrupted firing.
        self.push_pending_of(&fired).await;
        Ok(applied)
    }

    /// Redis's: every schedule write through a `SeaRedisBackend` is
    /// announced over Redis pub/sub, whatever the SQL database (writes
    /// made through a plain `SeaBackend` are seen at the next poll).
    fn schedule_signal(&self) -> Option<Arc<Notify>> {
        ScheduleStore::schedule_signal(&*self.redis)
    }
}

#[async_trait]
impl WorkerRegistry for SeaRedisBackend {
    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), Error> {
        self.sql.register_worker(worker).await
    }

    async fn worker_heartbeat(&self, worker: &WorkerInfo) -> Result<Option<WorkerState>, Error> {
        self.sql.worker_heartbeat(worker).await
    }

    async fn deregister_worker(&self, id: &str) -> Result<bool, Error> {
        self.sql.deregister_worker(id).await
    }

    async fn list_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerInfo>, Error> {
        self.sql.list_workers(now).await
    }

    async fn get_worker(&self, id: &str, now: DateTime<Utc>) -> Result<Option<WorkerInfo>, Error> {
        self.sql.get_worker(id, now).await
    }

    async fn control_worker(
        &self,
        id: &str,
        control: WorkerControl,
        now: DateTime<Utc>,
    ) -> Result<WorkerInfo, Error> {
        let worker = self.sql.control_worker(id, control, now).await?;
        self.redis.worker_control_requested(id).await;
        Ok(worker)
    }

    /// Redis's: controls stored in SQL are announced over Redis pub/sub,
    /// so the worker obeys at once instead of at its next heartbeat.
    fn control_signal(&self) -> Option<Arc<Notify>> {
        WorkerRegistry::control_signal(&*self.redis)
    }

    async fn add_counts(&self, counts: &[MinuteCounts], now: DateTime<Utc>) -> Result<(), Error> {
        self.sql.add_counts(counts, now).await
    }

    async fn counts_since(&self, since: DateTime<Utc>) -> Result<Vec<MinuteCounts>, Error> {
        self.sql.counts_since(since).await
    }
}
