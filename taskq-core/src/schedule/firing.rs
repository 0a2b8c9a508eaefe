//! Firing a due schedule: [`plan_firing`] decides which ticks to submit
//! and when the next one is; a [`ScheduleFiring`] carries that to the
//! store, which applies it only if nothing moved the schedule meanwhile.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::def::{MAX_TICKS_PER_FIRING, MisfirePolicy};
use super::stored::Schedule;
use super::timing::{Tick, Timing};
use crate::error::Error;
use crate::task::TaskRecord;

/// One firing, applied by the store only while the schedule's
/// `next_run_at` and `revision` are still those the firing was planned
/// from (see [`crate::backend::ScheduleStore`]).
///
/// A scheduled firing's tasks carry their ticks' ids
/// ([`Schedule::task_id_for`]); a manual one ("run now") carries one task
/// with an id chosen once per request. A workflow schedule's tick carries
/// every step of its workflow, whose ids derive from the tick's.
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

impl ScheduleFiring {
    /// The runs it submits, what a schedule's `run_count` (and so
    /// `max_runs`) counts: one per task, or one per workflow.
    pub fn runs(&self) -> usize {
        self.run_starts().count()
    }

    /// The task its last run starts from (a schedule's `last_task_id`):
    /// the last task, or the first step of the last workflow.
    pub fn last_task(&self) -> Option<&TaskRecord> {
        self.run_starts().last()
    }

    /// The first record of each run: a task, or the first step of a
    /// workflow (a firing writes each workflow's steps together).
    fn run_starts(&self) -> impl Iterator<Item = &TaskRecord> {
        let mut previous = None;
        self.tasks.iter().filter(move |task| {
            let workflow = task.step.as_ref().map(|step| step.workflow);
            let starts = workflow.is_none() || workflow != previous;
            previous = workflow;
            starts
        })
    }
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
