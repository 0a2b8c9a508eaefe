//! The in-memory backend: one process, no persistence. For tests, and for
//! hosts that want background tasks without durability.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::backend::{
    Broker, ClaimRequest, LeaseStatus, Outcome, Page, PageRequest, Position, QueueStats,
    RescueReport, ScheduleStore, Settlement, Store, TaskFilter, WorkerControl, WorkerInfo,
    WorkerRegistry, WorkerState, check_purge_states,
};
use crate::error::Error;
use crate::schedule::{Schedule, ScheduleFiring};
use crate::task::{
    ErrorKind, IdMap, IdSet, Progress, TaskFailure, TaskId, TaskRecord, TaskState, seq_for,
};

/// Order key of a pending task within its queue.
type OrderKey = (Reverse<i32>, i64, TaskId);

/// An in-process [`Broker`] + [`Store`].
///
/// ```
/// # use std::sync::Arc;
/// let backend = Arc::new(taskq_core::MemoryBackend::new());
/// # let _: Arc<dyn taskq_core::Backend> = backend;
/// ```
#[derive(Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
    signal: Arc<Notify>,
    schedule_signal: Arc<Notify>,
}

#[derive(Default)]
struct State {
    tasks: IdMap<TaskRecord>,
    /// Due pending tasks per queue, in claim order.
    ready: HashMap<String, BTreeSet<OrderKey>>,
    /// Pending tasks not due yet, by due time.
    delayed: BTreeSet<(DateTime<Utc>, TaskId)>,
    running: IdSet,
    paused: HashSet<String>,
    schedules: BTreeMap<String, Schedule>,
    /// Enabled schedules with a next run, by next run: the due index.
    due_schedules: BTreeSet<(DateTime<Utc>, String)>,
    workers: BTreeMap<String, WorkerInfo>,
}

impl MemoryBackend {
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied
        // transition visible to callers that matter more than the panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The ready set of `queue`, made on first use; the queue name is copied
/// only then, not on every enqueue.
fn ready_set<'a>(
    ready: &'a mut HashMap<String, BTreeSet<OrderKey>>,
    queue: &str,
) -> &'a mut BTreeSet<OrderKey> {
    if !ready.contains_key(queue) {
        ready.insert(queue.to_owned(), BTreeSet::new());
    }
    ready.get_mut(queue).expect("inserted above")
}

fn key(record: &TaskRecord) -> OrderKey {
    (Reverse(record.priority), record.seq, record.id)
}

/// The due-index entry of a schedule, if it has one.
fn due_key(schedule: &Schedule) -> Option<(DateTime<Utc>, String)> {
    schedule
        .next_run_at
        .filter(|_| schedule.def.enabled)
        .map(|at| (at, schedule.def.name.clone()))
}

impl State {
    fn put_schedule(&mut self, schedule: Schedule) {
        if let Some(old) = self.schedules.get(&schedule.def.name).and_then(due_key) {
            self.due_schedules.remove(&old);
        }
        if let Some(key) = due_key(&schedule) {
            self.due_schedules.insert(key);
        }
        self.schedules.insert(schedule.def.name.clone(), schedule);
    }

    fn add_pending(&mut self, record: &TaskRecord, now: DateTime<Utc>) {
        if record.scheduled_at > now {
            self.delayed.insert((record.scheduled_at, record.id));
        } else {
            ready_set(&mut self.ready, &record.queue).insert(key(record));
        }
    }

    fn remove_pending(&mut self, record: &TaskRecord) {
        self.delayed.remove(&(record.scheduled_at, record.id));
        if let Some(ready) = self.ready.get_mut(&record.queue) {
            ready.remove(&key(record));
        }
    }

    fn promote_due(&mut self, now: DateTime<Utc>) {
        while let Some(&(due, id)) = self.delayed.first() {
            if due > now {
                break;
            }
            self.delayed.pop_first();
            if let Some(record) = self.tasks.get(&id) {
                ready_set(&mut self.ready, &record.queue).insert(key(record));
            }
        }
    }

    fn get(&self, id: TaskId) -> Result<&TaskRecord, Error> {
        self.tasks.get(&id).ok_or(Error::NotFound(id))
    }

    /// The running attempt `(id, attempt)` of `worker_id`, if it still is.
    fn running_attempt(
        &mut self,
        id: TaskId,
        attempt: u32,
        worker_id: Option<&str>,
    ) -> Option<&mut TaskRecord> {
        self.tasks.get_mut(&id).filter(|record| {
            record.state == TaskState::Running
                && record.attempt == attempt
                && worker_id.is_none_or(|worker| record.worker_id.as_deref() == Some(worker))
        })
    }

    /// Pending tasks of `queue` other than `except`, as (priority, seq, id).
    fn other_pending(&self, queue: &str, except: TaskId) -> Vec<(i32, i64, TaskId)> {
        self.tasks
            .values()
            .filter(|r| r.state == TaskState::Pending && r.queue == queue && r.id != except)
            .map(|r| (r.priority, r.seq, r.id))
            .collect()
    }
}

#[async_trait]
impl Broker for MemoryBackend {
    async fn enqueue(&self, tasks: Vec<TaskRecord>) -> Result<(), Error> {
        let now = Utc::now();
        {
            let mut state = self.lock();
            if let Some(dup) = tasks.iter().find(|t| state.tasks.contains_key(&t.id)) {
                return Err(Error::InvalidArgument(format!(
                    "task id {} already exists",
                    dup.id
                )));
            }
            for task in tasks {
                state.add_pending(&task, now);
                state.tasks.insert(task.id, task);
            }
        }
        self.signal.notify_waiters();
        Ok(())
    }

    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Vec<TaskRecord>, Error> {
        let mut state = self.lock();
        if request.limit == 0 || state.paused.contains(request.queue) {
            return Ok(Vec::new());
        }
        state.promote_due(request.now);
        let lease_until = request.now + request.lease;
        let mut claimed = Vec::with_capacity(request.limit);
        while claimed.len() < request.limit {
            let Some((_, _, id)) = state
                .ready
                .get_mut(request.queue)
                .and_then(|ready| ready.pop_first())
            else {
                break;
            };
            state.running.insert(id);
            if let Some(record) = state.tasks.get_mut(&id) {
                record.state = TaskState::Running;
                record.attempt += 1;
                record.started_at = Some(request.now);
                record.worker_id = Some(request.worker_id.to_owned());
                record.lease_until = Some(lease_until);
                record.progress = None;
                claimed.push(record.clone());
            }
        }
        Ok(claimed)
    }

    async fn settle(&self, settlements: Vec<Settlement>) -> Result<Vec<bool>, Error> {
        let mut requeued = false;
        let applied = {
            let mut state = self.lock();
            let mut applied = Vec::with_capacity(settlements.len());
            for settlement in settlements {
                let Some(record) = state.running_attempt(settlement.id, settlement.attempt, None)
                else {
                    applied.push(false);
                    continue;
                };
                record.lease_until = None;
                record.cancel_requested = false;
                match settlement.outcome {
                    Outcome::Finished(result) => {
                        record.state = TaskState::Finished;
                        record.result = Some(result);
                        record.finished_at = Some(settlement.at);
                    }
                    Outcome::Failed(error) => {
                        record.state = TaskState::Failed;
                        record.error = Some(error);
                        record.finished_at = Some(settlement.at);
                    }
                    Outcome::Cancelled(error) => {
                        record.state = TaskState::Cancelled;
                        record.error = Some(error);
                        record.finished_at = Some(settlement.at);
                    }
                    Outcome::Retry { error, run_at } => {
                        record.state = TaskState::Pending;
                        record.error = Some(error);
                        record.scheduled_at = run_at;
                        record.seq = seq_for(run_at);
                        let record = record.clone();
                        state.add_pending(&record, settlement.at);
                        requeued = true;
                    }
                }
                state.running.remove(&settlement.id);
                applied.push(true);
            }
            applied
        };
        if requeued {
            self.signal.notify_waiters();
        }
        Ok(applied)
    }

    async fn heartbeat(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, Error> {
        let mut state = self.lock();
        Ok(tasks
            .iter()
            .map(
                |&(id, attempt)| match state.running_attempt(id, attempt, Some(worker_id)) {
                    Some(record) => {
                        record.lease_until = Some(lease_until);
                        if record.cancel_requested {
                            LeaseStatus::CancelRequested
                        } else {
                            LeaseStatus::Held
                        }
                    }
                    None => LeaseStatus::Lost,
                },
            )
            .collect())
    }

    async fn release(&self, worker_id: &str, tasks: &[(TaskId, u32)]) -> Result<(), Error> {
        let now = Utc::now();
        {
            let mut state = self.lock();
            for &(id, attempt) in tasks {
                let Some(record) = state.running_attempt(id, attempt, Some(worker_id)) else {
                    continue;
                };
                record.state = TaskState::Pending;
                record.attempt -= 1;
                record.lease_until = None;
                let record = record.clone();
                state.running.remove(&id);
                state.add_pending(&record, now);
            }
        }
        self.signal.notify_waiters();
        Ok(())
    }

    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let mut state = self.lock();
        let record = state.get(id)?.clone();
        match record.state {
            TaskState::Pending => {
                state.remove_pending(&record);
                let record = state.tasks.get_mut(&id).ok_or(Error::NotFound(id))?;
                record.state = TaskState::Cancelled;
                record.finished_at = Some(now);
                record.error = Some(TaskFailure {
                    kind: ErrorKind::Cancelled,
                    message: "cancelled before it ran".into(),
                });
                Ok(record.clone())
            }
            TaskState::Running => {
                let record = state.tasks.get_mut(&id).ok_or(Error::NotFound(id))?;
                record.cancel_requested = true;
                Ok(record.clone())
            }
            terminal => Err(Error::InvalidTransition {
                id,
                state: terminal,
                action: "cancel",
            }),
        }
    }

    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let record = {
            let mut state = self.lock();
            let record = state.tasks.get_mut(&id).ok_or(Error::NotFound(id))?;
            if !matches!(record.state, TaskState::Failed | TaskState::Cancelled) {
                return Err(Error::InvalidTransition {
                    id,
                    state: record.state,
                    action: "retry",
                });
            }
            record.state = TaskState::Pending;
            record.scheduled_at = now;
            record.seq = seq_for(now);
            record.finished_at = None;
            record.result = None;
            record.cancel_requested = false;
            record.max_retries = record.max_retries.max(record.attempt);
            let record = record.clone();
            state.add_pending(&record, now);
            record
        };
        self.signal.notify_waiters();
        Ok(record)
    }

    async fn reorder(&self, id: TaskId, position: Position) -> Result<TaskRecord, Error> {
        let mut state = self.lock();
        let record = state.get(id)?.clone();
        if record.state != TaskState::Pending {
            return Err(Error::InvalidTransition {
                id,
                state: record.state,
                action: "reorder",
            });
        }
        let others = state.other_pending(&record.queue, id);
        let (priority, seq) = match position {
            Position::Front => {
                let top = others.iter().map(|o| o.0).max().unwrap_or(record.priority);
                let priority = top.max(record.priority);
                let first = others.iter().filter(|o| o.0 == priority).map(|o| o.1).min();
                (priority, first.map_or(record.seq, |s| s - 1))
            }
            Position::Back => {
                let bottom = others.iter().map(|o| o.0).min().unwrap_or(record.priority);
                let priority = bottom.min(record.priority);
                let last = others.iter().filter(|o| o.0 == priority).map(|o| o.1).max();
                (priority, last.map_or(record.seq, |s| s + 1))
            }
            Position::Before(target) => {
                let target = state.get(target)?.clone();
                check_before_target(&record, &target)?;
                let before_target = |o: &(i32, i64, TaskId)| {
                    o.0 == target.priority && (o.1, o.2) < (target.seq, target.id)
                };
                let predecessor = others
                    .iter()
                    .filter(|o| before_target(o))
                    .map(|o| o.1)
                    .max();
                match predecessor {
                    Some(p) if target.seq - p < 2 => {
                        // No room between the two: shift everything ahead
                        // of the target back by two, keeping their order.
                        let ahead: Vec<TaskId> = others
                            .iter()
                            .filter(|o| before_target(o))
                            .map(|o| o.2)
                            .collect();
                        for other in ahead {
                            shift_seq(&mut state, other, -2);
                        }
                        (target.priority, target.seq - 1)
                    }
                    Some(p) => (target.priority, p + (target.seq - p) / 2),
                    None => (target.priority, target.seq - 1),
                }
            }
        };
        state.remove_pending(&record);
        let record = state.tasks.get_mut(&id).ok_or(Error::NotFound(id))?;
        record.priority = priority;
        record.seq = seq;
        let record = record.clone();
        state.add_pending(&record, Utc::now());
        Ok(record)
    }

    async fn set_queue_paused(&self, queue: &str, paused: bool) -> Result<(), Error> {
        {
            let mut state = self.lock();
            if paused {
                state.paused.insert(queue.to_owned());
            } else {
                state.paused.remove(queue);
            }
        }
        if !paused {
            self.signal.notify_waiters();
        }
        Ok(())
    }

    async fn rescue_expired(&self, now: DateTime<Utc>) -> Result<RescueReport, Error> {
        let mut report = RescueReport::default();
        {
            let mut state = self.lock();
            let expired: Vec<TaskId> = state
                .running
                .iter()
                .copied()
                .filter(|id| {
                    state
                        .tasks
                        .get(id)
                        .is_some_and(|r| r.lease_until.is_some_and(|l| l < now))
                })
                .collect();
            for id in expired {
                state.running.remove(&id);
                let Some(record) = state.tasks.get_mut(&id) else {
                    continue;
                };
                record.lease_until = None;
                let worker = record.worker_id.clone().unwrap_or_default();
                if record.cancel_requested {
                    record.state = TaskState::Cancelled;
                    record.cancel_requested = false;
                    record.finished_at = Some(now);
                    record.error = Some(lease_failure(ErrorKind::Cancelled, &worker));
                    report.cancelled += 1;
                } else if record.attempt > record.max_retries {
                    record.state = TaskState::Failed;
                    record.finished_at = Some(now);
                    record.error = Some(lease_failure(ErrorKind::LeaseExpired, &worker));
                    report.failed += 1;
                } else {
                    record.state = TaskState::Pending;
                    record.scheduled_at = now;
                    record.error = Some(lease_failure(ErrorKind::LeaseExpired, &worker));
                    let record = record.clone();
                    state.add_pending(&record, now);
                    report.requeued += 1;
                }
            }
        }
        if report.requeued > 0 {
            self.signal.notify_waiters();
        }
        Ok(report)
    }

    fn work_signal(&self) -> Option<Arc<Notify>> {
        Some(self.signal.clone())
    }
}

fn shift_seq(state: &mut State, id: TaskId, by: i64) {
    let Some(record) = state.tasks.get(&id).cloned() else {
        return;
    };
    state.remove_pending(&record);
    if let Some(record) = state.tasks.get_mut(&id) {
        record.seq += by;
        let record = record.clone();
        state.add_pending(&record, Utc::now());
    }
}

/// The error a rescued task carries.
pub(crate) fn lease_failure(kind: ErrorKind, worker: &str) -> TaskFailure {
    TaskFailure {
        kind,
        message: format!("worker `{worker}` stopped renewing its lease"),
    }
}

/// A task can only be moved before another pending task of its own queue.
pub fn check_before_target(record: &TaskRecord, target: &TaskRecord) -> Result<(), Error> {
    if target.state != TaskState::Pending {
        return Err(Error::InvalidTransition {
            id: target.id,
            state: target.state,
            action: "be a reorder target",
        });
    }
    if target.queue != record.queue || target.id == record.id {
        return Err(Error::InvalidArgument(format!(
            "reorder target {} must be another pending task of queue `{}`",
            target.id, record.queue
        )));
    }
    Ok(())
}

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
        match state.running_attempt(id, attempt, None) {
            Some(record) => {
                record.progress = Some(progress);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_task(&self, id: TaskId) -> Result<TaskRecord, Error> {
        let mut state = self.lock();
        let record = state.get(id)?;
        if !record.state.is_terminal() {
            return Err(Error::InvalidTransition {
                id,
                state: record.state,
                action: "delete",
            });
        }
        state.tasks.remove(&id).ok_or(Error::NotFound(id))
    }

    async fn purge(&self, states: &[TaskState], before: DateTime<Utc>) -> Result<u64, Error> {
        check_purge_states(states)?;
        let mut state = self.lock();
        let doomed: Vec<TaskId> = state
            .tasks
            .values()
            .filter(|r| states.contains(&r.state) && r.finished_at.is_some_and(|f| f < before))
            .map(|r| r.id)
            .collect();
        for id in &doomed {
            state.tasks.remove(id);
        }
        Ok(doomed.len() as u64)
    }

    async fn queue_stats(&self) -> Result<Vec<QueueStats>, Error> {
        let state = self.lock();
        let now = Utc::now();
        let mut stats: HashMap<&str, QueueStats> = HashMap::new();
        for record in state.tasks.values() {
            let entry = stats.entry(&record.queue).or_insert_with(|| QueueStats {
                queue: record.queue.clone(),
                ..QueueStats::default()
            });
            match record.state {
                TaskState::Pending if record.scheduled_at > now => entry.scheduled += 1,
                TaskState::Pending => entry.pending += 1,
                TaskState::Running => entry.running += 1,
                _ => {}
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
        let mut stats: Vec<QueueStats> = stats.into_values().collect();
        stats.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(stats)
    }
}

#[async_trait]
impl ScheduleStore for MemoryBackend {
    async fn create_schedule(&self, schedule: Schedule) -> Result<(), Error> {
        {
            let mut state = self.lock();
            if state.schedules.contains_key(&schedule.def.name) {
                return Err(Error::ScheduleExists(schedule.def.name));
            }
            state.put_schedule(schedule);
        }
        self.schedule_signal.notify_waiters();
        Ok(())
    }

    async fn update_schedule(&self, schedule: &Schedule) -> Result<(), Error> {
        {
            let mut state = self.lock();
            let stored = state
                .schedules
                .get(&schedule.def.name)
                .ok_or_else(|| Error::ScheduleNotFound(schedule.def.name.clone()))?;
            let updated = Schedule {
                def: schedule.def.clone(),
                next_run_at: schedule.next_run_at,
                updated_at: schedule.updated_at,
                revision: stored.revision + 1,
                ..stored.clone()
            };
            state.put_schedule(updated);
        }
        self.schedule_signal.notify_waiters();
        Ok(())
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool, Error> {
        let mut state = self.lock();
        let Some(removed) = state.schedules.remove(name) else {
            return Ok(false);
        };
        if let Some(key) = due_key(&removed) {
            state.due_schedules.remove(&key);
        }
        Ok(true)
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>, Error> {
        Ok(self.lock().schedules.get(name).cloned())
    }

    async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>, Error> {
        let state = self.lock();
        let items = state
            .schedules
            .values()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.page_size as usize)
            .cloned()
            .collect();
        Ok(Page {
            items,
            total: state.schedules.len() as u64,
            page: page.page,
            page_size: page.page_size,
        })
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Schedule>, Error> {
        let state = self.lock();
        Ok(state
            .due_schedules
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .filter_map(|(_, name)| state.schedules.get(name).cloned())
            .collect())
    }

    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(self.lock().due_schedules.first().map(|(at, _)| *at))
    }

    async fn fire_schedules(&self, firings: Vec<ScheduleFiring>) -> Result<Vec<bool>, Error> {
        let now = Utc::now();
        let mut submitted = false;
        let applied = {
            let mut state = self.lock();
            let mut applied = Vec::with_capacity(firings.len());
            for firing in firings {
                let Some(stored) = state.schedules.get(&firing.name) else {
                    applied.push(false);
                    continue;
                };
                if stored.next_run_at != firing.expected_next_run_at
                    || stored.revision != firing.expected_revision
                {
                    applied.push(false);
                    continue;
                }
                let mut updated = stored.clone();
                updated.next_run_at = firing.next_run_at;
                updated.run_count += firing.tasks.len() as u64;
                if let Some(last) = firing.tasks.last() {
                    updated.last_run_at = Some(firing.fired_at);
                    updated.last_task_id = Some(last.id);
                }
                state.put_schedule(updated);
                for task in firing.tasks {
                    // Already queued by an earlier firing of the tick.
                    if state.tasks.contains_key(&task.id) {
                        continue;
                    }
                    submitted = true;
                    state.add_pending(&task, now);
                    state.tasks.insert(task.id, task);
                }
                applied.push(true);
            }
            applied
        };
        if submitted {
            self.signal.notify_waiters();
        }
        Ok(applied)
    }

    fn schedule_signal(&self) -> Option<Arc<Notify>> {
        Some(self.schedule_signal.clone())
    }
}

#[async_trait]
impl WorkerRegistry for MemoryBackend {
    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), Error> {
        let mut worker = worker.clone();
        worker.requested = None;
        self.lock().workers.insert(worker.id.clone(), worker);
        Ok(())
    }

    async fn worker_heartbeat(&self, worker: &WorkerInfo) -> Result<Option<WorkerState>, Error> {
        let mut state = self.lock();
        let requested = state
            .workers
            .get(&worker.id)
            .and_then(|stored| stored.requested);
        let mut worker = worker.clone();
        worker.requested = requested;
        state.workers.insert(worker.id.clone(), worker);
        Ok(requested)
    }

    async fn deregister_worker(&self, id: &str) -> Result<bool, Error> {
        Ok(self.lock().workers.remove(id).is_some())
    }

    async fn list_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerInfo>, Error> {
        let mut state = self.lock();
        state.workers.retain(|_, worker| worker.forget_at() >= now);
        Ok(state
            .workers
            .values()
            .filter_map(|worker| worker.clone().seen_at(now))
            .collect())
    }

    async fn control_worker(
        &self,
        id: &str,
        control: WorkerControl,
        now: DateTime<Utc>,
    ) -> Result<WorkerInfo, Error> {
        let mut state = self.lock();
        let not_found = || Error::WorkerNotFound(id.to_owned());
        let stored = state.workers.get_mut(id).ok_or_else(not_found)?;
        let mut seen = stored.clone().seen_at(now).ok_or_else(not_found)?;
        let target = control.target(&seen)?;
        stored.requested = Some(target);
        seen.requested = Some(target);
        Ok(seen)
    }
}
