//! The reference store: every rule of [`crate::lifecycle`] applied to a
//! plain list of records, with no index and no cleverness — each call
//! scans everything, so what it answers is easy to believe.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::limits::TypeLimits;
use crate::backend::{
    ClaimRequest, Enqueued, FairWeight, LeaseStatus, PendingByType, Position, QueueStats,
    RescueReport, Settlement, check_purge_states,
};
use crate::error::Error;
use crate::lifecycle::{self, Rescued, RetryPolicies};
use crate::rate_limit::RateLimit;
use crate::schedule::{Schedule, ScheduleFiring};
use crate::task::{Progress, TaskId, TaskRecord, TaskState};

/// Records in submission order, paused queues, rate limits with their
/// buckets, fair queues with their rounds and weights, the task type
/// limits, the case's schedule, and the task that last took each (queue,
/// unique key).
#[derive(Debug, Clone)]
pub struct Reference {
    pub tasks: Vec<TaskRecord>,
    pub paused: Vec<String>,
    pub rates: BTreeMap<String, (RateLimit, Option<DateTime<Utc>>)>,
    /// Fair queues with their rounds (`lifecycle::fair_round`).
    pub fair: BTreeMap<String, lifecycle::FairRounds>,
    pub schedule: Schedule,
    pub unique: BTreeMap<(String, String), TaskId>,
    /// Task type and key limits and rate limits.
    pub limits: TypeLimits,
    /// Each queue's fair weights, by key (`Broker::set_fair_weight`):
    /// kept apart from the rounds, so a queue set not fair keeps them.
    pub fair_weights: BTreeMap<String, BTreeMap<String, u32>>,
}

impl Reference {
    pub fn new(schedule: Schedule) -> Reference {
        Reference {
            tasks: Vec::new(),
            paused: Vec::new(),
            rates: BTreeMap::new(),
            fair: BTreeMap::new(),
            schedule,
            unique: BTreeMap::new(),
            limits: TypeLimits::default(),
            fair_weights: BTreeMap::new(),
        }
    }

    pub fn get(&self, id: TaskId) -> Option<&TaskRecord> {
        self.tasks.iter().find(|r| r.id == id)
    }

    fn get_mut(&mut self, id: TaskId) -> Result<&mut TaskRecord, Error> {
        self.tasks
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or(Error::NotFound(id))
    }

    pub fn enqueue(
        &mut self,
        tasks: Vec<TaskRecord>,
        now: DateTime<Utc>,
    ) -> Result<Enqueued, Error> {
        lifecycle::check_new_ids(&tasks, |id| self.get(id).is_some())?;
        let Reference {
            tasks: stored,
            unique,
            ..
        } = self;
        let enqueued = lifecycle::sort_unique(&tasks, |task, key| {
            let slot = (task.queue.clone(), key.key.clone());
            let held = unique.get(&slot).copied().filter(|holder| {
                stored
                    .iter()
                    .any(|r| r.id == *holder && lifecycle::holds_unique(r, now))
            });
            if held.is_none() {
                unique.insert(slot, task.id);
            }
            held
        });
        let mut stored = enqueued.stored(tasks);
        self.assign_rounds(&mut stored);
        self.tasks.extend(stored);
        Ok(enqueued)
    }

    pub fn claim(&mut self, request: ClaimRequest<'_>) -> Vec<TaskRecord> {
        if self.paused.iter().any(|q| q == request.queue) {
            return Vec::new();
        }
        let mut due: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| {
                let record = &self.tasks[i];
                record.queue == request.queue
                    && lifecycle::is_claimable(record, request.now)
                    && lifecycle::accepts_type(request.task_types, &record.task_type)
            })
            .collect();
        due.sort_by_key(|&i| lifecycle::claim_order(&self.tasks[i]));
        let lease_until = request.now + request.lease;
        let rate = self.rates.get(request.queue).copied();
        let want = rate.map_or(request.limit, |(limit, tat)| {
            lifecycle::rate_capacity(&limit, tat, request.now, request.limit)
        });
        // `lifecycle::TypeCaps`: a task of a full type keeps its place.
        let mut caps = self.limits.caps(&self.tasks, request.now);
        let admitted: Vec<usize> = due
            .into_iter()
            .filter(|&i| {
                let record = &self.tasks[i];
                caps.admit(&record.task_type, record.concurrency_key.as_deref())
            })
            .take(want)
            .collect();
        let claimed: Vec<TaskRecord> = admitted
            .into_iter()
            .map(|i| {
                let record = &mut self.tasks[i];
                lifecycle::claim(record, request.worker_id, request.now, lease_until);
                record.clone()
            })
            .collect();
        self.limits.spend(&caps);
        if let Some((limit, tat)) = rate {
            let tat = lifecycle::rate_spend(&limit, tat, request.now, claimed.len());
            self.rates.insert(request.queue.to_owned(), (limit, tat));
        }
        if let Some(rounds) = self.fair.get_mut(request.queue) {
            claimed.iter().for_each(|record| rounds.claimed(record));
        }
        claimed
    }

    /// `lifecycle::FairRounds::assign` for a batch of new tasks, each lane
    /// owed what its tasks still hold.
    fn assign_rounds(&mut self, tasks: &mut [TaskRecord]) {
        for (queue, rounds) in &mut self.fair {
            rounds.weights = self
                .fair_weights
                .get(queue)
                .map(|weights| weights.iter().map(|(k, &w)| (k.clone(), w)).collect())
                .unwrap_or_default();
            // `lifecycle::owed_next`, read from the records (as SQL does).
            let lanes: std::collections::BTreeSet<&str> = tasks
                .iter()
                .filter(|t| t.queue == *queue)
                .map(lifecycle::fair_lane)
                .collect();
            for lane in lanes {
                if !rounds.ahead(lane) {
                    continue;
                }
                let latest = self
                    .tasks
                    .iter()
                    .filter(|r| {
                        r.queue == *queue
                            && lifecycle::fair_lane(r) == lane
                            && matches!(r.state, TaskState::Pending | TaskState::Waiting)
                            && r.fair_round >= rounds.current
                    })
                    .map(|r| r.fair_round)
                    .max();
                rounds.owe(lane, latest);
            }
            rounds.assign(tasks.iter_mut().filter(|t| t.queue == *queue));
        }
    }

    /// `Broker::set_queue_fair`: on keeps the rounds, off forgets them.
    pub fn set_queue_fair(&mut self, queue: &str, fair: bool) {
        if !fair {
            self.fair.remove(queue);
        } else if !self.fair.contains_key(queue) {
            self.fair
                .insert(queue.to_owned(), lifecycle::FairRounds::default());
        }
    }

    /// `Broker::set_fair_weight`: checked, then set or cleared.
    pub fn set_fair_weight(
        &mut self,
        queue: &str,
        key: &str,
        weight: Option<u32>,
    ) -> Result<(), Error> {
        lifecycle::check_fair_weight(key, weight)?;
        let weights = self.fair_weights.entry(queue.to_owned()).or_default();
        match weight {
            Some(weight) => weights.insert(key.to_owned(), weight),
            None => weights.remove(key),
        };
        if weights.is_empty() {
            self.fair_weights.remove(queue);
        }
        Ok(())
    }

    /// `Broker::fair_weights`, by key.
    pub fn fair_weights(&self, queue: &str) -> Vec<FairWeight> {
        self.fair_weights
            .get(queue)
            .into_iter()
            .flatten()
            .map(|(key, &weight)| FairWeight {
                key: key.clone(),
                weight,
            })
            .collect()
    }

    /// `Broker::set_queue_rate_limit`: a change keeps the bucket, a clear
    /// forgets it.
    pub fn set_queue_rate_limit(&mut self, queue: &str, limit: Option<RateLimit>) {
        match limit {
            Some(limit) => {
                let tat = self.rates.get(queue).and_then(|(_, tat)| *tat);
                self.rates.insert(queue.to_owned(), (limit, tat));
            }
            None => {
                self.rates.remove(queue);
            }
        }
    }

    pub fn settle(&mut self, settlements: &[Settlement]) -> Vec<bool> {
        settlements
            .iter()
            .map(|s| {
                let applied = self
                    .get_mut(s.id)
                    .is_ok_and(|record| lifecycle::settle(record, s));
                if applied {
                    self.steps_ended(s.id, s.at);
                }
                applied
            })
            .collect()
    }

    /// `lifecycle::parent_ended` along the edges of `id` if it ended, and
    /// of every step that cancels, until none is left.
    fn steps_ended(&mut self, id: TaskId, now: DateTime<Utc>) {
        let mut edges = self.get(id).map(lifecycle::ended_edges).unwrap_or_default();
        while let Some((child, parent, state)) = edges.pop() {
            if let Ok(record) = self.get_mut(child)
                && lifecycle::parent_ended(record, parent, state, now)
                    == lifecycle::Arrival::Cancelled
            {
                edges.extend(lifecycle::ended_edges(record));
            }
        }
    }

    pub fn heartbeat(
        &mut self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        lease_until: DateTime<Utc>,
    ) -> Vec<LeaseStatus> {
        tasks
            .iter()
            .map(|&(id, attempt)| match self.get_mut(id) {
                Ok(record) => lifecycle::heartbeat(record, worker_id, attempt, lease_until),
                Err(_) => LeaseStatus::Lost,
            })
            .collect()
    }

    pub fn release(&mut self, worker_id: &str, tasks: &[(TaskId, u32)], now: DateTime<Utc>) {
        for &(id, attempt) in tasks {
            if let Ok(record) = self.get_mut(id)
                && lifecycle::release(record, worker_id, attempt, now)
                && record.state.is_terminal()
            {
                self.steps_ended(id, now);
            }
        }
    }

    pub fn record_progress(&mut self, id: TaskId, attempt: u32, progress: Progress) -> bool {
        self.get_mut(id)
            .is_ok_and(|record| lifecycle::record_progress(record, attempt, progress))
    }

    pub fn cancel(&mut self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let record = self.get_mut(id)?;
        lifecycle::cancel(record, now)?;
        let record = record.clone();
        if record.state.is_terminal() {
            self.steps_ended(id, now);
        }
        Ok(record)
    }

    pub fn retry(&mut self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let current = self.get(id).ok_or(Error::NotFound(id))?.clone();
        let tasks = &self.tasks;
        let plan = lifecycle::plan_resume(&current, &mut |id| {
            tasks.iter().find(|r| r.id == id).cloned()
        })?;
        let record = self.get_mut(id)?;
        lifecycle::retry(record, now)?;
        let record = record.clone();
        for change in plan {
            let (lifecycle::Resume::Rewait { id, .. } | lifecycle::Resume::CountAgain { id }) =
                change;
            if let Ok(step) = self.get_mut(id) {
                lifecycle::apply_resume(step, change);
            }
        }
        Ok(record)
    }

    pub fn reorder(&mut self, id: TaskId, position: Position) -> Result<TaskRecord, Error> {
        let record = self.get(id).ok_or(Error::NotFound(id))?.clone();
        lifecycle::check_reorder(&record)?;
        let target = match position {
            Position::Before(target) => {
                Some(self.get(target).ok_or(Error::NotFound(target))?.clone())
            }
            _ => None,
        };
        let others: Vec<lifecycle::Place> = self
            .tasks
            .iter()
            .filter(|r| r.state == TaskState::Pending && r.queue == record.queue && r.id != id)
            .map(lifecycle::place)
            .collect();
        let plan = lifecycle::reorder(&record, &others, position, target.as_ref())?;
        if let Some((priority, round, seq, target_id)) = plan.shift_before {
            for other in self.tasks.iter_mut().filter(|r| {
                r.state == TaskState::Pending
                    && r.queue == record.queue
                    && r.id != id
                    && (r.priority, r.fair_round) == (priority, round)
                    && (r.seq, r.id) < (seq, target_id)
            }) {
                other.seq -= 2;
            }
        }
        let record = self.get_mut(id)?;
        record.priority = plan.priority;
        record.fair_round = plan.fair_round;
        record.seq = plan.seq;
        Ok(record.clone())
    }

    pub fn set_queue_paused(&mut self, queue: &str, paused: bool) {
        self.paused.retain(|q| q != queue);
        if paused {
            self.paused.push(queue.to_owned());
        }
    }

    pub fn rescue_expired(
        &mut self,
        now: DateTime<Utc>,
        policies: &dyn RetryPolicies,
    ) -> RescueReport {
        let mut report = RescueReport::default();
        let mut ended = Vec::new();
        for record in &mut self.tasks {
            match lifecycle::rescue(record, now, policies) {
                Some(Rescued::Requeued) => report.requeued += 1,
                Some(Rescued::Failed) => report.failed += 1,
                Some(Rescued::Cancelled) => report.cancelled += 1,
                None => continue,
            }
            ended.push(record.id);
        }
        for id in ended {
            self.steps_ended(id, now);
        }
        report
    }

    /// `lifecycle::expire` for up to `limit` overdue tasks, by deadline.
    pub fn expire_overdue(&mut self, now: DateTime<Utc>, limit: usize) -> u64 {
        let mut overdue: Vec<(DateTime<Utc>, TaskId)> = self
            .tasks
            .iter()
            .filter(|r| lifecycle::is_expired(r, now))
            .filter_map(|r| r.expires_at.map(|at| (at, r.id)))
            .collect();
        overdue.sort();
        overdue.truncate(limit);
        for &(_, id) in &overdue {
            if let Ok(record) = self.get_mut(id) {
                lifecycle::expire(record, now);
            }
            self.steps_ended(id, now);
        }
        overdue.len() as u64
    }

    pub fn delete_task(&mut self, id: TaskId) -> Result<TaskRecord, Error> {
        lifecycle::check_delete(self.get(id).ok_or(Error::NotFound(id))?)?;
        let at = self
            .tasks
            .iter()
            .position(|r| r.id == id)
            .ok_or(Error::NotFound(id))?;
        Ok(self.tasks.remove(at))
    }

    pub fn purge(&mut self, states: &[TaskState], before: DateTime<Utc>) -> Result<u64, Error> {
        check_purge_states(states)?;
        let count = self.tasks.len();
        self.tasks
            .retain(|r| !lifecycle::is_purged(r, states, before));
        Ok((count - self.tasks.len()) as u64)
    }

    /// Per queue: live tasks (pending and scheduled summed, since where a
    /// backend draws the line between them depends on its own clock),
    /// running tasks and the pause flag; the queues with a live task or a
    /// pause flag appear.
    pub fn queue_stats(&self) -> Vec<QueueStats> {
        let empty = |queue: &str| QueueStats {
            queue: queue.to_owned(),
            ..QueueStats::default()
        };
        let mut stats: BTreeMap<&str, QueueStats> = BTreeMap::new();
        for record in &self.tasks {
            let counts = stats
                .entry(&record.queue)
                .or_insert_with(|| empty(&record.queue));
            match record.state {
                TaskState::Pending => counts.pending += 1,
                TaskState::Running => counts.running += 1,
                _ => {}
            }
        }
        for queue in &self.paused {
            stats.entry(queue).or_insert_with(|| empty(queue)).paused = true;
        }
        for queue in self.fair.keys() {
            stats.entry(queue).or_insert_with(|| empty(queue)).fair = true;
        }
        // The hold is read on the real clock by the backends: not compared.
        for (queue, (limit, _)) in &self.rates {
            stats
                .entry(queue)
                .or_insert_with(|| empty(queue))
                .rate_limit = Some(*limit);
        }
        stats
            .into_values()
            .filter(|s| s.pending + s.running > 0 || s.paused)
            .collect()
    }

    /// Pending tasks per queue and type, by queue then type.
    pub fn pending_by_type(&self) -> Vec<PendingByType> {
        let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for record in self.tasks.iter().filter(|r| r.state == TaskState::Pending) {
            *counts
                .entry((&record.queue, &record.task_type))
                .or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((queue, task_type), count)| PendingByType {
                queue: queue.to_owned(),
                task_type: task_type.to_owned(),
                count,
            })
            .collect()
    }

    /// The schedule store's compare-and-set firing, for the one schedule.
    pub fn fire_schedules(&mut self, firings: Vec<ScheduleFiring>) -> Vec<bool> {
        firings
            .into_iter()
            .map(|mut firing| {
                crate::lifecycle::name_fired_tasks(&mut firing);
                let stored = &mut self.schedule;
                if firing.name != stored.def.name
                    || stored.next_run_at != firing.expected_next_run_at
                    || stored.revision != firing.expected_revision
                {
                    return false;
                }
                stored.next_run_at = firing.next_run_at;
                stored.run_count += firing.runs() as u64;
                if let Some(last) = firing.last_task() {
                    stored.last_run_at = Some(firing.fired_at);
                    stored.last_task_id = Some(last.id);
                }
                let mut new: Vec<TaskRecord> = firing
                    .tasks
                    .into_iter()
                    .filter(|task| self.get(task.id).is_none())
                    .collect();
                self.assign_rounds(&mut new);
                self.tasks.extend(new);
                true
            })
            .collect()
    }

    /// An edit: definition, `enabled`, `next_run_at` and `updated_at`
    /// replaced, run bookkeeping kept, revision bumped.
    pub fn update_schedule(&mut self, schedule: &Schedule) {
        let stored = &mut self.schedule;
        stored.def = schedule.def.clone();
        stored.next_run_at = schedule.next_run_at;
        stored.updated_at = schedule.updated_at;
        stored.revision += 1;
    }
}
