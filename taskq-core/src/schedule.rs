//! Schedules: a task type submitted once at a time, every interval, or on a
//! cron expression in a time zone — stored by the backend, fired by the
//! [`scheduler`](crate::maintenance::scheduler).
//!
//! - [`ScheduleDef`] is what a user writes (name, task, params, timing,
//!   window, overrides, misfire policy); [`ScheduleDef::validate`] checks it
//!   and names the problem.
//! - [`Schedule`] is the stored form: the definition plus bookkeeping (last
//!   run, next run, run count, last task id).
//! - [`plan_firing`] decides, for a due schedule and a clock reading, which
//!   ticks to submit and when the next one is. The store applies the plan
//!   only if the schedule's `next_run_at` is still the one the plan was
//!   made from (see [`crate::backend::ScheduleStore::fire_schedule`]), which
//!   is what makes one tick fire once however many schedulers run.
//! - [`StaticSchedule`]: a schedule declared in code with
//!   `#[long_task(cron = "…")]` or `every = "…"`, upserted at startup.
//!
//! Cron expressions are parsed by `croner` (5 fields, or 6 with seconds
//! first; Monday = 1, Sunday = 0 or 7) and evaluated in an IANA time zone
//! (`chrono-tz`), so a daily 02:30 in `Europe/Paris` follows DST changes: a
//! time skipped by a spring-forward runs at the first instant after the gap,
//! a time repeated by a fall-back runs once.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::registry::Registry;
use crate::task::{TaskId, TaskRecord};

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

fn utc_name() -> String {
    "UTC".to_owned()
}

/// What happens to ticks the scheduler reaches late by more than the
/// misfire grace (downtime, not a busy moment).
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDef {
    /// Unique name (1 to 200 characters).
    pub name: String,
    /// The registered task type each tick submits.
    pub task_type: String,
    /// Params of each submitted task, checked against the task's type.
    pub params: Value,
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
    /// Submit to this queue instead of the task type's.
    pub queue: Option<String>,
    /// Submit with this priority instead of the task type's.
    pub priority: Option<i32>,
    pub description: String,
    pub misfire: MisfirePolicy,
}

impl ScheduleDef {
    fn new(name: impl Into<String>, task_type: impl Into<String>, kind: ScheduleKind) -> Self {
        ScheduleDef {
            name: name.into(),
            task_type: task_type.into(),
            params: Value::Object(Default::default()),
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

    /// Submits `task_type` once, at `at`.
    pub fn once(name: impl Into<String>, task_type: impl Into<String>, at: DateTime<Utc>) -> Self {
        ScheduleDef::new(name, task_type, ScheduleKind::Once { at })
    }

    /// Submits `task_type` every `every`.
    pub fn interval(
        name: impl Into<String>,
        task_type: impl Into<String>,
        every: Duration,
    ) -> Self {
        ScheduleDef::new(name, task_type, ScheduleKind::Interval { every })
    }

    /// Submits `task_type` on a cron expression, in UTC.
    pub fn cron(
        name: impl Into<String>,
        task_type: impl Into<String>,
        expression: impl Into<String>,
    ) -> Self {
        ScheduleDef::cron_in(name, task_type, expression, utc_name())
    }

    /// Submits `task_type` on a cron expression in a time zone (an IANA
    /// name such as `Europe/Paris`).
    pub fn cron_in(
        name: impl Into<String>,
        task_type: impl Into<String>,
        expression: impl Into<String>,
        time_zone: impl Into<String>,
    ) -> Self {
        ScheduleDef::new(
            name,
            task_type,
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
    /// reads back equal to what was written.
    pub fn normalized(mut self) -> Self {
        if let ScheduleKind::Once { at } = &mut self.kind {
            *at = at.trunc_subsecs(6);
        }
        self.start_at = self.start_at.map(|t| t.trunc_subsecs(6));
        self.end_at = self.end_at.map(|t| t.trunc_subsecs(6));
        self
    }

    /// Checks everything that does not need the registry: name, timing,
    /// window, overrides, policy. Errors name the problem.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |message: String| Error::InvalidSchedule {
            name: self.name.clone(),
            message,
        };
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(invalid("name must be 1 to 200 characters".into()));
        }
        self.timing(Utc::now())?;
        if let (Some(start), Some(end)) = (self.start_at, self.end_at)
            && end < start
        {
            return Err(invalid("end_at is before start_at".into()));
        }
        if self.max_runs == Some(0) {
            return Err(invalid("max_runs must be at least 1".into()));
        }
        if let Some(queue) = &self.queue
            && (queue.is_empty() || queue.len() > 100)
        {
            return Err(invalid("queue name must be 1 to 100 characters".into()));
        }
        if let MisfirePolicy::RunEach { max } = self.misfire
            && !(1..=MAX_CATCH_UP).contains(&max)
        {
            return Err(invalid(format!(
                "misfire run_each max must be 1 to {MAX_CATCH_UP}"
            )));
        }
        Ok(())
    }

    /// Also checks the task type and params against `registry`, the way
    /// submitting by name does.
    pub fn validate_with(&self, registry: &Registry) -> Result<(), Error> {
        self.validate()?;
        let def = registry
            .get(&self.task_type)
            .ok_or_else(|| Error::UnknownTaskType(self.task_type.clone()))?;
        (def.validate)(&self.params).map_err(|err| Error::InvalidParams {
            task_type: def.name.to_owned(),
            path: err.path,
            message: err.message,
        })
    }

    /// The compiled timing; `created_at` anchors an interval without a
    /// start.
    pub(crate) fn timing(&self, created_at: DateTime<Utc>) -> Result<Timing, Error> {
        match &self.kind {
            ScheduleKind::Once { at } => Ok(Timing::Once(*at)),
            ScheduleKind::Interval { every } => {
                if every.is_zero() {
                    return Err(Error::InvalidSchedule {
                        name: self.name.clone(),
                        message: "interval must not be zero".into(),
                    });
                }
                if every.subsec_nanos() % 1_000_000 != 0 {
                    return Err(Error::InvalidSchedule {
                        name: self.name.clone(),
                        message: "interval must be a whole number of milliseconds".into(),
                    });
                }
                if *every < MIN_INTERVAL {
                    return Err(Error::InvalidSchedule {
                        name: self.name.clone(),
                        message: format!("interval must be at least {MIN_INTERVAL:?}"),
                    });
                }
                let every = chrono::Duration::from_std(*every)
                    .ok()
                    .filter(|e| *e <= chrono::Duration::days(365 * 100))
                    .ok_or_else(|| Error::InvalidSchedule {
                        name: self.name.clone(),
                        message: "interval must be at most 100 years".into(),
                    })?;
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
    fn next_tick(&self, timing: &Timing, after: DateTime<Utc>, inclusive: bool) -> Option<Tick> {
        let (from, inclusive) = match self.start_at {
            Some(start) if start > after => (start, true),
            _ => (after, inclusive),
        };
        let tick = timing.next_after(from, inclusive)?;
        match self.end_at {
            Some(end) if tick > end => None,
            _ => Some(tick),
        }
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

type Tick = DateTime<Utc>;

/// A parsed schedule timing.
pub(crate) enum Timing {
    Once(Tick),
    Interval {
        anchor: Tick,
        every: chrono::Duration,
    },
    Cron {
        cron: Box<Cron>,
        zone: Tz,
    },
}

impl Timing {
    /// The first tick after `t` (or at it, if `inclusive`).
    fn next_after(&self, t: Tick, inclusive: bool) -> Option<Tick> {
        match self {
            Timing::Once(at) => (*at > t || (inclusive && *at == t)).then_some(*at),
            Timing::Interval { anchor, every } => {
                if t < *anchor {
                    return Some(*anchor);
                }
                let k = (t - *anchor).num_nanoseconds()? / every.num_nanoseconds()?;
                let at = *anchor + *every * i32::try_from(k).ok()?;
                if at == t && inclusive {
                    Some(at)
                } else {
                    Some(at + *every)
                }
            }
            Timing::Cron { cron, zone } => cron
                .find_next_occurrence(&t.with_timezone(zone), inclusive)
                .ok()
                .map(|at| at.with_timezone(&Utc)),
        }
    }

    /// The last tick before `t` (or at it, if `inclusive`).
    fn prev_before(&self, t: Tick, inclusive: bool) -> Option<Tick> {
        match self {
            Timing::Once(at) => (*at < t || (inclusive && *at == t)).then_some(*at),
            Timing::Interval { anchor, every } => {
                if t < *anchor {
                    return None;
                }
                let k = (t - *anchor).num_nanoseconds()? / every.num_nanoseconds()?;
                let at = *anchor + *every * i32::try_from(k).ok()?;
                if at == t && !inclusive {
                    (k > 0).then(|| at - *every)
                } else {
                    Some(at)
                }
            }
            Timing::Cron { cron, zone } => cron
                .find_previous_occurrence(&t.with_timezone(zone), inclusive)
                .ok()
                .map(|at| at.with_timezone(&Utc)),
        }
    }
}

/// Parses a 5- or 6-field cron expression (no year field).
fn parse_cron(expression: &str) -> Result<Cron, Error> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|err| Error::InvalidCron {
            expression: expression.to_owned(),
            message: err.to_string(),
        })
}

/// A stored schedule: its definition and bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    #[serde(flatten)]
    pub def: ScheduleDef,
    /// When it last fired.
    pub last_run_at: Option<DateTime<Utc>>,
    /// The tick it waits for; `None` while disabled or once it is done.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Tasks submitted by its firings, in all.
    pub run_count: u64,
    /// The last task a firing submitted.
    pub last_task_id: Option<TaskId>,
    /// Bumped by the store on every edit (including enable and disable):
    /// a firing planned from an older revision is refused, so a tick never
    /// runs with a definition that was replaced before it fired.
    #[serde(default)]
    pub revision: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Schedule {
    /// A new schedule, created at `now`, with its first run computed.
    /// Times are kept to the microsecond ([`ScheduleDef::normalized`]).
    pub fn new(def: ScheduleDef, now: DateTime<Utc>) -> Result<Schedule, Error> {
        def.validate()?;
        let def = def.normalized();
        let now = now.trunc_subsecs(6);
        let next_run_at = def.first_run_after(now, now, 0)?;
        Ok(Schedule {
            def,
            last_run_at: None,
            next_run_at,
            run_count: 0,
            last_task_id: None,
            revision: 0,
            created_at: now,
            updated_at: now,
        })
    }

    /// The id of the task this schedule submits for `tick`: a UUIDv7 whose
    /// timestamp is the tick's millisecond and whose random bits are a
    /// stable hash of (name, `created_at`, tick). Every scheduler, and
    /// every retry after a crash, computes the same id for one tick, so
    /// the store's unique id is what keeps a tick from being queued twice
    /// (a schedule deleted and created again under its name gets new ids).
    pub fn task_id_for(&self, tick: DateTime<Utc>) -> TaskId {
        let mut key = Vec::with_capacity(self.def.name.len() + 17);
        key.extend_from_slice(self.def.name.as_bytes());
        key.push(0);
        key.extend_from_slice(&self.created_at.timestamp_micros().to_le_bytes());
        key.extend_from_slice(&tick.timestamp_micros().to_le_bytes());
        let low = fnv1a64(&key, FNV_OFFSET);
        let high = fnv1a64(&key, low);
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&low.to_le_bytes());
        random[8..].copy_from_slice(&high.to_le_bytes()[..2]);
        let millis = u64::try_from(tick.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a from `seed`: stable across processes and releases, unlike
/// std's randomly seeded hasher.
fn fnv1a64(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One firing, applied by the store only while the schedule's
/// `next_run_at` and `revision` are still those the firing was planned
/// from (see [`crate::backend::ScheduleStore`]).
///
/// A scheduled firing's tasks carry their ticks' ids
/// ([`Schedule::task_id_for`]); a manual one ("run now") carries one task
/// with an id chosen once per request.
#[derive(Debug, Clone)]
pub struct ScheduleFiring {
    pub name: String,
    /// The `next_run_at` the plan was made from (a compare-and-set key;
    /// `None` only for a manual firing of a schedule that waits for
    /// nothing).
    pub expected_next_run_at: Option<DateTime<Utc>>,
    /// The `revision` the plan was made from (the other key).
    pub expected_revision: u64,
    /// The schedule's next tick after this firing.
    pub next_run_at: Option<DateTime<Utc>>,
    /// When the firing happened (becomes `last_run_at` if tasks are
    /// submitted).
    pub fired_at: DateTime<Utc>,
    /// The tasks to submit (one per tick; may be empty when every missed
    /// tick is skipped).
    pub tasks: Vec<TaskRecord>,
}

/// What [`plan_firing`] decided for one due schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiringPlan {
    /// The ticks to submit a task for, oldest first.
    pub ticks: Vec<DateTime<Utc>>,
    /// The next tick to wait for.
    pub next_run_at: Option<DateTime<Utc>>,
}

/// Which ticks of a due schedule to submit at `now`, and the next tick.
///
/// Ticks no older than `grace` are on time and all run. Older ones are
/// misfires and follow the schedule's [`MisfirePolicy`]. `max_runs` and
/// `end_at` cap the result. A schedule that is not due plans nothing.
pub fn plan_firing(
    schedule: &Schedule,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<FiringPlan, Error> {
    let def = &schedule.def;
    let nothing = FiringPlan {
        ticks: Vec::new(),
        next_run_at: schedule.next_run_at,
    };
    let Some(due) = schedule.next_run_at.filter(|due| *due <= now) else {
        return Ok(nothing);
    };
    let timing = def.timing(schedule.created_at)?;
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let cutoff = now
        .checked_sub_signed(grace)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let in_window =
        |t: &Tick| def.start_at.is_none_or(|s| *t >= s) && def.end_at.is_none_or(|e| *t <= e);

    // Misfired ticks: in [due, cutoff).
    let mut ticks: Vec<Tick> = Vec::new();
    if due < cutoff {
        let wanted = match def.misfire {
            MisfirePolicy::Skip => 0,
            MisfirePolicy::RunOnce => 1,
            MisfirePolicy::RunEach { max } => max as usize,
        };
        // The latest first, walking back from the cutoff.
        let mut cursor = timing.prev_before(cutoff, false);
        while let Some(t) = cursor {
            if t < due || ticks.len() >= wanted {
                break;
            }
            if in_window(&t) {
                ticks.push(t);
            }
            cursor = timing.prev_before(t, false);
        }
        ticks.reverse();
    }
    // On-time ticks: in [max(due, cutoff), now].
    let mut cursor = if due >= cutoff {
        Some(due)
    } else {
        timing.next_after(cutoff, true)
    };
    while let Some(t) = cursor {
        if t > now || ticks.len() >= MAX_TICKS_PER_FIRING {
            break;
        }
        if in_window(&t) {
            ticks.push(t);
        }
        cursor = timing.next_after(t, false);
    }

    let remaining = def
        .max_runs
        .map_or(u64::MAX, |max| max.saturating_sub(schedule.run_count));
    ticks.truncate(usize::try_from(remaining).unwrap_or(usize::MAX));
    let done = def
        .max_runs
        .is_some_and(|max| schedule.run_count + ticks.len() as u64 >= max);
    let next_run_at = match timing {
        _ if done => None,
        Timing::Once(_) => None,
        _ => def.next_tick(&timing, now, false),
    };
    Ok(FiringPlan { ticks, next_run_at })
}

/// A schedule declared in code next to its handler:
/// `#[long_task(cron = "0 */5 * * * *")]` or `#[long_task(every = "30s")]`,
/// optionally with `params = r#"{"to": "ops"}"#` (JSON).
/// Upserted by name (the task's name) when a scheduler starts.
#[derive(Debug)]
pub struct StaticSchedule {
    /// The task type (also the schedule's name).
    pub task_type: &'static str,
    /// A cron expression, or `None` for an interval.
    pub cron: Option<&'static str>,
    /// The cron expression's time zone.
    pub time_zone: &'static str,
    /// The interval in milliseconds, when `cron` is `None`.
    pub every_ms: u64,
    /// The params each tick submits, as JSON text; `None` for the
    /// default (see [`StaticSchedule::all`]).
    pub params: Option<&'static str>,
}

inventory::collect!(StaticSchedule);

impl StaticSchedule {
    /// Every static schedule of the linked crates whose task is in
    /// `registry`, as definitions. Declared params must parse and fit the
    /// task's params type: otherwise an [`Error::InvalidParams`] naming
    /// the task (workers check this when they are built). Without declared
    /// params they are `{}`, or `null` for a handler whose params type
    /// rejects `{}` (such as `()`).
    pub fn all(registry: &Registry) -> Result<Vec<ScheduleDef>, Error> {
        inventory::iter::<StaticSchedule>
            .into_iter()
            .filter_map(|s| Some((s, registry.get(s.task_type)?)))
            .map(|(s, task)| {
                let mut def = match s.cron {
                    Some(expression) => {
                        ScheduleDef::cron_in(s.task_type, s.task_type, expression, s.time_zone)
                    }
                    None => ScheduleDef::interval(
                        s.task_type,
                        s.task_type,
                        Duration::from_millis(s.every_ms),
                    ),
                };
                let declared = |path: String, message: String| Error::InvalidParams {
                    task_type: s.task_type.to_owned(),
                    path,
                    message: format!("in #[long_task(params = ...)]: {message}"),
                };
                match s.params {
                    Some(text) => {
                        def.params = serde_json::from_str(text)
                            .map_err(|err| declared(".".to_owned(), err.to_string()))?;
                        (task.validate)(&def.params)
                            .map_err(|err| declared(err.path, err.message))?;
                    }
                    None if (task.validate)(&def.params).is_err() => def.params = Value::Null,
                    None => {}
                }
                def.description = format!("declared in code on `{}`", s.task_type);
                Ok(def)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn stored(def: ScheduleDef, created: DateTime<Utc>) -> Schedule {
        Schedule::new(def, created).unwrap()
    }

    #[test]
    fn schedule_validation_names_the_problem() {
        let bad_cron = ScheduleDef::cron("a", "t", "61 * * * *").validate();
        assert!(
            matches!(bad_cron, Err(Error::InvalidCron { .. })),
            "{bad_cron:?}"
        );
        let seven = ScheduleDef::cron("a", "t", "0 0 0 * * * 2030").validate();
        assert!(matches!(seven, Err(Error::InvalidCron { .. })), "{seven:?}");
        let tz = ScheduleDef::cron_in("a", "t", "0 * * * *", "Mars/Olympus").validate();
        assert!(matches!(tz, Err(Error::UnknownTimeZone(z)) if z == "Mars/Olympus"));
        let zero = ScheduleDef::interval("a", "t", Duration::ZERO).validate();
        assert!(
            matches!(&zero, Err(Error::InvalidSchedule { message, .. }) if message.contains("zero")),
            "{zero:?}"
        );
        let short = ScheduleDef::interval("a", "t", Duration::from_millis(10)).validate();
        assert!(matches!(short, Err(Error::InvalidSchedule { .. })));
        assert!(
            ScheduleDef::cron("a", "t", "*/5 * * * * *")
                .validate()
                .is_ok()
        );
        assert!(
            ScheduleDef::cron("a", "t", "0 9 * * 1-5")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn schedule_interval_ticks_from_its_anchor() {
        let created = at("2026-01-01T00:00:00.700Z");
        let s = stored(
            ScheduleDef::interval("a", "t", Duration::from_secs(10)),
            created,
        );
        // Anchored at the creation second.
        assert_eq!(s.next_run_at, Some(at("2026-01-01T00:00:10Z")));
        let plan = plan_firing(&s, at("2026-01-01T00:00:10.2Z"), Duration::from_secs(5)).unwrap();
        assert_eq!(plan.ticks, vec![at("2026-01-01T00:00:10Z")]);
        assert_eq!(plan.next_run_at, Some(at("2026-01-01T00:00:20Z")));
    }

    fn misfired(policy: MisfirePolicy) -> FiringPlan {
        // Every minute; last waited-for tick 10:01, the scheduler comes
        // back at 10:05:30 — 10:01..10:05 are missed (grace 10 s).
        let created = at("2026-01-01T10:00:30Z");
        let mut s = stored(
            ScheduleDef::cron("a", "t", "* * * * *").misfire(policy),
            created,
        );
        assert_eq!(s.next_run_at, Some(at("2026-01-01T10:01:00Z")));
        s.next_run_at = Some(at("2026-01-01T10:01:00Z"));
        plan_firing(&s, at("2026-01-01T10:05:30Z"), Duration::from_secs(10)).unwrap()
    }

    #[test]
    fn schedule_misfire_skip_drops_missed_ticks() {
        let plan = misfired(MisfirePolicy::Skip);
        assert!(plan.ticks.is_empty(), "{plan:?}");
        assert_eq!(plan.next_run_at, Some(at("2026-01-01T10:06:00Z")));
    }

    #[test]
    fn schedule_misfire_run_once_collapses_missed_ticks() {
        let plan = misfired(MisfirePolicy::RunOnce);
        assert_eq!(plan.ticks, vec![at("2026-01-01T10:05:00Z")]);
        assert_eq!(plan.next_run_at, Some(at("2026-01-01T10:06:00Z")));
    }

    #[test]
    fn schedule_misfire_run_each_runs_the_latest_up_to_the_cap() {
        let plan = misfired(MisfirePolicy::RunEach { max: 3 });
        assert_eq!(
            plan.ticks,
            vec![
                at("2026-01-01T10:03:00Z"),
                at("2026-01-01T10:04:00Z"),
                at("2026-01-01T10:05:00Z")
            ]
        );
        let all = misfired(MisfirePolicy::RunEach { max: 100 });
        assert_eq!(all.ticks.len(), 5);
        assert_eq!(all.ticks[0], at("2026-01-01T10:01:00Z"));
        assert_eq!(all.next_run_at, Some(at("2026-01-01T10:06:00Z")));
    }

    #[test]
    fn schedule_late_ticks_within_grace_all_run() {
        let created = at("2026-01-01T10:00:00Z");
        let s = stored(
            ScheduleDef::cron("a", "t", "* * * * * *").misfire(MisfirePolicy::Skip),
            created,
        );
        // 3 s late, grace 10 s: three on-time ticks, nothing skipped.
        let plan = plan_firing(&s, at("2026-01-01T10:00:03.5Z"), Duration::from_secs(10)).unwrap();
        assert_eq!(plan.ticks.len(), 3);
        assert_eq!(plan.next_run_at, Some(at("2026-01-01T10:00:04Z")));
    }

    #[test]
    fn schedule_max_runs_and_once_finish() {
        let created = at("2026-01-01T10:00:00Z");
        let mut s = stored(
            ScheduleDef::interval("a", "t", Duration::from_secs(1)).max_runs(2),
            created,
        );
        let plan = plan_firing(&s, at("2026-01-01T10:00:05Z"), Duration::from_secs(10)).unwrap();
        assert_eq!(plan.ticks.len(), 2);
        assert_eq!(plan.next_run_at, None);
        s = stored(
            ScheduleDef::once("b", "t", at("2026-01-01T09:00:00Z")),
            created,
        );
        assert_eq!(s.next_run_at, Some(at("2026-01-01T09:00:00Z")));
        let plan = plan_firing(&s, created, Duration::from_secs(10)).unwrap();
        assert_eq!(plan.ticks, vec![at("2026-01-01T09:00:00Z")]);
        assert_eq!(plan.next_run_at, None);
    }

    /// Walks a schedule through `from..to` the way a scheduler would, and
    /// returns every tick it fires.
    fn fire_through(mut s: Schedule, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut fired = Vec::new();
        while let Some(next) = s.next_run_at.filter(|n| *n <= to) {
            let plan = plan_firing(&s, next, Duration::from_secs(10)).unwrap();
            assert!(plan.next_run_at.is_none_or(|n| n > next), "moves forward");
            fired.extend(plan.ticks);
            s.next_run_at = plan.next_run_at;
        }
        fired
    }

    #[test]
    fn schedule_cron_in_a_time_zone_across_dst() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let local = |s: &str| {
            paris
                .from_local_datetime(
                    &chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap(),
                )
                .earliest()
                .unwrap()
                .with_timezone(&Utc)
        };
        // 2026-03-29: clocks go 02:00 → 03:00 in Paris. Daily 02:30 and
        // 09:00 local.
        let created = at("2026-03-27T12:00:00Z");
        let daily = stored(
            ScheduleDef::cron_in("a", "t", "0 9 * * *", "Europe/Paris"),
            created,
        );
        let fired = fire_through(daily, at("2026-03-31T12:00:00Z"));
        assert_eq!(
            fired,
            vec![
                local("2026-03-28 09:00"), // UTC+1: 08:00Z
                local("2026-03-29 09:00"), // UTC+2: 07:00Z
                local("2026-03-30 09:00"),
                local("2026-03-31 09:00"),
            ]
        );
        assert_eq!(fired[0], at("2026-03-28T08:00:00Z"));
        assert_eq!(fired[1], at("2026-03-29T07:00:00Z"));

        // 02:30 does not exist on the 29th: it runs once, at the first
        // instant after the gap (03:00 local = 01:00Z).
        let in_gap = stored(
            ScheduleDef::cron_in("b", "t", "30 2 * * *", "Europe/Paris"),
            created,
        );
        let fired = fire_through(in_gap, at("2026-03-30T12:00:00Z"));
        assert_eq!(
            fired,
            vec![
                at("2026-03-28T01:30:00Z"),
                at("2026-03-29T01:00:00Z"),
                at("2026-03-30T00:30:00Z"),
            ]
        );

        // 2026-10-25: clocks go 03:00 → 02:00; 02:30 happens twice on the
        // wall clock but runs once.
        let created = at("2026-10-23T12:00:00Z");
        let repeated = stored(
            ScheduleDef::cron_in("c", "t", "30 2 * * *", "Europe/Paris"),
            created,
        );
        let fired = fire_through(repeated, at("2026-10-26T12:00:00Z"));
        assert_eq!(fired.len(), 3, "{fired:?}");
        assert_eq!(fired[0], at("2026-10-24T00:30:00Z"));
        assert!(
            fired[1] == at("2026-10-25T00:30:00Z") || fired[1] == at("2026-10-25T01:30:00Z"),
            "{fired:?}"
        );
        assert_eq!(fired[2], at("2026-10-26T01:30:00Z"));
    }
}
