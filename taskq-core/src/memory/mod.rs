//! The in-memory backend: one process, no persistence. For tests, and for
//! hosts that want background tasks without durability.
//!
//! It is storage around [`crate::lifecycle`]: every transition is that
//! module's function, applied under one lock, with the indexes (ready,
//! delayed, running, due schedules) kept beside the records.
//!
//! # Layout
//! - `mod.rs`: the backend, its state and indexes.
//! - `broker.rs`: [`Broker`](crate::backend::Broker) — claims, settlements, leases.
//! - `store.rs`: [`Store`](crate::backend::Store) — reads, progress, deletes.
//! - `schedules.rs`: [`ScheduleStore`](crate::backend::ScheduleStore).
//! - `workers.rs`: [`WorkerRegistry`](crate::backend::WorkerRegistry).

mod broker;
mod schedules;
mod store;
mod workers;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::backend::WorkerInfo;
use crate::ends::{PUSHED_FALLBACK_DEFAULT, TaskEnds};
use crate::lifecycle::{self, Arrival, ClaimOrder, claim_order};
use crate::rate_limit::RateLimit;
use crate::schedule::Schedule;
use crate::task::{IdMap, IdSet, TaskId, TaskRecord, TaskState, WorkflowId};
use crate::throughput::MinuteCounts;

/// An in-process [`Backend`](crate::backend::Backend).
///
/// ```
/// # use std::sync::Arc;
/// let backend = Arc::new(taskq_core::MemoryBackend::new());
/// # let _: Arc<dyn taskq_core::Backend> = backend;
/// ```
pub struct MemoryBackend {
    state: Mutex<State>,
    signal: Arc<Notify>,
    schedule_signal: Arc<Notify>,
    control_signal: Arc<Notify>,
    /// Waiters of tasks that end: every end happens in this process, so
    /// each is pushed; the slow fallback poll only guards against a bug.
    ends: Arc<TaskEnds>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend {
            state: Mutex::default(),
            signal: Arc::default(),
            schedule_signal: Arc::default(),
            control_signal: Arc::default(),
            ends: Arc::new(TaskEnds::new(PUSHED_FALLBACK_DEFAULT)),
        }
    }
}

#[derive(Default)]
struct State {
    tasks: IdMap<TaskRecord>,
    /// How many records each queue has, whatever their states: the
    /// queues `queue_stats` names (every queue with a task, as the SQL
    /// backends' `DISTINCT queue`) without reading every record.
    queue_sizes: HashMap<String, usize>,
    /// Pending tasks per queue and type, kept with the ready and delayed
    /// indexes: what `pending_by_type` answers (a worker reads it at its
    /// start, under the lock claims need) without reading each task.
    pending_types: HashMap<String, HashMap<String, u64>>,
    /// Due pending tasks per queue, in claim order.
    ready: HashMap<String, BTreeSet<ClaimOrder>>,
    /// Pending tasks not due yet, by due time.
    delayed: BTreeSet<(DateTime<Utc>, TaskId)>,
    running: IdSet,
    /// Pending tasks with a deadline to start, by deadline: what the
    /// expiry sweep reads (`lifecycle::expire`).
    deadlines: BTreeSet<(DateTime<Utc>, TaskId)>,
    paused: HashSet<String>,
    /// Queue limits (`Broker::set_queue_limit`); the running count is
    /// read from `running` under the same lock, never kept apart.
    limits: HashMap<String, u32>,
    /// Task type limits (`Broker::set_type_limit`) and key limits
    /// (`Broker::set_key_limit`); the running counts are read from
    /// `running` under the same lock.
    type_limits: HashMap<String, u32>,
    key_limits: HashMap<String, u32>,
    /// Rate limits (`Broker::set_queue_rate_limit`) with their bucket's
    /// time (`lifecycle::rate_spend`; `None`: full).
    rates: HashMap<String, (RateLimit, Option<DateTime<Utc>>)>,
    /// Task type rate limits (`Broker::set_type_rate_limit`) with their
    /// bucket's time (`None`: full), key rate limits
    /// (`Broker::set_key_rate_limit`), and the time of each key's bucket
    /// while it is spent (`lifecycle::key_bucket_spent`; pruned as claims
    /// pass them).
    type_rates: HashMap<String, (RateLimit, Option<DateTime<Utc>>)>,
    key_rates: HashMap<String, RateLimit>,
    key_tats: HashMap<(String, String), DateTime<Utc>>,
    /// Per queue, when the last claim's held-back type or key next frees
    /// (`Broker::claim_wake`).
    wakes: HashMap<String, DateTime<Utc>>,
    /// Fair queues (`Broker::set_queue_fair`) with their rounds
    /// (`lifecycle::fair_round`).
    fair: HashMap<String, lifecycle::FairRounds>,
    /// The keys' weights per queue (`Broker::set_fair_weight`), kept apart
    /// from the rounds: they outlive a queue set not fair.
    fair_weights: HashMap<String, BTreeMap<String, u32>>,
    /// Per queue, when the last claim left its bucket empty
    /// (`Broker::claim_hold`).
    holds: HashMap<String, DateTime<Utc>>,
    schedules: BTreeMap<String, Schedule>,
    /// Enabled schedules with a next run, by next run: the due index.
    due_schedules: BTreeSet<(DateTime<Utc>, String)>,
    workers: BTreeMap<String, WorkerInfo>,
    /// Workers' counts of ended attempts, by minute and queue.
    counts: BTreeMap<(DateTime<Utc>, String), MinuteCounts>,
    /// The task that last took each (queue, unique key): whether it still
    /// holds the key is read from its record (`lifecycle::holds_unique`).
    unique: HashMap<(String, String), TaskId>,
    /// Each workflow's steps (some may be deleted since).
    workflows: HashMap<WorkflowId, Vec<TaskId>>,
    /// What workflow steps' ends did to their dependents since the
    /// backend last woke waiters and workers for them.
    cascade: Cascade,
}

/// Steps cancelled and released by their parents' ends.
#[derive(Default)]
struct Cascade {
    ended: Vec<TaskId>,
    released: bool,
}

impl MemoryBackend {
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    /// Wakes the waiters of steps a cascade ended, and the workers, if it
    /// released any.
    fn wake(&self, cascade: Cascade) {
        if cascade.released {
            self.signal.notify_waiters();
        }
        if !cascade.ended.is_empty() {
            self.ends.ended(cascade.ended);
        }
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
    ready: &'a mut HashMap<String, BTreeSet<ClaimOrder>>,
    queue: &str,
) -> &'a mut BTreeSet<ClaimOrder> {
    if !ready.contains_key(queue) {
        ready.insert(queue.to_owned(), BTreeSet::new());
    }
    ready.get_mut(queue).expect("inserted above")
}

impl State {
    /// Removes ended records (a delete, a purge) with what points at
    /// them: their unique keys and their workflows' step lists, so
    /// neither map grows with tasks that are gone. Gives the count.
    fn remove_ended(&mut self, ids: &[TaskId]) -> usize {
        let mut gone: HashMap<WorkflowId, HashSet<TaskId>> = HashMap::new();
        let mut removed = 0;
        for id in ids {
            let Some(record) = self.tasks.remove(id) else {
                continue;
            };
            removed += 1;
            if let Some(size) = self.queue_sizes.get_mut(&record.queue) {
                *size -= 1;
                if *size == 0 {
                    self.queue_sizes.remove(&record.queue);
                }
            }
            self.forget_unique(&record);
            if let Some(step) = &record.step {
                gone.entry(step.workflow).or_default().insert(record.id);
            }
        }
        // One pass per workflow, however many of its steps went.
        for (workflow, ids) in gone {
            if let Some(steps) = self.workflows.get_mut(&workflow) {
                steps.retain(|id| !ids.contains(id));
                if steps.is_empty() {
                    self.workflows.remove(&workflow);
                }
            }
        }
        removed
    }

    /// Drops the key entry a removed record was the holder of, so the
    /// map does not grow with keys whose tasks are gone.
    fn forget_unique(&mut self, record: &TaskRecord) {
        if let Some(unique) = &record.unique {
            let slot = (record.queue.clone(), unique.key.clone());
            if self.unique.get(&slot) == Some(&record.id) {
                self.unique.remove(&slot);
            }
        }
    }

    /// Stores a new record: its state's index, its workflow's steps, the
    /// record itself (an enqueue, or a schedule's firing).
    /// Stores a batch of new tasks (a submit's, a schedule firing's): those
    /// of a fair queue take their turns first (`lifecycle::fair_round`).
    fn insert_batch(&mut self, mut tasks: Vec<TaskRecord>, now: DateTime<Utc>) {
        for (queue, rounds) in &mut self.fair {
            let weights = self.fair_weights.get(queue);
            rounds.weights = weights.map_or_else(HashMap::new, |w| {
                w.iter().map(|(k, &w)| (k.clone(), w)).collect()
            });
            rounds.assign_held(tasks.iter_mut().filter(|t| t.queue == *queue));
        }
        for task in tasks {
            self.insert_new(task, now);
        }
    }

    fn insert_new(&mut self, task: TaskRecord, now: DateTime<Utc>) {
        self.index(&task, now);
        match self.queue_sizes.get_mut(&task.queue) {
            Some(size) => *size += 1,
            None => {
                self.queue_sizes.insert(task.queue.clone(), 1);
            }
        }
        if let Some(step) = &task.step {
            self.workflows
                .entry(step.workflow)
                .or_default()
                .push(task.id);
        }
        self.tasks.insert(task.id, task);
    }

    /// Files a record in the index its state calls for. `now` decides
    /// between ready and delayed; a claim re-checks the due time, so an
    /// early `now` only costs a promotion later.
    fn index(&mut self, record: &TaskRecord, now: DateTime<Utc>) {
        if matches!(record.state, TaskState::Pending | TaskState::Waiting)
            && let Some(rounds) = self.fair.get_mut(&record.queue)
        {
            rounds
                .held
                .hold(lifecycle::fair_lane(record), record.fair_round, record.id);
        }
        if record.state == TaskState::Pending {
            self.count_pending(record, true);
        }
        if let (TaskState::Pending, Some(deadline)) = (record.state, record.expires_at) {
            self.deadlines.insert((deadline, record.id));
        }
        match record.state {
            TaskState::Pending if record.scheduled_at > now => {
                self.delayed.insert((record.scheduled_at, record.id));
            }
            TaskState::Pending => {
                ready_set(&mut self.ready, &record.queue).insert(claim_order(record));
            }
            TaskState::Running => {
                self.running.insert(record.id);
            }
            _ => {}
        }
    }

    /// Takes a record out of every index (its state's entry, wherever it is).
    fn unindex(&mut self, record: &TaskRecord) {
        if matches!(record.state, TaskState::Pending | TaskState::Waiting)
            && let Some(rounds) = self.fair.get_mut(&record.queue)
        {
            rounds
                .held
                .leave(lifecycle::fair_lane(record), record.fair_round, record.id);
        }
        if record.state == TaskState::Pending {
            self.count_pending(record, false);
        }
        if let (TaskState::Pending, Some(deadline)) = (record.state, record.expires_at) {
            self.deadlines.remove(&(deadline, record.id));
        }
        match record.state {
            TaskState::Pending => {
                if !self.delayed.remove(&(record.scheduled_at, record.id))
                    && let Some(ready) = self.ready.get_mut(&record.queue)
                {
                    ready.remove(&claim_order(record));
                }
            }
            TaskState::Running => {
                self.running.remove(&record.id);
            }
            _ => {}
        }
    }

    /// Counts `record` (pending) in or out of its queue's pending tasks
    /// of its type; a count that reaches 0 goes, so types and queues whose
    /// tasks are gone are not kept.
    fn count_pending(&mut self, record: &TaskRecord, added: bool) {
        if added {
            let types = match self.pending_types.get_mut(&record.queue) {
                Some(types) => types,
                None => self.pending_types.entry(record.queue.clone()).or_default(),
            };
            match types.get_mut(&record.task_type) {
                Some(count) => *count += 1,
                None => {
                    types.insert(record.task_type.clone(), 1);
                }
            }
            return;
        }
        let Some(types) = self.pending_types.get_mut(&record.queue) else {
            return;
        };
        if let Some(count) = types.get_mut(&record.task_type) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                types.remove(&record.task_type);
            }
        }
        if types.is_empty() {
            self.pending_types.remove(&record.queue);
        }
    }

    /// Applies `change` to task `id` with its index entries kept current.
    /// Returns `None` for a missing id, else what `change` returned.
    fn update<T>(
        &mut self,
        id: TaskId,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut TaskRecord) -> T,
    ) -> Option<T> {
        let mut record = self.tasks.remove(&id)?;
        let was_live = !record.state.is_terminal();
        self.unindex(&record);
        let out = change(&mut record);
        self.index(&record, now);
        // A workflow step that ends moves its dependents, in this change.
        let edges = if was_live && record.state.is_terminal() {
            lifecycle::ended_edges(&record)
        } else {
            Vec::new()
        };
        self.tasks.insert(id, record);
        if !edges.is_empty() {
            self.parents_ended(edges, now);
        }
        Some(out)
    }

    /// Applies `lifecycle::parent_ended` along `edges`, and along the
    /// edges of every step that cancels, until none is left.
    fn parents_ended(&mut self, mut edges: Vec<(TaskId, TaskId, TaskState)>, now: DateTime<Utc>) {
        while let Some((child, parent, parent_state)) = edges.pop() {
            let Some(mut record) = self.tasks.remove(&child) else {
                continue;
            };
            self.unindex(&record);
            match lifecycle::parent_ended(&mut record, parent, parent_state, now) {
                Arrival::Released => self.cascade.released = true,
                Arrival::Cancelled => {
                    edges.extend(lifecycle::ended_edges(&record));
                    self.cascade.ended.push(child);
                }
                Arrival::Counted | Arrival::Ignored => {}
            }
            self.index(&record, now);
            self.tasks.insert(child, record);
        }
    }

    /// Takes what the last changes' cascades did.
    fn take_cascade(&mut self) -> Cascade {
        std::mem::take(&mut self.cascade)
    }

    /// Moves delayed tasks due by `now` to their queues' ready sets.
    fn promote_due(&mut self, now: DateTime<Utc>) {
        while let Some(&(due, id)) = self.delayed.first() {
            if due > now {
                break;
            }
            self.delayed.pop_first();
            if let Some(record) = self.tasks.get(&id) {
                ready_set(&mut self.ready, &record.queue).insert(claim_order(record));
            }
        }
    }

    /// Records when `queue`'s bucket next allows a start (`None`: now).
    fn hold(&mut self, queue: &str, until: Option<DateTime<Utc>>) {
        match until {
            Some(until) => {
                self.holds.insert(queue.to_owned(), until);
            }
            None => {
                self.holds.remove(queue);
            }
        }
    }

    /// Spends `taken` starts of `queue`'s bucket (`lifecycle::rate_spend`)
    /// and records the hold it leaves.
    fn spend_rate(
        &mut self,
        queue: &str,
        limit: RateLimit,
        tat: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        taken: usize,
    ) {
        let tat = lifecycle::rate_spend(&limit, tat, now, taken);
        self.rates.insert(queue.to_owned(), (limit, tat));
        self.hold(queue, lifecycle::rate_next_start(&limit, tat, now));
    }

    /// The queue's tasks in `RUNNING`: what its limit counts.
    fn running_in(&self, queue: &str) -> u64 {
        self.running
            .iter()
            .filter(|id| self.tasks.get(id).is_some_and(|r| r.queue == queue))
            .count() as u64
    }

    /// The type and key limits and rate limits a claim taking
    /// `task_types` at `now` meets, each with what it leaves beside the
    /// `RUNNING` tasks (every queue's) and the buckets' stored times.
    fn type_caps(&self, task_types: Option<&[&str]>, now: DateTime<Utc>) -> lifecycle::TypeCaps {
        let mut caps = lifecycle::TypeCaps::default();
        let applies = |t: &str| task_types.is_none_or(|types| types.contains(&t));
        for (task_type, &(limit, tat)) in &self.type_rates {
            if applies(task_type) {
                caps.type_rate(task_type, limit, tat, now);
            }
        }
        for (task_type, &limit) in &self.key_rates {
            if applies(task_type) {
                caps.key_rate(task_type, limit, now);
            }
        }
        for ((task_type, key), &tat) in &self.key_tats {
            caps.key_tat(task_type, key, tat);
        }
        for (task_type, &limit) in &self.key_limits {
            if applies(task_type) {
                caps.key_limit(task_type, limit);
            }
        }
        let limited: Vec<(&String, u32)> = self
            .type_limits
            .iter()
            .filter(|(t, _)| applies(t))
            .map(|(t, &limit)| (t, limit))
            .collect();
        if limited.is_empty() && self.key_limits.is_empty() {
            return caps;
        }
        let mut running: HashMap<&str, u64> = HashMap::new();
        for record in self.running.iter().filter_map(|id| self.tasks.get(id)) {
            *running.entry(record.task_type.as_str()).or_default() += 1;
            if let Some(key) = lifecycle::counted_key(&caps, record) {
                caps.key_running(&record.task_type, key, 1);
            }
        }
        for (task_type, limit) in limited {
            let running = running.get(task_type.as_str()).copied().unwrap_or(0);
            caps.limit(task_type, limit, running);
        }
        caps
    }

    /// Stores what a claim of `queue` at `now` spent from the type and key
    /// buckets, forgets the key buckets that refilled, and records when
    /// the earliest bucket that held a task back frees.
    fn spend_type_rates(&mut self, queue: &str, caps: &lifecycle::TypeCaps, now: DateTime<Utc>) {
        for (task_type, tat) in caps.spent_type_rates() {
            if let Some((_, stored)) = self.type_rates.get_mut(task_type) {
                *stored = Some(tat);
            }
        }
        for (task_type, key, tat) in caps.spent_key_rates() {
            self.key_tats
                .insert((task_type.to_owned(), key.to_owned()), tat);
        }
        if !self.key_tats.is_empty() {
            self.key_tats
                .retain(|_, tat| lifecycle::key_bucket_spent(*tat, now));
        }
        match caps.rate_wake() {
            Some(until) => self.wakes.insert(queue.to_owned(), until),
            None => self.wakes.remove(queue),
        };
    }

    fn put_schedule(&mut self, schedule: Schedule) {
        if let Some(old) = self.schedules.get(&schedule.def.name).and_then(due_key) {
            self.due_schedules.remove(&old);
        }
        if let Some(key) = due_key(&schedule) {
            self.due_schedules.insert(key);
        }
        self.schedules.insert(schedule.def.name.clone(), schedule);
    }
}

/// The due-index entry of a schedule, if it has one.
fn due_key(schedule: &Schedule) -> Option<(DateTime<Utc>, String)> {
    schedule
        .next_run_at
        .filter(|_| schedule.def.enabled)
        .map(|at| (at, schedule.def.name.clone()))
}

// The conformance helpers build the records.
#[cfg(all(test, feature = "conformance"))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backend::{Broker, Store};
    use crate::task::WorkflowStep;

    /// A delete or a purge drops the steps it removes from their
    /// workflow's list, and the list once it is empty.
    #[tokio::test]
    async fn removing_steps_prunes_the_workflow_index() {
        let backend = Arc::new(MemoryBackend::new());
        let workflow = uuid::Uuid::now_v7();
        let steps: Vec<TaskRecord> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let mut task = crate::conformance::record("t", "q", 0, Utc::now());
                task.step = Some(WorkflowStep::root(workflow, name));
                task
            })
            .collect();
        let ids: Vec<TaskId> = steps.iter().map(|t| t.id).collect();
        backend.enqueue(steps).await.expect("enqueue");
        for id in &ids {
            backend.cancel(*id, Utc::now()).await.expect("cancel");
        }
        backend.delete_task(ids[0]).await.expect("delete");
        assert_eq!(backend.lock().workflows[&workflow], ids[1..]);
        let purged = backend
            .purge(
                &[TaskState::Cancelled],
                Utc::now() + chrono::Duration::seconds(1),
            )
            .await
            .expect("purge");
        assert_eq!(purged, 2);
        assert!(backend.lock().workflows.is_empty());
        assert!(
            backend
                .workflow_steps(workflow)
                .await
                .expect("read")
                .is_empty()
        );
    }
}
