//! One case: a sequence of [`Op`]s applied to a backend and to the
//! [`Reference`], with every return value and every observable record
//! compared after each step.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::ops::{
    CLAIM_TYPES, Op, OutcomeKind, QUEUES, ReorderTo, TASK_TYPES, Target, UNIQUE_KEYS,
    UNIQUE_STATES, WORKERS,
};
use super::reference::Reference;
use crate::backend::{
    Backend, ClaimRequest, Enqueued, LeaseStatus, Outcome, Position, RescueReport, Settlement,
};
use crate::conformance::helpers;
use crate::error::Error;
use crate::lifecycle::RetryPolicy;
use crate::schedule::{Schedule, ScheduleDef, ScheduleFiring};
use crate::task::{
    Backoff, ErrorKind, Progress, RunWhen, StepInput, TaskFailure, TaskId, TaskRecord, TaskState,
    UniqueKey, WorkflowStep,
};

/// The schedule every case starts with.
pub(super) const SCHEDULE: &str = "model";
/// Its interval.
const EVERY: Duration = Duration::from_secs(60);
/// A sweep's limit above any case's task count: every overdue task goes,
/// whichever order a backend takes them in.
const SWEEP_ALL: usize = 10_000;

/// The backoff a rescued task waits: real delays, no jitter, so the
/// reference and the backend draw the same retry time.
const RESCUE_POLICY: RetryPolicy = RetryPolicy {
    retry_delay: Duration::from_secs(2),
    backoff: Backoff {
        factor: 2.0,
        max: Duration::from_secs(30),
        jitter: 0.0,
    },
};

/// What a call returned, in a form both sides can be compared in. Errors
/// compare by their message, which [`crate::lifecycle`] owns.
#[derive(Debug, PartialEq)]
pub(super) enum Returned {
    Unit(Result<(), String>),
    Enqueued(Result<Enqueued, String>),
    Records(Result<Vec<TaskRecord>, String>),
    Record(Result<Box<TaskRecord>, String>),
    Flags(Result<Vec<bool>, String>),
    Leases(Result<Vec<LeaseStatus>, String>),
    Count(Result<u64, String>),
    Rescue(Result<RescueReport, String>),
}

pub(super) fn message<T>(result: Result<T, Error>) -> Result<T, String> {
    result.map_err(|err| err.to_string())
}

fn boxed(result: Result<TaskRecord, Error>) -> Result<Box<TaskRecord>, String> {
    message(result.map(Box::new))
}

/// How often each kind of operation did what, over a run: a run whose
/// claims never take a task or whose settles are all stale proves little.
pub type Tally = std::collections::BTreeMap<String, u64>;

/// What a return value says the call did.
fn effect(returned: &Returned) -> &'static str {
    match returned {
        Returned::Unit(Ok(())) | Returned::Record(Ok(_)) => "ok",
        Returned::Enqueued(Ok(e)) if e.duplicates.is_empty() => "ok",
        Returned::Enqueued(Ok(_)) => "duplicate",
        Returned::Records(Ok(v)) if v.is_empty() => "none",
        Returned::Records(Ok(_)) => "some",
        Returned::Flags(Ok(v)) if v.contains(&true) => "applied",
        Returned::Flags(Ok(_)) => "stale",
        Returned::Leases(Ok(v)) if v.contains(&LeaseStatus::Lost) => "lost",
        Returned::Leases(Ok(_)) => "held",
        Returned::Count(Ok(0)) => "none",
        Returned::Count(Ok(_)) => "some",
        Returned::Rescue(Ok(r)) if r.requeued + r.failed + r.cancelled == 0 => "none",
        Returned::Rescue(Ok(_)) => "some",
        _ => "refused",
    }
}

/// A case in progress.
pub struct Case<'a> {
    pub(super) backend: &'a dyn Backend,
    pub(super) reference: Reference,
    /// Every id submitted so far, in order (deleted ones too).
    pub(super) ids: Vec<TaskId>,
    pub(super) now: DateTime<Utc>,
    /// Millisecond timestamp of the ids this case makes.
    id_millis: u64,
    made: u64,
}

impl<'a> Case<'a> {
    /// Starts a case on a fresh `backend` at virtual time `start`
    /// (milliseconds, so every backend stores it exactly), with the one
    /// schedule created on both sides.
    pub async fn start(backend: &'a dyn Backend, start: DateTime<Utc>) -> Result<Case<'a>, String> {
        let def = ScheduleDef::interval(SCHEDULE, "model_task", EVERY);
        let schedule = Schedule::new(def, start).map_err(|err| err.to_string())?;
        backend
            .create_schedule(schedule.clone())
            .await
            .map_err(|err| format!("create_schedule: {err}"))?;
        Ok(Case {
            backend,
            reference: Reference::new(schedule),
            ids: Vec::new(),
            now: start,
            id_millis: u64::try_from(start.timestamp_millis()).unwrap_or(0),
            made: 0,
        })
    }

    /// An id that sorts after every earlier one of the case: ties in the
    /// claim order fall to the id, and both sides must see the same order.
    fn new_id(&mut self) -> TaskId {
        self.made += 1;
        let mut bytes = [0u8; 10];
        bytes[2..].copy_from_slice(&self.made.to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(self.id_millis, &bytes).into_uuid()
    }

    /// The task a target names: with `aim`, one in a state `accepts`
    /// when the reference has one; else any id made so far; a
    /// never-submitted id while there is none.
    fn pick(&self, target: &Target, accepts: fn(TaskState) -> bool) -> TaskId {
        let aimed: Vec<TaskId> = self
            .reference
            .tasks
            .iter()
            .filter(|r| accepts(r.state))
            .map(|r| r.id)
            .collect();
        if target.aim && !aimed.is_empty() {
            aimed[target.index.index(aimed.len())]
        } else if self.ids.is_empty() {
            uuid::Uuid::from_u128(1)
        } else {
            self.ids[target.index.index(self.ids.len())]
        }
    }

    /// The worker a fenced call speaks for: the task's own, or the other.
    fn worker_of(&self, id: TaskId, wrong: bool) -> &'static str {
        let own = self
            .reference
            .get(id)
            .and_then(|r| r.worker_id.as_deref())
            .map_or(0, |w| usize::from(w == WORKERS[1]));
        WORKERS[if wrong { 1 - own } else { own }]
    }

    /// The attempt a fenced call names: the task's current one, or the
    /// one before it when `stale`.
    fn attempt_of(&self, id: TaskId, stale: bool) -> u32 {
        let attempt = self.reference.get(id).map_or(1, |r| r.attempt);
        if stale {
            attempt.wrapping_sub(1)
        } else {
            attempt
        }
    }

    fn record(
        &mut self,
        queue: &str,
        priority: i32,
        due: DateTime<Utc>,
        max_retries: u32,
    ) -> TaskRecord {
        let id = self.new_id();
        // Labels on some tasks, so that every backend's copy of them is
        // compared with the model's.
        let tags = match self.made % 3 {
            0 => vec![],
            1 => vec!["model".to_owned()],
            _ => vec!["model".to_owned(), format!("n:{}", self.made)],
        };
        let metadata = json!({ "made": self.made })
            .as_object()
            .cloned()
            .unwrap_or_default();
        // And a trace context on every other one (claims return it too).
        let trace_context = (self.made % 2 == 1).then(|| {
            let n = self.made;
            [("traceparent".to_owned(), format!("00-{n:032x}-{n:016x}-01"))].into()
        });
        TaskRecord {
            id,
            params: json!({ "n": self.made }),
            max_retries,
            created_at: self.now,
            tags,
            metadata,
            trace_context,
            ..helpers::record("model_task", queue, priority, due)
        }
    }

    /// The steps of an [`Op::SubmitWorkflow`]: parents before children,
    /// linked both ways, the roots pending and the rest waiting.
    fn workflow(&mut self, queue: usize, shape: usize, completed: bool) -> Vec<TaskRecord> {
        let parents: &[&[usize]] = match shape {
            0 => &[&[], &[0]],
            1 => &[&[], &[], &[0, 1]],
            _ => &[&[], &[0], &[1]],
        };
        let workflow = self.new_id();
        let now = self.now;
        let mut tasks: Vec<TaskRecord> = Vec::with_capacity(parents.len());
        for (i, of) in parents.iter().enumerate() {
            let queue = QUEUES[if i == 0 {
                queue
            } else {
                (queue + 1) % QUEUES.len()
            }];
            let mut record = self.record(queue, 0, now, 1);
            let last = i + 1 == parents.len();
            let runs = if last && completed {
                RunWhen::Completed
            } else {
                RunWhen::Succeeded
            };
            let input = match (of.len(), runs) {
                (0, _) => StepInput::Params,
                (_, RunWhen::Completed) => StepInput::Ends,
                (1, _) => StepInput::Result,
                _ => StepInput::Results,
            };
            if !of.is_empty() {
                record.state = TaskState::Waiting;
            }
            record.step = Some(WorkflowStep {
                parents: of.iter().map(|p| tasks[*p].id).collect(),
                waiting_on: of.len() as u32,
                input,
                runs,
                ..WorkflowStep::root(workflow, format!("s{i}"))
            });
            for &p in *of {
                if let Some(step) = tasks[p].step.as_mut() {
                    step.children.push(record.id);
                }
            }
            tasks.push(record);
        }
        tasks
    }

    fn ms(ms: u32) -> chrono::Duration {
        chrono::Duration::milliseconds(i64::from(ms))
    }

    /// Applies one operation to both sides and compares what they return
    /// and then everything they hold.
    pub async fn step(&mut self, op: &Op, tally: &mut Tally) -> Result<(), String> {
        let (expected, actual) = self.apply(op).await;
        if expected != actual {
            return Err(format!(
                "{op:?} returned differently\n  model:   {expected:?}\n  backend: {actual:?}"
            ));
        }
        let name = format!("{op:?}");
        let name = name.split([' ', '{']).next().unwrap_or_default();
        *tally
            .entry(format!("{name}:{}", effect(&expected)))
            .or_default() += 1;
        self.compare_all().await
    }

    async fn apply(&mut self, op: &Op) -> (Returned, Returned) {
        let backend = self.backend;
        let now = self.now;
        match op {
            Op::Submit {
                queue,
                priority,
                delay_ms,
                max_retries,
                count,
                task_type,
                unique,
                expires_ms,
                key,
            } => {
                let due = now + Self::ms(*delay_ms);
                let expires_at = expires_ms.map(|ms| now + Self::ms(ms));
                let tasks: Vec<TaskRecord> = (0..*count)
                    .map(|_| {
                        let mut record = self.record(QUEUES[*queue], *priority, due, *max_retries);
                        record.task_type = TASK_TYPES[*task_type].to_owned();
                        record.unique = unique.map(|(key, states)| UniqueKey {
                            key: UNIQUE_KEYS[key].to_owned(),
                            states: UNIQUE_STATES[states].to_vec(),
                            until: None,
                        });
                        record.expires_at = expires_at;
                        record.concurrency_key = (*key > 0).then(|| format!("k{key}"));
                        record
                    })
                    .collect();
                self.ids.extend(tasks.iter().map(|t| t.id));
                (
                    Returned::Enqueued(message(self.reference.enqueue(tasks.clone(), now))),
                    Returned::Enqueued(message(backend.enqueue(tasks).await)),
                )
            }
            Op::SubmitWorkflow {
                queue,
                shape,
                completed,
            } => {
                let tasks = self.workflow(*queue, *shape, *completed);
                self.ids.extend(tasks.iter().map(|t| t.id));
                (
                    Returned::Enqueued(message(self.reference.enqueue(tasks.clone(), now))),
                    Returned::Enqueued(message(backend.enqueue(tasks).await)),
                )
            }
            Op::SubmitDuplicate { task } => {
                // Before any task exists, the batch repeats its own id.
                let existing = (!self.ids.is_empty()).then(|| self.pick(task, |_| true));
                let fresh = self.record(QUEUES[0], 1, now, 1);
                let mut duplicate = fresh.clone();
                duplicate.id = existing.unwrap_or(fresh.id);
                self.ids.push(fresh.id);
                let tasks = vec![fresh, duplicate];
                (
                    Returned::Enqueued(message(self.reference.enqueue(tasks.clone(), now))),
                    Returned::Enqueued(message(backend.enqueue(tasks).await)),
                )
            }
            Op::Claim {
                queue,
                limit,
                worker,
                lease_secs,
                types,
            } => {
                let request = ClaimRequest {
                    queue: QUEUES[*queue],
                    limit: *limit,
                    worker_id: WORKERS[*worker],
                    lease: Duration::from_secs(u64::from(*lease_secs)),
                    now,
                    task_types: CLAIM_TYPES[*types],
                };
                // A claim may expire the overdue tasks it meets (memory,
                // Redis) or leave them to the sweep (SQL): a sweep at the
                // same time first leaves it none to meet, so the sides
                // agree on what a claim does with the rest.
                let swept = self.reference.expire_overdue(now, SWEEP_ALL);
                match backend.expire_overdue(now, SWEEP_ALL).await {
                    Ok(count) if count == swept => {}
                    other => return (Returned::Count(Ok(swept)), Returned::Count(message(other))),
                }
                (
                    Returned::Records(Ok(self.reference.claim(request.clone()))),
                    Returned::Records(message(backend.claim(request).await)),
                )
            }
            Op::Heartbeat {
                task,
                wrong_worker,
                stale,
            } => {
                let id = self.pick(task, is_running);
                let tasks = [(id, self.attempt_of(id, *stale))];
                let lease_until = now + chrono::Duration::seconds(30);
                let worker = self.worker_of(id, *wrong_worker);
                (
                    Returned::Leases(Ok(self.reference.heartbeat(worker, &tasks, lease_until))),
                    Returned::Leases(message(
                        backend.heartbeat(worker, &tasks, lease_until).await,
                    )),
                )
            }
            Op::Settle {
                task,
                stale,
                outcome,
                repeat,
            } => {
                let id = self.pick(task, is_running);
                let settlement = Settlement {
                    id,
                    attempt: self.attempt_of(id, *stale),
                    outcome: self.outcome(*outcome),
                    at: now,
                };
                let batch = if *repeat {
                    vec![settlement.clone(), settlement]
                } else {
                    vec![settlement]
                };
                (
                    Returned::Flags(Ok(self.reference.settle(&batch))),
                    Returned::Flags(message(backend.settle(batch).await)),
                )
            }
            Op::Release { task, wrong_worker } => {
                let id = self.pick(task, is_running);
                let tasks = [(id, self.attempt_of(id, false))];
                let worker = self.worker_of(id, *wrong_worker);
                self.reference.release(worker, &tasks, now);
                (
                    Returned::Unit(Ok(())),
                    Returned::Unit(message(backend.release(worker, &tasks, now).await)),
                )
            }
            Op::Progress { task, stale } => {
                let id = self.pick(task, is_running);
                let attempt = self.attempt_of(id, *stale);
                let progress = Progress {
                    fraction: 0.5,
                    message: "half".to_owned(),
                };
                (
                    Returned::Flags(Ok(vec![self.reference.record_progress(
                        id,
                        attempt,
                        progress.clone(),
                    )])),
                    Returned::Flags(message(
                        backend
                            .record_progress(id, attempt, progress)
                            .await
                            .map(|b| vec![b]),
                    )),
                )
            }
            Op::Advance { ms } => {
                self.now += Self::ms(*ms);
                (Returned::Unit(Ok(())), Returned::Unit(Ok(())))
            }
            Op::Rescue => (
                Returned::Rescue(Ok(self.reference.rescue_expired(now, &RESCUE_POLICY))),
                Returned::Rescue(message(backend.rescue_expired(now, &RESCUE_POLICY).await)),
            ),
            Op::Expire => (
                Returned::Count(Ok(self.reference.expire_overdue(now, SWEEP_ALL))),
                Returned::Count(message(backend.expire_overdue(now, SWEEP_ALL).await)),
            ),
            Op::Cancel { task } => {
                let id = self.pick(task, |s| !s.is_terminal());
                (
                    Returned::Record(boxed(self.reference.cancel(id, now))),
                    Returned::Record(boxed(backend.cancel(id, now).await)),
                )
            }
            Op::Retry { task } => {
                let id = self.pick(task, crate::lifecycle::is_retryable_state);
                (
                    Returned::Record(boxed(self.reference.retry(id, now))),
                    Returned::Record(boxed(backend.retry(id, now).await)),
                )
            }
            Op::Reorder { task, to } => {
                let id = self.pick(task, is_pending);
                let position = match to {
                    ReorderTo::Front => Position::Front,
                    ReorderTo::Back => Position::Back,
                    ReorderTo::Before(target) => Position::Before(self.pick(target, is_pending)),
                };
                (
                    Returned::Record(boxed(self.reference.reorder(id, position))),
                    Returned::Record(boxed(backend.reorder(id, position).await)),
                )
            }
            Op::Pause { .. }
            | Op::Fair { .. }
            | Op::FairWeight { .. }
            | Op::RateLimit { .. }
            | Op::TypeLimit { .. }
            | Op::KeyLimit { .. }
            | Op::TypeRateLimit { .. }
            | Op::KeyRateLimit { .. } => self.apply_setting(op).await,
            Op::Delete { task } => {
                let id = self.pick(task, TaskState::is_terminal);
                (
                    Returned::Record(boxed(self.reference.delete_task(id))),
                    Returned::Record(boxed(backend.delete_task(id).await)),
                )
            }
            Op::Purge { states, age_ms } => {
                let states = purge_states(*states);
                let before = now - Self::ms(*age_ms);
                (
                    Returned::Count(message(self.reference.purge(&states, before))),
                    Returned::Count(message(backend.purge(&states, before).await)),
                )
            }
            Op::FireSchedule {
                stale,
                with_previous,
            } => {
                let firing = self.firing(*stale, *with_previous);
                self.ids.extend(firing.tasks.iter().map(|t| t.id));
                (
                    Returned::Flags(Ok(self.reference.fire_schedules(vec![firing.clone()]))),
                    Returned::Flags(message(backend.fire_schedules(vec![firing]).await)),
                )
            }
            Op::EditSchedule { in_secs, enabled } => {
                let mut edited = self.reference.schedule.clone();
                edited.def.enabled = *enabled;
                edited.next_run_at =
                    enabled.then(|| now + chrono::Duration::seconds(i64::from(*in_secs)));
                edited.updated_at = now;
                self.reference.update_schedule(&edited);
                (
                    Returned::Unit(Ok(())),
                    Returned::Unit(message(backend.update_schedule(&edited).await)),
                )
            }
        }
    }

    fn outcome(&self, kind: OutcomeKind) -> Outcome {
        let failure = |kind, message: &str| TaskFailure {
            kind,
            message: message.to_owned(),
        };
        match kind {
            OutcomeKind::Finished => Outcome::Finished(json!({ "done": self.made })),
            OutcomeKind::Failed => Outcome::Failed(failure(ErrorKind::Permanent, "boom")),
            OutcomeKind::Cancelled => Outcome::Cancelled(failure(ErrorKind::Cancelled, "stopped")),
            OutcomeKind::Retry(ms) => Outcome::Retry {
                error: failure(ErrorKind::Retryable, "again"),
                run_at: self.now + Self::ms(ms),
            },
            OutcomeKind::Snooze(ms) => Outcome::Snooze {
                run_at: self.now + Self::ms(ms),
            },
        }
    }

    /// A firing planned from the reference's view of the schedule: its
    /// current tick (or now, while it waits for none), optionally with the
    /// tick before, moving it on by one interval.
    fn firing(&mut self, stale: bool, with_previous: bool) -> ScheduleFiring {
        let schedule = self.reference.schedule.clone();
        let tick = schedule.next_run_at.unwrap_or(self.now);
        let every = chrono::Duration::from_std(EVERY).unwrap_or_default();
        let mut ticks = vec![tick];
        if with_previous {
            ticks.insert(0, tick - every);
        }
        let tasks = ticks
            .into_iter()
            .map(|tick| {
                let mut task = self.record(QUEUES[0], 1, tick, 1);
                task.id = schedule.task_id_for(tick);
                task
            })
            .collect();
        ScheduleFiring {
            name: schedule.def.name.clone(),
            expected_next_run_at: schedule.next_run_at,
            expected_revision: schedule.revision + u64::from(stale),
            next_run_at: Some(tick + every),
            fired_at: self.now,
            tasks,
        }
    }
}

fn is_running(state: TaskState) -> bool {
    state == TaskState::Running
}

fn is_pending(state: TaskState) -> bool {
    state == TaskState::Pending
}

/// The states a purge bit set names; empty asks for `PENDING` (refused).
fn purge_states(bits: u8) -> Vec<TaskState> {
    let states: Vec<TaskState> = [
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Expired,
    ]
    .into_iter()
    .enumerate()
    .filter(|(bit, _)| bits & (1 << bit) != 0)
    .map(|(_, state)| state)
    .collect();
    if states.is_empty() {
        vec![TaskState::Pending]
    } else {
        states
    }
}
