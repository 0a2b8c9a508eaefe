//! The handle a host keeps: submit tasks, look at them, steer them.

mod limits;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::backend::{
    Backend, Page, PageRequest, Position, QueueStats, TaskFilter, WorkerControl, WorkerInfo,
};
use crate::ends::{POLL_INTERVAL_DEFAULT, TaskEnds};
use crate::error::Error;
use crate::idempotent::SubmitRetry;
use crate::payload::{PayloadLimits, check_queue_name};
use crate::registry::{Registry, TaskDef, TaskHandle};
use crate::schedule::{Schedule, ScheduleDef, ScheduleFiring, StaticSchedule};
use crate::submit::{Overrides, Submission, apply_concurrency_key, new_record};
use crate::task::{TaskId, TaskRecord, TaskState};
use crate::throughput::{COUNTS_KEPT, MinuteCounts, minute_of};
use crate::workflow::Placement;

mod batch;

/// Attempts of [`Client::run_schedule_now`] against concurrent firings and
/// edits before it gives up.
const RUN_NOW_ATTEMPTS: usize = 16;

/// Submits and manages tasks. Cheap to clone; share one per process.
///
/// ```no_run
/// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
/// use std::time::Duration;
/// let id = client
///     .submit_json("send_report", serde_json::json!({ "to": "ops@example.com" }))
///     .priority(9)
///     .countdown(Duration::from_secs(30))
///     .await?;
/// let record = client.get(id).await?;
/// println!("{} is {}", record.task_type, record.state);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    backend: Arc<dyn Backend>,
    registry: Arc<Registry>,
    payload_limits: PayloadLimits,
    submit_retry: SubmitRetry,
    /// The waiters' hub when the backend has none (see `wait`).
    fallback_ends: Arc<TaskEnds>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("tasks", &self.registry.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for every task registered with `#[long_task]` in the
    /// linked crates. Fails if two tasks share a name.
    pub fn new(backend: Arc<dyn Backend>) -> Result<Client, Error> {
        Ok(Client::with_registry(backend, Registry::from_inventory()?))
    }

    /// A client for an explicit set of task types.
    pub fn with_registry(backend: Arc<dyn Backend>, registry: Registry) -> Client {
        Client::from_parts(backend, Arc::new(registry))
    }

    pub(crate) fn from_parts(backend: Arc<dyn Backend>, registry: Arc<Registry>) -> Client {
        Client {
            backend,
            registry,
            payload_limits: PayloadLimits::DEFAULT,
            submit_retry: SubmitRetry::DEFAULT,
            fallback_ends: Arc::new(TaskEnds::new(POLL_INTERVAL_DEFAULT)),
        }
    }

    /// The same client with other size limits on params and results
    /// (1 MiB each by default). Workers built from it use them too.
    ///
    /// ```
    /// # fn demo(client: taskq_core::Client) {
    /// use taskq_core::payload::PayloadLimits;
    ///
    /// let client = client.with_payload_limits(PayloadLimits {
    ///     max_params_bytes: 8 * 1024 * 1024,
    ///     ..PayloadLimits::DEFAULT
    /// });
    /// # }
    /// ```
    pub fn with_payload_limits(mut self, limits: PayloadLimits) -> Client {
        self.payload_limits = limits;
        self
    }

    /// The same client with another retry of submits after ambiguous
    /// backend errors ([`SubmitRetry::DEFAULT`]: 4 tries, 100/200/400 ms
    /// apart; [`SubmitRetry::NONE`] to try once). Safe because a
    /// submission's id is fixed before its first try (see
    /// [`Submission::id`]).
    pub fn with_submit_retry(mut self, retry: SubmitRetry) -> Client {
        self.submit_retry = retry;
        self
    }

    /// How this client retries a submit after an ambiguous error.
    pub fn submit_retry(&self) -> SubmitRetry {
        self.submit_retry
    }

    /// The size limits this client checks params against (and its
    /// workers, results).
    pub fn payload_limits(&self) -> PayloadLimits {
        self.payload_limits
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub(crate) fn fallback_ends(&self) -> &Arc<TaskEnds> {
        &self.fallback_ends
    }

    /// Submits a task with typed params: only compiles when `params` is the
    /// handler's params type. Await the returned builder, optionally after
    /// setting overrides, for the id; or call
    /// [`wait`](Submission::wait) on it for the handler's typed result.
    pub fn submit<P: Serialize, R>(&self, task: TaskHandle<P, R>, params: P) -> Submission<'_, R> {
        let params = serde_json::to_value(params).map_err(Error::Serialization);
        Submission::new(self, Cow::Borrowed(task.name()), params, false)
    }

    /// Submits a task by name with JSON params (what REST uses): unknown
    /// names and params that do not fit the handler's type are errors that
    /// name the problem, and nothing is stored.
    pub fn submit_json(&self, task_type: impl Into<String>, params: Value) -> Submission<'_> {
        Submission::new(self, Cow::Owned(task_type.into()), Ok(params), true)
    }

    /// The task with this id.
    pub async fn get(&self, id: TaskId) -> Result<TaskRecord, Error> {
        self.backend.get(id).await?.ok_or(Error::NotFound(id))
    }

    /// Tasks matching `filter`, newest first.
    pub async fn list(
        &self,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<Page<TaskRecord>, Error> {
        // A tag no task can carry would also not fit the stores' patterns.
        if let Some(tag) = filter
            .tags
            .iter()
            .find(|t| !crate::lifecycle::is_valid_tag(t))
        {
            return Err(Error::InvalidLabel {
                field: "tags",
                message: format!("{tag:?} is not a tag (see lifecycle::is_valid_tag)"),
            });
        }
        crate::lifecycle::check_metadata_filter(&filter.metadata)?;
        self.backend.list(filter, page).await
    }

    /// Cancels a task: a pending one at once, a running one through its
    /// cancellation token (aborted after the worker's grace period).
    pub async fn cancel(&self, id: TaskId) -> Result<TaskRecord, Error> {
        self.backend.cancel(id, Utc::now()).await
    }

    /// Runs a failed, cancelled or expired task again: same id, next
    /// attempt (an expired one without its deadline).
    pub async fn retry(&self, id: TaskId) -> Result<TaskRecord, Error> {
        self.backend.retry(id, Utc::now()).await
    }

    /// Moves a pending task within its queue without changing its id.
    pub async fn reorder(&self, id: TaskId, position: Position) -> Result<TaskRecord, Error> {
        self.backend.reorder(id, position).await
    }

    /// Deletes one ended task (finished, failed or cancelled) and returns
    /// its last record; a pending or running one is
    /// [`Error::InvalidTransition`].
    pub async fn delete(&self, id: TaskId) -> Result<TaskRecord, Error> {
        self.backend.delete_task(id).await
    }

    /// Deletes finished and failed tasks that ended before `before`.
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        self.purge_states(&[TaskState::Finished, TaskState::Failed], before)
            .await
    }

    /// Deletes tasks in the given terminal states that ended before `before`.
    pub async fn purge_states(
        &self,
        states: &[TaskState],
        before: DateTime<Utc>,
    ) -> Result<u64, Error> {
        self.backend.purge(states, before).await
    }

    /// Applies the backend's pending schema migrations (idempotent, see
    /// [`Store::migrate`](crate::backend::Store::migrate)). Opening a SQL
    /// backend with `connect` already does; this is for a backend opened
    /// without (`from_connection`) and for deploy steps that only migrate.
    pub async fn migrate(&self) -> Result<(), Error> {
        self.backend.migrate().await
    }

    /// Stops every worker from claiming tasks of `queue`; running ones go on.
    pub async fn pause_queue(&self, queue: &str) -> Result<(), Error> {
        check_queue_name(queue)?;
        self.backend.set_queue_paused(queue, true).await
    }

    pub async fn resume_queue(&self, queue: &str) -> Result<(), Error> {
        check_queue_name(queue)?;
        self.backend.set_queue_paused(queue, false).await
    }

    /// Per queue: pending, scheduled and running counts, the pause flag, the limit,
    /// the rate limit and until when it holds tasks back,
    /// the live workers serving it and the pending tasks none of them can
    /// run (`unclaimable`, by type; see [`crate::coverage`]).
    pub async fn queue_stats(&self) -> Result<Vec<QueueStats>, Error> {
        crate::coverage::queue_stats(&*self.backend).await
    }

    /// How many attempts ended in each of the last `minutes` minutes (this
    /// one included), per queue and outcome, as the workers counted them
    /// ([`crate::throughput`]): at most a day's, in minute then queue order.
    pub async fn throughput(&self, minutes: u32) -> Result<Vec<MinuteCounts>, Error> {
        if minutes == 0 || u64::from(minutes) * 60 > COUNTS_KEPT.as_secs() {
            return Err(Error::InvalidArgument(format!(
                "minutes must be 1 to {}",
                COUNTS_KEPT.as_secs() / 60
            )));
        }
        let now = Utc::now();
        let since = minute_of(now) - chrono::Duration::minutes(i64::from(minutes) - 1);
        self.backend.counts_since(since).await
    }

    /// The workers of every host that share this backend, by id: live
    /// ones, and for a while those that stopped beating
    /// ([`WorkerState::Gone`](crate::WorkerState::Gone)).
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, Error> {
        self.backend.list_workers(Utc::now()).await
    }

    /// One worker; [`Error::WorkerNotFound`] if the registry has none.
    pub async fn worker(&self, id: &str) -> Result<WorkerInfo, Error> {
        self.backend
            .get_worker(id, Utc::now())
            .await?
            .ok_or_else(|| Error::WorkerNotFound(id.to_owned()))
    }

    /// Asks a worker, on any host, to pause, resume or shut down
    /// gracefully; it obeys at its next heartbeat. Returns the worker with
    /// the requested state; a control its state does not allow is
    /// [`Error::InvalidWorkerControl`].
    pub async fn control_worker(
        &self,
        id: &str,
        control: WorkerControl,
    ) -> Result<WorkerInfo, Error> {
        self.backend.control_worker(id, control, Utc::now()).await
    }

    /// Creates a schedule. An invalid cron expression, time zone, interval
    /// or window, an unknown task type or params that do not fit it are
    /// typed errors, and nothing is stored; a taken name is
    /// [`Error::ScheduleExists`].
    ///
    /// ```no_run
    /// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// use taskq_core::ScheduleDef;
    /// client
    ///     .create_schedule(
    ///         ScheduleDef::cron_in("nightly-report", "send_report", "0 30 2 * * *", "Europe/Paris")
    ///             .params(serde_json::json!({ "to": "ops@example.com" })),
    ///     )
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_schedule(&self, def: ScheduleDef) -> Result<Schedule, Error> {
        let def = self.checked_schedule(def)?;
        let schedule = Schedule::new(def, Utc::now())?;
        self.backend.create_schedule(schedule.clone()).await?;
        Ok(schedule)
    }

    /// Replaces a schedule's definition (same checks as creating); its run
    /// bookkeeping stays. The next run is recomputed when the timing
    /// changed, and takes effect without restarting anything.
    pub async fn update_schedule(&self, def: ScheduleDef) -> Result<Schedule, Error> {
        let def = self.checked_schedule(def)?;
        let stored = self.get_schedule(&def.name).await?;
        self.write_schedule(stored, def).await
    }

    /// Creates the schedule, or brings a stored one with this name to
    /// this definition (keeping its bookkeeping); unchanged, it is left
    /// alone. Returns whether anything was written.
    pub async fn upsert_schedule(&self, def: ScheduleDef) -> Result<bool, Error> {
        let def = self.checked_schedule(def)?.normalized();
        loop {
            match self.backend.get_schedule(&def.name).await? {
                Some(stored) if stored.def == def => return Ok(false),
                Some(stored) => {
                    self.write_schedule(stored, def).await?;
                    return Ok(true);
                }
                None => match self.create_schedule(def.clone()).await {
                    // Another process created it first: compare with theirs.
                    Err(Error::ScheduleExists(_)) => continue,
                    other => return other.map(|_| true),
                },
            }
        }
    }

    /// Upserts the schedules declared in code (`#[long_task(cron = …)]`,
    /// `every = …`, with `params = …`) for this client's task types,
    /// keeping a stored schedule's enabled flag (a static schedule disabled
    /// at runtime stays disabled). Declared params that do not fit are an
    /// [`Error::InvalidParams`] and nothing is written. Returns how many
    /// were written.
    pub async fn sync_static_schedules(&self) -> Result<usize, Error> {
        let mut written = 0;
        for mut def in StaticSchedule::all(&self.registry)? {
            if let Some(stored) = self.backend.get_schedule(&def.name).await? {
                def.enabled = stored.def.enabled;
            }
            if self.upsert_schedule(def).await? {
                written += 1;
            }
        }
        Ok(written)
    }

    /// Lets a disabled schedule fire again, from its next tick after now.
    pub async fn enable_schedule(&self, name: &str) -> Result<Schedule, Error> {
        self.set_schedule_enabled(name, true).await
    }

    /// Stops a schedule from firing; its definition stays.
    pub async fn disable_schedule(&self, name: &str) -> Result<Schedule, Error> {
        self.set_schedule_enabled(name, false).await
    }

    async fn set_schedule_enabled(&self, name: &str, enabled: bool) -> Result<Schedule, Error> {
        let stored = self.get_schedule(name).await?;
        if stored.def.enabled == enabled {
            return Ok(stored);
        }
        let mut def = stored.def.clone();
        def.enabled = enabled;
        self.write_schedule(stored, def).await
    }

    /// Stores `def` over `stored`, recomputing the next run if the timing
    /// changed.
    async fn write_schedule(&self, stored: Schedule, def: ScheduleDef) -> Result<Schedule, Error> {
        let def = def.normalized();
        let now = Utc::now().trunc_subsecs(6);
        let same_timing = stored.def.kind == def.kind
            && stored.def.start_at == def.start_at
            && stored.def.end_at == def.end_at
            && stored.def.max_runs == def.max_runs
            && stored.def.enabled == def.enabled;
        // An unchanged timing keeps the tick it waits for, even one that is
        // due right now and not fired yet.
        let next_run_at = if same_timing {
            stored.next_run_at
        } else {
            def.first_run_after(stored.created_at, now, stored.run_count)?
        };
        let schedule = Schedule {
            def,
            next_run_at,
            updated_at: now,
            ..stored
        };
        self.backend.update_schedule(&schedule).await?;
        Ok(schedule)
    }

    /// Deletes a schedule; tasks it already submitted stay.
    pub async fn delete_schedule(&self, name: &str) -> Result<(), Error> {
        if self.backend.delete_schedule(name).await? {
            Ok(())
        } else {
            Err(Error::ScheduleNotFound(name.to_owned()))
        }
    }

    /// The schedule with this name.
    pub async fn get_schedule(&self, name: &str) -> Result<Schedule, Error> {
        self.backend
            .get_schedule(name)
            .await?
            .ok_or_else(|| Error::ScheduleNotFound(name.to_owned()))
    }

    /// Schedules, by name.
    pub async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>, Error> {
        self.backend.list_schedules(page).await
    }

    /// Submits a schedule's task now, with its params and overrides,
    /// whether or not it is enabled, and records it like a firing: it sets
    /// `last_run_at` and `last_task_id` and counts in `run_count` — and so
    /// in `max_runs` (a schedule's runs "in all"): a manual run that
    /// reaches the cap finishes the schedule. Its own ticks are otherwise
    /// unchanged. Atomic with the bookkeeping the way a firing is (see
    /// [`crate::backend::ScheduleStore`]); a run racing a firing or an edit
    /// reads again and queues its task once. Answers with the task's id;
    /// for a workflow schedule, its first step's (whose `step.workflow`
    /// names the workflow).
    pub async fn run_schedule_now(&self, name: &str) -> Result<TaskId, Error> {
        // One id for every attempt: a retry finds the task already queued.
        let id = uuid::Uuid::now_v7();
        for _ in 0..RUN_NOW_ATTEMPTS {
            let schedule = self.get_schedule(name).await?;
            let now = Utc::now().trunc_subsecs(6);
            let records = self.schedule_run(&schedule, id, None, now)?;
            let finished = schedule
                .def
                .max_runs
                .is_some_and(|max| schedule.run_count + 1 >= max);
            let firing = ScheduleFiring {
                name: schedule.def.name.clone(),
                expected_next_run_at: schedule.next_run_at,
                expected_revision: schedule.revision,
                next_run_at: if finished { None } else { schedule.next_run_at },
                fired_at: now,
                tasks: records,
            };
            let first = firing.last_task().map_or(id, |task| task.id);
            if self.backend.fire_schedule(firing).await? {
                return Ok(first);
            }
        }
        Err(Error::backend(format!(
            "schedule `{name}` kept changing; run now gave up after {RUN_NOW_ATTEMPTS} attempts"
        )))
    }

    /// The records one run of `schedule` submits, due at `run_at` (or
    /// now): its task, with id `base`; or every step of its workflow, with
    /// ids derived from `base` ([`Placement::derived`]), the schedule's
    /// queue and priority given to steps that set none.
    pub(crate) fn schedule_run(
        &self,
        schedule: &Schedule,
        base: TaskId,
        run_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<TaskRecord>, Error> {
        let def = &schedule.def;
        if let Some(spec) = &def.workflow {
            let mut spec = spec.clone();
            for step in &mut spec.steps {
                step.queue = step.queue.take().or_else(|| def.queue.clone());
                step.priority = step.priority.or(def.priority);
            }
            let placement = Placement::derived(base, spec.steps.len(), run_at.unwrap_or(now));
            return Ok(spec.into_records(self, now, placement)?.1);
        }
        let task = self.task_def(&def.task_type)?;
        let overrides = Overrides {
            queue: def.queue.clone(),
            priority: def.priority,
            run_at,
            ..Overrides::default()
        };
        let mut record = new_record(task, def.params.clone(), &overrides, now);
        apply_concurrency_key(&mut record, task, &overrides)?;
        record.id = base;
        Ok(vec![record])
    }

    /// A schedule's definition with its default params for its task
    /// ([`ScheduleDef::with_default_params`]), checked against the
    /// registry, and its params against the size limit (each firing
    /// submits them).
    fn checked_schedule(&self, def: ScheduleDef) -> Result<ScheduleDef, Error> {
        let def = def.with_default_params(&self.registry);
        def.validate_with(&self.registry)?;
        match &def.workflow {
            // The records a run would write, so every step meets the
            // payload limits (nothing is stored).
            Some(spec) => {
                spec.clone()
                    .into_records(self, Utc::now(), Placement::default())?;
            }
            None => self.payload_limits.check_params(&def.params)?,
        }
        Ok(def)
    }

    pub(crate) fn task_def(&self, name: &str) -> Result<&'static TaskDef, Error> {
        self.registry
            .get(name)
            .ok_or_else(|| Error::UnknownTaskType(name.to_owned()))
    }
}
