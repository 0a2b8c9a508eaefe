//! Fires due schedules by submitting their tasks.
//!
//! Every worker runs one (opt out with `MaintenanceConfig::scheduler =
//! None`), and [`Scheduler::run`] runs one alone. However many run against
//! one store, each tick fires once: a scheduler plans a firing from the
//! `next_run_at` and `revision` it read, and the store applies it only if
//! both are still those values; each tick's task has an id derived from the
//! tick ([`crate::Schedule::task_id_for`]), which the store never queues
//! twice (see [`crate::backend::ScheduleStore`]). The losers of that race
//! read again and find nothing left to do.
//!
//! A scheduler does not poll the table: it reads the due schedules (an
//! index range on `next_run_at`), fires them, asks for the earliest next
//! run, and sleeps until then — woken early when this process creates or
//! edits a schedule, and at most [`MAX_SLEEP_DEFAULT`] so that edits made
//! by other processes are seen.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::client::Client;
use crate::error::Error;
use crate::schedule::{Schedule, ScheduleFiring, plan_firing};

/// Ticks reached later than this are misfires and follow the schedule's
/// misfire policy; later by less, they simply run (a busy moment is not
/// downtime).
pub const MISFIRE_GRACE_DEFAULT: Duration = Duration::from_secs(10);
/// The longest a scheduler sleeps without looking: the delay before an
/// edit made by another process takes effect.
pub const MAX_SLEEP_DEFAULT: Duration = Duration::from_secs(5);
/// Due schedules read per store call.
pub const BATCH_DEFAULT: usize = 100;
/// How long a scheduler waits after a failed store call, or when due
/// schedules cannot be fired here (their task type is not registered in
/// this process).
pub const RETRY_DELAY_DEFAULT: Duration = Duration::from_secs(1);
/// How many times one tick reads the due schedules again after refused
/// firings (bounds the work of a tick against a schedule edited in a loop).
const MAX_REREADS: usize = 3;

/// Settings of a [`Scheduler`], with the defaults above.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub misfire_grace: Duration,
    pub max_sleep: Duration,
    pub batch: usize,
    pub retry_delay: Duration,
    /// Upsert the schedules declared in code (`#[long_task(cron = …)]`)
    /// when starting.
    pub sync_static: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            misfire_grace: MISFIRE_GRACE_DEFAULT,
            max_sleep: MAX_SLEEP_DEFAULT,
            batch: BATCH_DEFAULT,
            retry_delay: RETRY_DELAY_DEFAULT,
            sync_static: true,
        }
    }
}

/// What one [`Scheduler::tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Due schedules read.
    pub due: usize,
    /// Firings this scheduler applied.
    pub fired: usize,
    /// Tasks those firings submitted.
    pub tasks: usize,
    /// Firings another scheduler applied first.
    pub lost: usize,
    /// Due schedules left alone (task type unknown here, or a definition
    /// that no longer validates).
    pub skipped: usize,
}

/// Submits the tasks of due schedules.
///
/// ```no_run
/// # async fn demo(client: taskq_core::Client) {
/// // A scheduler on its own (workers run one already).
/// let stop = taskq_core::CancellationToken::new();
/// taskq_core::Scheduler::new(&client).run(stop).await;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Scheduler {
    client: Client,
    config: SchedulerConfig,
}

impl Scheduler {
    /// A scheduler for the client's backend and task types.
    pub fn new(client: &Client) -> Scheduler {
        Scheduler {
            client: client.clone(),
            config: SchedulerConfig::default(),
        }
    }

    pub fn config(mut self, config: SchedulerConfig) -> Self {
        self.config = config;
        self
    }

    /// Fires every schedule due at `now` (in batches), and reports.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, Error> {
        let mut report = TickReport::default();
        let mut rereads = 0;
        loop {
            let due = self
                .client
                .backend()
                .due_schedules(now, self.config.batch)
                .await?;
            let full = due.len() >= self.config.batch;
            report.due += due.len();
            let mut planned = Vec::with_capacity(due.len());
            for schedule in &due {
                match self.plan(schedule, now) {
                    Some(firing) => planned.push(firing),
                    None => report.skipped += 1,
                }
            }
            let counts: Vec<usize> = planned.iter().map(|f| f.tasks.len()).collect();
            let progressed = !planned.is_empty();
            let applied = self.client.backend().fire_schedules(planned).await?;
            let mut lost = 0;
            for (applied, tasks) in applied.into_iter().zip(counts) {
                if applied {
                    report.fired += 1;
                    report.tasks += tasks;
                } else {
                    lost += 1;
                }
            }
            report.lost += lost;
            // A full batch that moved on may hide more due schedules; one
            // that did not would be read again unchanged. A refused firing
            // was planned from a stale read (another scheduler fired it, or
            // it was edited): read again, and fire what is still due with
            // its current definition.
            if full && progressed {
                continue;
            }
            if lost > 0 && rereads < MAX_REREADS {
                rereads += 1;
                continue;
            }
            break;
        }
        Ok(report)
    }

    /// Plans one firing, or `None` if this scheduler cannot fire the
    /// schedule.
    fn plan(&self, schedule: &Schedule, now: DateTime<Utc>) -> Option<ScheduleFiring> {
        let name = &schedule.def.name;
        let expected = schedule.next_run_at?;
        let registry = self.client.registry();
        let missing = match &schedule.def.workflow {
            Some(spec) => spec
                .steps
                .iter()
                .find(|step| registry.get(&step.task).is_none())
                .map(|step| step.task.as_str()),
            None => Some(schedule.def.task_type.as_str())
                .filter(|task_type| registry.get(task_type).is_none()),
        };
        if let Some(task_type) = missing {
            debug!(schedule = %name, task_type = %task_type,
                "due schedule's task type is not registered here");
            return None;
        }
        let plan = match plan_firing(schedule, now, self.config.misfire_grace) {
            Ok(plan) => plan,
            Err(err) => {
                warn!(schedule = %name, error = %err, "due schedule does not validate");
                return None;
            }
        };
        let mut tasks = Vec::new();
        for &tick in &plan.ticks {
            match self
                .client
                .schedule_run(schedule, schedule.task_id_for(tick), Some(tick), now)
            {
                Ok(records) => tasks.extend(records),
                Err(err) => {
                    warn!(schedule = %name, error = %err, "due schedule does not validate");
                    return None;
                }
            }
        }
        Some(ScheduleFiring {
            name: name.clone(),
            expected_next_run_at: Some(expected),
            expected_revision: schedule.revision,
            next_run_at: plan.next_run_at,
            fired_at: now,
            tasks,
        })
    }

    /// Runs until `stop` fires: upserts the static schedules, then fires
    /// due schedules and sleeps until the next one.
    pub async fn run(self, stop: CancellationToken) {
        if self.config.sync_static {
            match self.client.sync_static_schedules().await {
                Ok(0) => {}
                Ok(changed) => info!(changed, "static schedules stored"),
                Err(err) => warn!(error = %err, "static schedules could not be stored"),
            }
        }
        let wake = self
            .client
            .backend()
            .schedule_signal()
            .unwrap_or_else(|| Arc::new(Notify::new()));
        loop {
            // Registered before looking, so an edit made while this pass
            // runs still wakes the sleep below.
            let woken = wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();

            let wait = match self.pass().await {
                Ok(wait) => wait,
                Err(err) => {
                    warn!(error = %err, "scheduler pass failed");
                    self.config.retry_delay
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut woken => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// One tick at the current time; returns how long to sleep.
    async fn pass(&self) -> Result<Duration, Error> {
        let report = self.tick(Utc::now()).await?;
        if report.fired > 0 || report.lost > 0 {
            debug!(?report, "scheduler tick");
        }
        let next = self.client.backend().next_schedule_due().await?;
        let until_next = next.map_or(self.config.max_sleep, |next| {
            (next - Utc::now()).to_std().unwrap_or(Duration::ZERO)
        });
        let mut wait = until_next.min(self.config.max_sleep);
        if report.skipped > 0 {
            // Due schedules this process cannot fire stay due: do not spin.
            wait = wait.max(self.config.retry_delay);
        }
        Ok(wait)
    }
}

/// Runs a scheduler for `client` until `stop` fires (what workers call).
pub async fn run(client: Client, config: SchedulerConfig, stop: CancellationToken) {
    Scheduler::new(&client).config(config).run(stop).await;
}
