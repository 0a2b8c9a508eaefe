//! [`InlineBackend`]: a [`MemoryBackend`] that runs every task as soon as
//! it becomes pending, in the caller's task (Celery's
//! `task_always_eager`, Oban's `testing: :inline`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::runner::Runner;
use crate::backend::{
    Backend, Broker, ClaimRequest, Enqueued, LeaseStatus, Outcome, Page, PageRequest,
    PendingByType, Position, QueueStats, RescueReport, ScheduleStore, Settlement, Store,
    TaskFilter, WorkerControl, WorkerInfo, WorkerRegistry, WorkerState,
};
use crate::error::Error;
use crate::memory::MemoryBackend;
use crate::payload::PayloadLimits;
use crate::registry::Registry;
use crate::retry_policy::RetryPolicies;
use crate::schedule::{Schedule, ScheduleFiring};
use crate::task::{Progress, TaskId, TaskRecord, TaskState, WorkflowId};
use crate::throughput::MinuteCounts;

/// Attempts one inline run makes at most (the task's own, and those of
/// tasks ahead of it in its queue) before it leaves the rest pending: a
/// bound, so a handler that fails retryably forever with a huge
/// `max_retries` cannot hang a test.
const MAX_INLINE_ATTEMPTS: usize = 1_000;

/// A [`MemoryBackend`] that runs tasks at once: `client.submit(..).await`
/// returns after the handler ran (in a tokio task the submit awaits, in
/// the test's process), and the record
/// (`client.get(id)`) is already `FINISHED` with the result, or `FAILED` /
/// `CANCELLED` with the error. For tests; [`inline_client`](super::inline_client)
/// builds a client on one.
///
/// What runs inline: tasks submitted in any way (`submit`, `submit_json`,
/// `submit_many`, a schedule's `run_schedule_now`), a
/// [`retry`](crate::Client::retry), and a resumed queue's pending tasks.
/// A handler that submits other tasks runs them inline too, before its
/// own submit returns.
///
/// What it does, and does not do, compared with a worker:
/// - **Params are checked** as on any backend (the client does it):
///   unknown types, bad params and oversized payloads are the same typed
///   errors, and nothing runs.
/// - **A failing handler does not fail the submit**: the submit returns
///   the id, and the record says how the task ended (as a worker would
///   have stored it).
/// - **Retries run at once**: a retryable failure with retries left is
///   attempted again immediately, until the task finishes or its retries
///   are spent — the backoff is computed and stored as a worker would, but
///   not waited for. Submit with `.max_retries(0)` to get one attempt.
/// - **ETAs are not waited for**: a task submitted with `countdown` or
///   `at` runs at once, as if the clock had moved to its due time (its
///   `started_at` and `finished_at` say that time). To assert that a task
///   was *scheduled*, use a plain [`MemoryBackend`] and
///   [`enqueued`](super::enqueued) instead.
/// - **Timeouts and cancels work**: the soft timeout fires the context's
///   token, the hard timeout fails the attempt with kind `timeout`, and a
///   [`cancel`](crate::Client::cancel) from another task of the test
///   stops a running handler (seen within 20 ms), aborted after the
///   default cancel grace (5 s).
/// - **No worker**: one task runs at a time, awaited by its submit;
///   nothing is registered in the worker list; a paused queue's tasks stay
///   pending until the queue is resumed; a `blocking = true` handler
///   blocks the test's thread (and its hard timeout cannot interrupt it on
///   a current-thread runtime).
/// - **Schedules do not fire by themselves**: no scheduler runs. Call
///   `run_schedule_now`.
///
/// ```
/// use taskq::prelude::*;
///
/// #[long_task(name = "doc.inline.double", retries = 2)]
/// async fn double(n: u32) -> Result<u32, TaskError> {
///     if n == 0 { return Err(TaskError::permanent("zero")); }
///     Ok(n * 2)
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), taskq::Error> {
/// let client = taskq::testing::inline_client()?;
/// let id = client.submit(double, 21).await?;          // ran already
/// let record = client.get(id).await?;
/// assert_eq!(record.state, TaskState::Finished);
/// assert_eq!(record.result, Some(serde_json::json!(42)));
///
/// let id = client.submit(double, 0).await?;           // the submit succeeds…
/// let record = client.get(id).await?;                 // …the task failed
/// assert_eq!(record.state, TaskState::Failed);
/// assert_eq!(record.error.unwrap().message, "zero");
/// # Ok(()) }
/// ```
pub struct InlineBackend {
    memory: Arc<MemoryBackend>,
    runner: Runner,
}

impl InlineBackend {
    /// An inline backend for every task registered with `#[long_task]`
    /// in the linked crates; fails if two share a name.
    pub fn new() -> Result<InlineBackend, Error> {
        Ok(InlineBackend::with_registry(Registry::from_inventory()?))
    }

    /// An inline backend running only the given task types (tasks of
    /// other types stay pending, as with a worker that lacks them).
    pub fn with_registry(registry: Registry) -> InlineBackend {
        let memory = Arc::new(MemoryBackend::new());
        let backend: Arc<dyn Backend> = memory.clone();
        InlineBackend {
            memory,
            runner: Runner {
                backend,
                registry: Arc::new(registry),
                limits: PayloadLimits::DEFAULT,
            },
        }
    }

    /// The same backend with another result size limit (1 MiB by
    /// default, as on a worker): a larger result fails its task with kind
    /// `too_large`.
    pub fn with_payload_limits(mut self, limits: PayloadLimits) -> InlineBackend {
        self.runner.limits = limits;
        self
    }

    /// Runs task `id` (of `queue` and `task_type`, due at `due`) now,
    /// attempt after attempt until it ends. Claims go through the queue,
    /// so a task of the same type ahead of it (a paused queue's, resumed)
    /// runs first.
    async fn run_now(
        &self,
        id: TaskId,
        queue: &str,
        task_type: &str,
        mut due: DateTime<Utc>,
    ) -> Result<(), Error> {
        if self.runner.registry.get(task_type).is_none() {
            // Left pending, as by a worker without the handler.
            return Ok(());
        }
        let types = [task_type];
        for _ in 0..MAX_INLINE_ATTEMPTS {
            let at = Utc::now().max(due);
            let Some(claimed) = self.runner.claim_one(queue, Some(&types), at).await? else {
                return Ok(());
            };
            let ours = claimed.id == id;
            match self.runner.run(claimed, at).await? {
                Some(Outcome::Retry { run_at, .. } | Outcome::Snooze { run_at }) if ours => {
                    due = run_at
                }
                _ if ours => return Ok(()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Runs each of `tasks` that is still pending, in order.
    async fn run_all(&self, tasks: &[Due]) -> Result<(), Error> {
        for task in tasks {
            self.run_now(task.id, &task.queue, &task.task_type, task.due)
                .await?;
        }
        Ok(())
    }
}

/// What [`InlineBackend::run_now`] needs of a stored task.
struct Due {
    id: TaskId,
    queue: String,
    task_type: String,
    due: DateTime<Utc>,
}

impl Due {
    fn of(tasks: &[TaskRecord]) -> Vec<Due> {
        tasks
            .iter()
            .map(|task| Due {
                id: task.id,
                queue: task.queue.clone(),
                task_type: task.task_type.clone(),
                due: task.scheduled_at,
            })
            .collect()
    }
}

impl std::fmt::Debug for InlineBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineBackend")
            .field("tasks", &self.runner.registry.len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Broker for InlineBackend {
    async fn enqueue(&self, tasks: Vec<TaskRecord>) -> Result<Enqueued, Error> {
        // Stored first, all or none (the memory backend's rule), then run;
        // a duplicate of a unique key was not stored, so it does not run.
        let due = Due::of(&tasks);
        let enqueued = self.memory.enqueue(tasks).await?;
        let due = enqueued.stored(due);
        self.run_all(&due).await?;
        Ok(enqueued)
    }

    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Vec<TaskRecord>, Error> {
        self.memory.claim(request).await
    }

    async fn settle(&self, settlements: Vec<Settlement>) -> Result<Vec<bool>, Error> {
        self.memory.settle(settlements).await
    }

    async fn heartbeat(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, Error> {
        self.memory.heartbeat(worker_id, tasks, lease_until).await
    }

    async fn release(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.memory.release(worker_id, tasks, now).await
    }

    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        self.memory.cancel(id, now).await
    }

    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let record = self.memory.retry(id, now).await?;
        self.run_now(id, &record.queue, &record.task_type, record.scheduled_at)
            .await?;
        Ok(record)
    }

    async fn reorder(&self, id: TaskId, position: Position) -> Result<TaskRecord, Error> {
        self.memory.reorder(id, position).await
    }

    async fn set_queue_paused(&self, queue: &str, paused: bool) -> Result<(), Error> {
        self.memory.set_queue_paused(queue, paused).await?;
        if !paused {
            super::drain::drain_with(&self.runner, Some(queue), true, MAX_INLINE_ATTEMPTS).await?;
        }
        Ok(())
    }

    /// Held tasks run at the next drain the bucket allows (the inline
    /// backend runs on the clock, like the memory backend).
    async fn set_queue_rate_limit(
        &self,
        queue: &str,
        limit: Option<crate::rate_limit::RateLimit>,
    ) -> Result<(), Error> {
        self.memory.set_queue_rate_limit(queue, limit).await
    }

    async fn set_queue_fair(&self, queue: &str, fair: bool) -> Result<(), Error> {
        self.memory.set_queue_fair(queue, fair).await
    }

    async fn set_fair_weight(
        &self,
        queue: &str,
        key: &str,
        weight: Option<u32>,
    ) -> Result<(), Error> {
        self.memory.set_fair_weight(queue, key, weight).await
    }

    async fn fair_weights(&self, queue: &str) -> Result<Vec<crate::FairWeight>, Error> {
        self.memory.fair_weights(queue).await
    }

    fn claim_hold(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.memory.claim_hold(queue)
    }

    fn claim_wake(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.memory.claim_wake(queue)
    }

    async fn set_type_rate_limit(
        &self,
        task_type: &str,
        limit: Option<crate::rate_limit::RateLimit>,
    ) -> Result<(), Error> {
        self.memory.set_type_rate_limit(task_type, limit).await?;
        super::drain::drain_with(&self.runner, None, true, MAX_INLINE_ATTEMPTS).await?;
        Ok(())
    }

    async fn set_key_rate_limit(
        &self,
        task_type: &str,
        limit: Option<crate::rate_limit::RateLimit>,
    ) -> Result<(), Error> {
        self.memory.set_key_rate_limit(task_type, limit).await?;
        super::drain::drain_with(&self.runner, None, true, MAX_INLINE_ATTEMPTS).await?;
        Ok(())
    }

    async fn set_queue_limit(&self, queue: &str, limit: Option<u32>) -> Result<(), Error> {
        self.memory.set_queue_limit(queue, limit).await?;
        // A raised or cleared limit may let held tasks run.
        super::drain::drain_with(&self.runner, Some(queue), true, MAX_INLINE_ATTEMPTS).await?;
        Ok(())
    }

    async fn set_type_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        self.memory.set_type_limit(task_type, limit).await?;
        // A raised or cleared limit may let held tasks run.
        super::drain::drain_with(&self.runner, None, true, MAX_INLINE_ATTEMPTS).await?;
        Ok(())
    }

    async fn set_key_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        self.memory.set_key_limit(task_type, limit).await?;
        super::drain::drain_with(&self.runner, None, true, MAX_INLINE_ATTEMPTS).await?;
        Ok(())
    }

    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        policies: &dyn RetryPolicies,
    ) -> Result<RescueReport, Error> {
        self.memory.rescue_expired(now, policies).await
    }

    async fn expire_overdue(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, Error> {
        self.memory.expire_overdue(now, limit).await
    }

    fn work_signal(&self) -> Option<Arc<Notify>> {
        self.memory.work_signal()
    }
}

#[async_trait]
impl Store for InlineBackend {
    async fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, Error> {
        self.memory.get(id).await
    }

    async fn list(
        &self,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<Page<TaskRecord>, Error> {
        self.memory.list(filter, page).await
    }

    async fn record_progress(
        &self,
        id: TaskId,
        attempt: u32,
        progress: Progress,
    ) -> Result<bool, Error> {
        self.memory.record_progress(id, attempt, progress).await
    }

    async fn delete_task(&self, id: TaskId) -> Result<TaskRecord, Error> {
        self.memory.delete_task(id).await
    }

    async fn get_many(&self, ids: &[TaskId]) -> Result<Vec<TaskRecord>, Error> {
        self.memory.get_many(ids).await
    }

    async fn workflow_steps(&self, workflow: WorkflowId) -> Result<Vec<TaskRecord>, Error> {
        self.memory.workflow_steps(workflow).await
    }

    async fn purge(&self, states: &[TaskState], before: DateTime<Utc>) -> Result<u64, Error> {
        self.memory.purge(states, before).await
    }

    async fn queue_stats(&self) -> Result<Vec<QueueStats>, Error> {
        self.memory.queue_stats().await
    }

    async fn type_limits(&self) -> Result<Vec<crate::backend::TypeLimitStats>, Error> {
        self.memory.type_limits().await
    }

    async fn pending_by_type(&self) -> Result<Vec<PendingByType>, Error> {
        self.memory.pending_by_type().await
    }

    async fn task_states(&self, ids: &[TaskId]) -> Result<Vec<(TaskId, TaskState)>, Error> {
        self.memory.task_states(ids).await
    }

    // The memory backend's hub: its settles wake waiters at once.
    fn task_ends(&self) -> Option<Arc<crate::ends::TaskEnds>> {
        self.memory.task_ends()
    }
}

#[async_trait]
impl ScheduleStore for InlineBackend {
    async fn create_schedule(&self, schedule: Schedule) -> Result<(), Error> {
        self.memory.create_schedule(schedule).await
    }

    async fn update_schedule(&self, schedule: &Schedule) -> Result<(), Error> {
        self.memory.update_schedule(schedule).await
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool, Error> {
        self.memory.delete_schedule(name).await
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>, Error> {
        self.memory.get_schedule(name).await
    }

    async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>, Error> {
        self.memory.list_schedules(page).await
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Schedule>, Error> {
        self.memory.due_schedules(now, limit).await
    }

    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, Error> {
        self.memory.next_schedule_due().await
    }

    async fn fire_schedules(&self, firings: Vec<ScheduleFiring>) -> Result<Vec<bool>, Error> {
        let due: Vec<Vec<Due>> = firings.iter().map(|f| Due::of(&f.tasks)).collect();
        let applied = self.memory.fire_schedules(firings).await?;
        for (due, applied) in due.iter().zip(&applied) {
            if *applied {
                self.run_all(due).await?;
            }
        }
        Ok(applied)
    }

    fn schedule_signal(&self) -> Option<Arc<Notify>> {
        self.memory.schedule_signal()
    }
}

#[async_trait]
impl WorkerRegistry for InlineBackend {
    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), Error> {
        self.memory.register_worker(worker).await
    }

    async fn worker_heartbeat(&self, worker: &WorkerInfo) -> Result<Option<WorkerState>, Error> {
        self.memory.worker_heartbeat(worker).await
    }

    async fn deregister_worker(&self, id: &str) -> Result<bool, Error> {
        self.memory.deregister_worker(id).await
    }

    async fn list_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerInfo>, Error> {
        self.memory.list_workers(now).await
    }

    async fn control_worker(
        &self,
        id: &str,
        control: WorkerControl,
        now: DateTime<Utc>,
    ) -> Result<WorkerInfo, Error> {
        self.memory.control_worker(id, control, now).await
    }

    fn control_signal(&self) -> Option<Arc<Notify>> {
        self.memory.control_signal()
    }

    async fn add_counts(&self, counts: &[MinuteCounts], now: DateTime<Utc>) -> Result<(), Error> {
        self.memory.add_counts(counts, now).await
    }

    async fn counts_since(&self, since: DateTime<Utc>) -> Result<Vec<MinuteCounts>, Error> {
        self.memory.counts_since(since).await
    }
}
