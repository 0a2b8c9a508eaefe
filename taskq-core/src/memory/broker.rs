//! [`Broker`] for the in-memory backend: each call is one lifecycle rule
//! applied under the lock.

use std::collections::HashMap;
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::{MemoryBackend, State};
use crate::backend::{
    Broker, ClaimRequest, Enqueued, FairWeight, LeaseStatus, Position, RescueReport, Settlement,
};
use crate::error::Error;
use crate::lifecycle::{self, Rescued, Resume, RetryPolicies};
use crate::rate_limit::RateLimit;
use crate::task::{TaskId, TaskRecord, TaskState};

#[async_trait]
impl Broker for MemoryBackend {
    async fn enqueue(&self, tasks: Vec<TaskRecord>) -> Result<Enqueued, Error> {
        let now = Utc::now();
        let enqueued;
        {
            let mut state = self.lock();
            lifecycle::check_new_ids(&tasks, |id| state.tasks.contains_key(&id))?;
            let State {
                tasks: stored,
                unique,
                ..
            } = &mut *state;
            enqueued = lifecycle::sort_unique(&tasks, |task, key| {
                let slot = (task.queue.clone(), key.key.clone());
                let held = unique.get(&slot).copied().filter(|holder| {
                    stored
                        .get(holder)
                        .is_some_and(|record| lifecycle::holds_unique(record, now))
                });
                if held.is_none() {
                    unique.insert(slot, task.id);
                }
                held
            });
            state.insert_batch(enqueued.stored(tasks), now);
        }
        self.signal.notify_waiters();
        Ok(enqueued)
    }

    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Vec<TaskRecord>, Error> {
        let (claimed, expired) = self.claim_locked(&request);
        if !expired.is_empty() {
            self.expired(expired, request.now);
        }
        Ok(claimed)
    }

    async fn settle(&self, settlements: Vec<Settlement>) -> Result<Vec<bool>, Error> {
        let mut requeued = false;
        let (applied, cascade): (Vec<bool>, _) = {
            let mut state = self.lock();
            let applied = settlements
                .iter()
                .map(|settlement| {
                    let applied = state
                        .update(settlement.id, settlement.at, |record| {
                            lifecycle::settle(record, settlement)
                        })
                        .unwrap_or(false);
                    requeued |= applied && settlement.outcome.requeues();
                    applied
                })
                .collect();
            (applied, state.take_cascade())
        };
        if requeued {
            self.signal.notify_waiters();
        }
        self.wake(cascade);
        self.ends.ended(
            settlements
                .iter()
                .zip(&applied)
                .filter(|(s, applied)| **applied && !s.outcome.requeues())
                .map(|(s, _)| s.id),
        );
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
            .map(|&(id, attempt)| match state.tasks.get_mut(&id) {
                Some(record) => lifecycle::heartbeat(record, worker_id, attempt, lease_until),
                None => LeaseStatus::Lost,
            })
            .collect())
    }

    async fn release(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let cascade = {
            let mut state = self.lock();
            for &(id, attempt) in tasks {
                state.update(id, now, |record| {
                    lifecycle::release(record, worker_id, attempt, now)
                });
            }
            state.take_cascade()
        };
        self.signal.notify_waiters();
        self.wake(cascade);
        // Those whose cancel was requested ended; the rest wake for nothing.
        self.ends.ended(tasks.iter().map(|&(id, _)| id));
        Ok(())
    }

    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let (record, cascade) = {
            let mut state = self.lock();
            let record = state.update(id, now, |record| {
                lifecycle::cancel(record, now).map(|()| record.clone())
            });
            (record, state.take_cascade())
        };
        self.wake(cascade);
        let record = record.ok_or(Error::NotFound(id))??;
        if record.state.is_terminal() {
            self.ends.ended([id]);
        }
        Ok(record)
    }

    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let record = {
            let mut state = self.lock();
            let current = state.tasks.get(&id).ok_or(Error::NotFound(id))?.clone();
            let plan = lifecycle::plan_resume(&current, &mut |id| state.tasks.get(&id).cloned())?;
            let record = state
                .update(id, now, |record| {
                    lifecycle::retry(record, now).map(|()| record.clone())
                })
                .ok_or(Error::NotFound(id))??;
            for change in plan {
                let (Resume::Rewait { id, .. } | Resume::CountAgain { id }) = change;
                state.update(id, now, |record| lifecycle::apply_resume(record, change));
            }
            record
        };
        self.signal.notify_waiters();
        Ok(record)
    }

    async fn reorder(&self, id: TaskId, position: Position) -> Result<TaskRecord, Error> {
        let now = Utc::now();
        let mut state = self.lock();
        let record = state.tasks.get(&id).ok_or(Error::NotFound(id))?.clone();
        lifecycle::check_reorder(&record)?;
        let target = match position {
            Position::Before(target) => Some(
                state
                    .tasks
                    .get(&target)
                    .ok_or(Error::NotFound(target))?
                    .clone(),
            ),
            _ => None,
        };
        let others: Vec<lifecycle::Place> = state
            .tasks
            .values()
            .filter(|r| r.state == TaskState::Pending && r.queue == record.queue && r.id != id)
            .map(lifecycle::place)
            .collect();
        let plan = lifecycle::reorder(&record, &others, position, target.as_ref())?;
        if let Some((priority, round, seq, target_id)) = plan.shift_before {
            for &(_, _, _, other) in others
                .iter()
                .filter(|o| (o.0, o.1) == (priority, round) && (o.2, o.3) < (seq, target_id))
            {
                state.update(other, now, |r| r.seq -= 2);
            }
        }
        state
            .update(id, now, |record| {
                record.priority = plan.priority;
                record.fair_round = plan.fair_round;
                record.seq = plan.seq;
                record.clone()
            })
            .ok_or(Error::NotFound(id))
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

    async fn set_queue_rate_limit(
        &self,
        queue: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        lifecycle::check_rate_limit(limit.as_ref())?;
        self.change_setting(|state| {
            // A changed limit keeps what the bucket spent.
            let tat = state.rates.get(queue).and_then(|(_, tat)| *tat);
            if limit.is_none() {
                state.holds.remove(queue);
            }
            put(&mut state.rates, queue, limit.map(|limit| (limit, tat)));
        });
        Ok(())
    }

    async fn set_queue_fair(&self, queue: &str, fair: bool) -> Result<(), Error> {
        let mut state = self.lock();
        if !fair {
            state.fair.remove(queue);
        } else if !state.fair.contains_key(queue) {
            // The rounds its waiting tasks kept from an earlier spell hold
            // (`lifecycle::owed_next`), as SQL reads them from the rows.
            let mut rounds = lifecycle::FairRounds::default();
            for record in state.tasks.values().filter(|r| {
                r.queue == queue && matches!(r.state, TaskState::Pending | TaskState::Waiting)
            }) {
                let lane = lifecycle::fair_lane(record);
                rounds.held.hold(lane, record.fair_round, record.id);
            }
            state.fair.insert(queue.to_owned(), rounds);
        }
        Ok(())
    }

    async fn set_fair_weight(
        &self,
        queue: &str,
        key: &str,
        weight: Option<u32>,
    ) -> Result<(), Error> {
        lifecycle::check_fair_weight(key, weight)?;
        let mut state = self.lock();
        match weight {
            Some(weight) => {
                let weights = state.fair_weights.entry(queue.to_owned()).or_default();
                weights.insert(key.to_owned(), weight);
            }
            None => {
                if let Some(weights) = state.fair_weights.get_mut(queue) {
                    weights.remove(key);
                    if weights.is_empty() {
                        state.fair_weights.remove(queue);
                    }
                }
            }
        }
        Ok(())
    }

    async fn fair_weights(&self, queue: &str) -> Result<Vec<FairWeight>, Error> {
        let state = self.lock();
        Ok(state
            .fair_weights
            .get(queue)
            .map_or_else(Vec::new, |weights| {
                weights
                    .iter()
                    .map(|(key, &weight)| FairWeight {
                        key: key.clone(),
                        weight,
                    })
                    .collect()
            }))
    }

    fn claim_hold(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.lock().holds.get(queue).copied()
    }

    fn claim_wake(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.lock().wakes.get(queue).copied()
    }

    async fn set_type_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        lifecycle::check_type_rate_limit(limit.as_ref())?;
        self.change_setting(|state| {
            // A changed limit keeps what the bucket spent.
            let tat = state.type_rates.get(task_type).and_then(|(_, tat)| *tat);
            put(
                &mut state.type_rates,
                task_type,
                limit.map(|limit| (limit, tat)),
            );
        });
        Ok(())
    }

    async fn set_key_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        lifecycle::check_type_rate_limit(limit.as_ref())?;
        self.change_setting(|state| {
            if limit.is_none() {
                state.key_tats.retain(|(t, _), _| t != task_type);
            }
            put(&mut state.key_rates, task_type, limit);
        });
        Ok(())
    }

    async fn set_queue_limit(&self, queue: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_queue_limit(limit)?;
        self.change_setting(|state| put(&mut state.limits, queue, limit));
        Ok(())
    }

    async fn set_type_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_type_limit(limit)?;
        self.change_setting(|state| put(&mut state.type_limits, task_type, limit));
        Ok(())
    }

    async fn set_key_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_type_limit(limit)?;
        self.change_setting(|state| put(&mut state.key_limits, task_type, limit));
        Ok(())
    }

    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        policies: &dyn RetryPolicies,
    ) -> Result<RescueReport, Error> {
        let mut report = RescueReport::default();
        let mut ended = Vec::new();
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
                        .is_some_and(|r| lifecycle::is_lease_expired(r, now))
                })
                .collect();
            for id in expired {
                match state
                    .update(id, now, |record| lifecycle::rescue(record, now, policies))
                    .flatten()
                {
                    Some(Rescued::Requeued) => report.requeued += 1,
                    Some(Rescued::Failed) => {
                        report.failed += 1;
                        ended.push(id);
                    }
                    Some(Rescued::Cancelled) => {
                        report.cancelled += 1;
                        ended.push(id);
                    }
                    None => {}
                }
            }
        }
        if report.requeued > 0 {
            self.signal.notify_waiters();
        }
        self.ends.ended(ended);
        let cascade = self.lock().take_cascade();
        self.wake(cascade);
        Ok(report)
    }

    async fn expire_overdue(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, Error> {
        let ids: Vec<TaskId> = self
            .lock()
            .deadlines
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .take(limit)
            .map(|&(_, id)| id)
            .collect();
        Ok(self.expired(ids, now))
    }

    fn work_signal(&self) -> Option<Arc<Notify>> {
        Some(self.signal.clone())
    }
}

impl MemoryBackend {
    /// Applies a limit's change under the lock, then wakes the workers: a
    /// raised or lifted limit may free slots.
    fn change_setting(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.lock());
        self.signal.notify_waiters();
    }

    /// The claim under the lock: the claimed records, and the ids of the
    /// tasks past their deadline it met in the ready set (taken out of it).
    fn claim_locked(&self, request: &ClaimRequest<'_>) -> (Vec<TaskRecord>, Vec<TaskId>) {
        let mut state = self.lock();
        if request.limit == 0 || state.paused.contains(request.queue) {
            return (Vec::new(), Vec::new());
        }
        // `lifecycle::claim_capacity`, counted under the lock that the
        // claim holds: a racing claimer sees these tasks running.
        let mut want = match state.limits.get(request.queue) {
            None => request.limit,
            Some(&limit) => lifecycle::claim_capacity(
                Some(limit),
                state.running_in(request.queue),
                request.limit,
            ),
        };
        // `lifecycle::rate_capacity`, under the same lock.
        let rate = state.rates.get(request.queue).copied();
        if let Some((limit, tat)) = rate {
            want = lifecycle::rate_capacity(&limit, tat, request.now, want);
        }
        if want == 0 {
            if let Some((limit, tat)) = rate {
                state.hold(
                    request.queue,
                    lifecycle::rate_next_start(&limit, tat, request.now),
                );
            }
            return (Vec::new(), Vec::new());
        }
        // `lifecycle::TypeCaps`, counted under the same lock.
        let mut caps = state.type_caps(request.task_types, request.now);
        if caps.all_full(request.task_types) {
            state.spend_type_rates(request.queue, &caps, request.now);
            return (Vec::new(), Vec::new());
        }
        state.promote_due(request.now);
        let lease_until = request.now + request.lease;
        let mut claimed = Vec::with_capacity(want);
        let mut expired = Vec::new();
        let State {
            tasks,
            running,
            delayed,
            ready,
            ..
        } = &mut *state;
        let Some(ready) = ready.get_mut(request.queue) else {
            if let Some((limit, tat)) = rate {
                state.spend_rate(request.queue, limit, tat, request.now, 0);
            }
            state.spend_type_rates(request.queue, &caps, request.now);
            return (claimed, expired);
        };
        // Walk the queue in claim order; a task of a type this claim does
        // not take keeps its place (`after` steps past it).
        let mut after = None;
        while claimed.len() < want {
            let next = match after {
                None => ready.first().copied(),
                Some(key) => ready.range((Excluded(key), Unbounded)).next().copied(),
            };
            let Some(key) = next else { break };
            let (_, _, _, id) = key;
            let Some(record) = tasks.get_mut(&id) else {
                ready.remove(&key);
                continue;
            };
            if !lifecycle::accepts_type(request.task_types, &record.task_type) {
                after = Some(key);
                continue;
            }
            if lifecycle::is_expired(record, request.now) {
                // Never started: expired below, once the walk is done.
                ready.remove(&key);
                expired.push(id);
                continue;
            }
            if !lifecycle::is_claimable(record, request.now) {
                // Filed as ready by a later clock than this claim's.
                ready.remove(&key);
                delayed.insert((record.scheduled_at, id));
                continue;
            }
            // A full type's task keeps its place, like another type's.
            if !caps.admit(&record.task_type, record.concurrency_key.as_deref()) {
                after = Some(key);
                continue;
            }
            ready.remove(&key);
            lifecycle::claim(record, request.worker_id, request.now, lease_until);
            running.insert(id);
            claimed.push(record.clone());
        }
        // The claimed leave the pending counts here, not through `unindex`.
        for record in &claimed {
            state.count_pending(record, false);
        }
        // `lifecycle::fair_claimed`: the queue's current round moves on.
        if let Some(rounds) = state.fair.get_mut(request.queue) {
            for record in &claimed {
                rounds.claimed(record);
                // Out of pending here, not through `unindex`.
                let lane = lifecycle::fair_lane(record);
                rounds.held.leave(lane, record.fair_round, record.id);
            }
        }
        if let Some((limit, tat)) = rate {
            state.spend_rate(request.queue, limit, tat, request.now, claimed.len());
        }
        state.spend_type_rates(request.queue, &caps, request.now);
        (claimed, expired)
    }

    /// Applies `lifecycle::expire` to `ids` at `now`, then wakes their
    /// waiters and what their ends released. Returns how many expired.
    fn expired(&self, ids: Vec<TaskId>, now: DateTime<Utc>) -> u64 {
        let (ended, cascade) = {
            let mut state = self.lock();
            let ended: Vec<TaskId> = ids
                .into_iter()
                .filter(|&id| {
                    state
                        .update(id, now, |record| lifecycle::expire(record, now))
                        .unwrap_or(false)
                })
                .collect();
            (ended, state.take_cascade())
        };
        let count = ended.len() as u64;
        self.ends.ended(ended);
        self.wake(cascade);
        count
    }
}

/// Sets `name`'s entry of `settings` to `value`, or removes it for `None`.
fn put<V>(settings: &mut HashMap<String, V>, name: &str, value: Option<V>) {
    match value {
        Some(value) => {
            settings.insert(name.to_owned(), value);
        }
        None => {
            settings.remove(name);
        }
    }
}
