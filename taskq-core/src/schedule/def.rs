//! [`ScheduleDef`], a schedule as its owner writes it: name, task, params,
//! timing, window, overrides and misfire policy; and the checks that name
//! what is wrong with one.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::timing::{Tick, Timing, parse_cron};
use crate::error::Error;
use crate::workflow::WorkflowSpec;

/// The shortest interval a schedule may have.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The largest catch-up a [`MisfirePolicy::RunEach`] may ask for.
pub const MAX_CATCH_UP: u32 = 1000;
/// Most ticks one firing submits (bounds the work of one firing whatever
/// the schedule and the downtime).
pub const MAX_TICKS_PER_FIRING: usize = 1000;

/// When a schedule's ticks fall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ScheduleKind {
    /// One tick, at this time.
    Once { at: DateTime<Utc> },
    /// A tick every `every`, counted from the schedule's `start_at` (or its
    /// creation, to the second).
    Interval {
        #[serde(with = "crate::task::duration_secs")]
        every: Duration,
    },
    /// A tick at each match of a cron expression in a time zone.
    Cron {
        /// 5 fields (`min hour dom month dow`) or 6 with seconds first.
        expression: String,
        /// An IANA name such as `Europe/Paris`; `UTC` by default.
        #[serde(default = "utc_name")]
        time_zone: String,
    },
}

/// Params a workflow schedule may carry: none (`null`, or the `{}` the
/// constructors and the HTTP body default to).
fn params_left_out(params: &Value) -> bool {
    params.is_null() || params.as_object().is_some_and(|o| o.is_empty())
}

fn utc_name() -> String {
    "UTC".to_owned()
}

/// What happens to ticks the scheduler reaches late by more than the
/// misfire grace (downtime, not a busy moment).
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum MisfirePolicy {
    /// Missed ticks are dropped; the schedule goes on from the next one.
    Skip,
    /// Missed ticks run once together (one task, for the latest of them).
    #[default]
    RunOnce,
    /// Each missed tick runs, up to `max` (the latest `max` of them).
    RunEach { max: u32 },
}

/// A schedule as its owner writes it.
///
/// # Example
///
/// Schedules managed at runtime, stored in the backend (schedules declared
/// next to a handler use `#[long_task(cron = "…")]` instead):
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use serde::{Deserialize, Serialize};
/// use taskq::prelude::*;
///
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// struct Mail { to: String }
///
/// #[long_task]
/// async fn send_report(mail: Mail) -> Result<(), TaskError> {
///     # let _ = mail.to;
///     Ok(())
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
/// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
/// // 09:00 on weekdays in New York, DST included; params checked against `Mail`.
/// client
///     .create_schedule(
///         ScheduleDef::cron_in("weekday-report", "send_report", "0 9 * * 1-5", "America/New_York")
///             .params(serde_json::json!({ "to": "ops@example.com" }))
///             .misfire(MisfirePolicy::RunEach { max: 3 }),
///     )
///     .await?;
/// let every = ScheduleDef::interval("poll", "send_report", Duration::from_secs(30))
///     .params(serde_json::json!({ "to": "poll@example.com" }))
///     .max_runs(10);
/// assert!(client.create_schedule(every).await?.next_run_at.is_some());
/// // A bad cron expression is refused, and nothing is stored.
/// let bad = ScheduleDef::cron("broken", "send_report", "every monday");
/// assert!(matches!(client.create_schedule(bad).await, Err(Error::InvalidCron { .. })));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDef {
    /// Unique name: 1 to 200 characters, not `.` or `..`, without `/` or
    /// control characters ([`crate::bounds::check_schedule_name`]).
    pub name: String,
    /// The registered task type each tick submits; empty for a schedule
    /// that fires a [`workflow`](ScheduleDef::workflow).
    #[serde(default)]
    pub task_type: String,
    /// Params of each submitted task, checked against the task's type
    /// (`null` for a workflow: its steps carry their own).
    #[serde(default)]
    pub params: Value,
    /// The workflow each tick submits whole, instead of a task: every step
    /// is stored at the tick, the steps without parents due then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowSpec>,
    #[serde(flatten)]
    pub kind: ScheduleKind,
    /// A disabled schedule keeps its definition and does not fire.
    pub enabled: bool,
    /// No tick before this time.
    pub start_at: Option<DateTime<Utc>>,
    /// No tick after this time.
    pub end_at: Option<DateTime<Utc>>,
    /// At most this many runs in all (a one-off schedule runs once).
    pub max_runs: Option<u64>,
    /// Submit to this queue instead of the task type's (a workflow's
    /// steps that name no queue of their own).
    pub queue: Option<String>,
    /// Submit with this priority instead of the task type's (a workflow's
    /// steps that set none of their own).
    pub priority: Option<i32>,
    pub description: String,
    pub misfire: MisfirePolicy,
}

/// What a schedule fires at each tick: a task type (its params set with
/// [`ScheduleDef::params`]) or a whole workflow. The constructors of
/// [`ScheduleDef`] take either: a task type's name, or a [`WorkflowSpec`]
/// (the typed [`Workflow`](crate::workflow::Workflow) builder's output is
/// bound to fresh ids, so a schedule takes the spec).
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleTarget {
    /// A registered task type.
    Task(String),
    /// A workflow by names and JSON.
    Workflow(WorkflowSpec),
}

impl From<&str> for ScheduleTarget {
    fn from(task_type: &str) -> Self {
        ScheduleTarget::Task(task_type.to_owned())
    }
}

impl From<String> for ScheduleTarget {
    fn from(task_type: String) -> Self {
        ScheduleTarget::Task(task_type)
    }
}

impl From<&String> for ScheduleTarget {
    fn from(task_type: &String) -> Self {
        ScheduleTarget::Task(task_type.clone())
    }
}

impl From<WorkflowSpec> for ScheduleTarget {
    fn from(spec: WorkflowSpec) -> Self {
        ScheduleTarget::Workflow(spec)
    }
}

impl ScheduleDef {
    fn new(name: impl Into<String>, target: impl Into<ScheduleTarget>, kind: ScheduleKind) -> Self {
        let (task_type, params, workflow) = match target.into() {
            ScheduleTarget::Task(task_type) => (task_type, Value::Object(Default::default()), None),
            ScheduleTarget::Workflow(spec) => (String::new(), Value::Null, Some(spec)),
        };
        ScheduleDef {
            name: name.into(),
            task_type,
            params,
            workflow,
            kind,
            enabled: true,
            start_at: None,
            end_at: None,
            max_runs: None,
            queue: None,
            priority: None,
            description: String::new(),
            misfire: MisfirePolicy::default(),
        }
    }

    /// Submits `target` (a task type, or a workflow) once, at `at`.
    pub fn once(
        name: impl Into<String>,
        target: impl Into<ScheduleTarget>,
        at: DateTime<Utc>,
    ) -> Self {
        ScheduleDef::new(name, target, ScheduleKind::Once { at })
    }

    /// Submits `target` (a task type, or a workflow) every `every`.
    pub fn interval(
        name: impl Into<String>,
        target: impl Into<ScheduleTarget>,
        every: Duration,
    ) -> Self {
        ScheduleDef::new(name, target, ScheduleKind::Interval { every })
    }

    /// Submits `target` (a task type, or a workflow) on a cron
    /// expression, in UTC.
    pub fn cron(
        name: impl Into<String>,
        target: impl Into<ScheduleTarget>,
        expression: impl Into<String>,
    ) -> Self {
        ScheduleDef::cron_in(name, target, expression, utc_name())
    }

    /// Submits `target` (a task type, or a workflow) on a cron expression
    /// in a time zone (an IANA name such as `Europe/Paris`).
    pub fn cron_in(
        name: impl Into<String>,
        target: impl Into<ScheduleTarget>,
        expression: impl Into<String>,
        time_zone: impl Into<String>,
    ) -> Self {
        ScheduleDef::new(
            name,
            target,
            ScheduleKind::Cron {
                expression: expression.into(),
                time_zone: time_zone.into(),
            },
        )
    }

    pub fn params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }

    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    pub fn start_at(mut self, at: DateTime<Utc>) -> Self {
        self.start_at = Some(at);
        self
    }

    pub fn end_at(mut self, at: DateTime<Utc>) -> Self {
        self.end_at = Some(at);
        self
    }

    pub fn max_runs(mut self, runs: u64) -> Self {
        self.max_runs = Some(runs);
        self
    }

    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = Some(priority);
        self
    }

    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    pub fn misfire(mut self, policy: MisfirePolicy) -> Self {
        self.misfire = policy;
        self
    }

    /// The definition with its times cut to the microsecond, what every
    /// backend stores (PostgreSQL and MySQL keep no more), so a definition
    /// reads back equal to what was written; a workflow's left-out params
    /// are `null`.
    pub fn normalized(mut self) -> Self {
        if let ScheduleKind::Once { at } = &mut self.kind {
            *at = at.trunc_subsecs(6);
        }
        if self.workflow.is_some() && params_left_out(&self.params) {
            self.params = Value::Null;
        }
        self.start_at = self.start_at.map(|t| t.trunc_subsecs(6));
        self.end_at = self.end_at.map(|t| t.trunc_subsecs(6));
        self
    }

    /// Checks everything that does not need the registry: name, timing,
    /// times, window, overrides, policy. Errors name the problem: a bad
    /// name (or queue override) is [`Error::InvalidName`], the rest
    /// [`Error::InvalidSchedule`] with the field at fault.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field: &'static str, message: String| Error::InvalidSchedule {
            name: self.name.clone(),
            field,
            message,
        };
        crate::bounds::check_schedule_name(&self.name)?;
        match (&self.workflow, self.task_type.is_empty()) {
            (Some(_), false) => {
                return Err(invalid(
                    "workflow",
                    "a schedule fires a task type or a workflow, not both".into(),
                ));
            }
            (None, true) => {
                return Err(invalid(
                    "task_type",
                    "a schedule needs a task type or a workflow".into(),
                ));
            }
            (Some(_), true) if !params_left_out(&self.params) => {
                return Err(invalid(
                    "params",
                    "a workflow's steps carry their params; leave the schedule's params out".into(),
                ));
            }
            (Some(spec), true) => {
                spec.check_graph()?;
            }
            (None, false) => {}
        }
        self.timing(Utc::now())?;
        let times = [
            ("at", self.once_at()),
            ("start_at", self.start_at),
            ("end_at", self.end_at),
        ];
        for (field, time) in times {
            if let Some(time) = time {
                crate::bounds::check_time(time).map_err(|message| invalid(field, message))?;
            }
        }
        if let (Some(start), Some(end)) = (self.start_at, self.end_at)
            && end < start
        {
            return Err(invalid("end_at", "end_at is before start_at".into()));
        }
        if self.max_runs == Some(0) {
            return Err(invalid("max_runs", "max_runs must be at least 1".into()));
        }
        if let Some(queue) = &self.queue {
            crate::bounds::check_queue_name(queue)?;
        }
        if let MisfirePolicy::RunEach { max } = self.misfire
            && !(1..=MAX_CATCH_UP).contains(&max)
        {
            return Err(invalid(
                "misfire_max",
                format!("misfire run_each max must be 1 to {MAX_CATCH_UP}"),
            ));
        }
        Ok(())
    }

    fn once_at(&self) -> Option<DateTime<Utc>> {
        match self.kind {
            ScheduleKind::Once { at } => Some(at),
            _ => None,
        }
    }

    /// The compiled timing; `created_at` anchors an interval without a
    /// start.
    pub(crate) fn timing(&self, created_at: DateTime<Utc>) -> Result<Timing, Error> {
        match &self.kind {
            ScheduleKind::Once { at } => Ok(Timing::Once(*at)),
            ScheduleKind::Interval { every } => {
                let invalid = |message: String| Error::InvalidSchedule {
                    name: self.name.clone(),
                    field: "every",
                    message,
                };
                if every.is_zero() {
                    return Err(invalid("interval must not be zero".into()));
                }
                if every.subsec_nanos() % 1_000_000 != 0 {
                    return Err(invalid(
                        "interval must be a whole number of milliseconds".into(),
                    ));
                }
                if *every < MIN_INTERVAL {
                    return Err(invalid(format!(
                        "interval must be at least {MIN_INTERVAL:?}"
                    )));
                }
                let every = chrono::Duration::from_std(*every)
                    .ok()
                    .filter(|e| *e <= chrono::Duration::days(365 * 100))
                    .ok_or_else(|| invalid("interval must be at most 100 years".into()))?;
                let anchor = self.start_at.unwrap_or_else(|| created_at.trunc_subsecs(0));
                Ok(Timing::Interval { anchor, every })
            }
            ScheduleKind::Cron {
                expression,
                time_zone,
            } => {
                let cron = parse_cron(expression)?;
                let zone: Tz = time_zone
                    .parse()
                    .map_err(|_| Error::UnknownTimeZone(time_zone.clone()))?;
                Ok(Timing::Cron {
                    cron: Box::new(cron),
                    zone,
                })
            }
        }
    }

    /// The first tick strictly after `after` (or at it, if `inclusive`)
    /// within the schedule's window.
    pub(super) fn next_tick(
        &self,
        timing: &Timing,
        after: DateTime<Utc>,
        inclusive: bool,
    ) -> Option<Tick> {
        let (from, inclusive) = match self.start_at {
            Some(start) if start > after => (start, true),
            _ => (after, inclusive),
        };
        let tick = timing.next_after(from, inclusive)?;
        // No tick past year 9999: its task's ETA could not be stored.
        let end = self.end_at.map_or(crate::bounds::LATEST_TIME, |end| {
            end.min(crate::bounds::LATEST_TIME)
        });
        (tick <= end).then_some(tick)
    }

    /// The first tick a schedule created, edited or enabled at `now`
    /// waits for (`None`: it will never fire).
    pub fn first_run_after(
        &self,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
        run_count: u64,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        let timing = self.timing(created_at)?;
        if !self.enabled || self.max_runs.is_some_and(|max| run_count >= max) {
            return Ok(None);
        }
        Ok(match timing {
            // A one-off in the past still runs (the misfire policy decides
            // how), unless it already did.
            Timing::Once(at) if run_count == 0 => match self.end_at {
                Some(end) if at > end => None,
                _ => Some(at),
            },
            Timing::Once(_) => None,
            _ => self.next_tick(&timing, now, false),
        })
    }
}
