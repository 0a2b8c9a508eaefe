//! Schedules: a task type (or a whole workflow) submitted once at a time,
//! every interval, or on a cron expression in a time zone — stored by the backend, fired by the
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
//!
//! # Layout
//! - `def`: [`ScheduleDef`], [`ScheduleKind`], [`MisfirePolicy`] and their
//!   checks.
//! - `timing`: a kind compiled into the ticks after or before an instant.
//! - `stored`: [`Schedule`] and the id of each tick's task.
//! - `firing`: [`plan_firing`], [`FiringPlan`], [`ScheduleFiring`].
//! - `declared`: [`StaticSchedule`] and [`ScheduleDef::validate_with`], the
//!   part that knows the registry (the rest sits below it).

mod declared;
mod def;
mod firing;
mod stored;
#[cfg(test)]
mod tests;
mod timing;

pub use declared::StaticSchedule;
pub use def::{
    MAX_CATCH_UP, MAX_TICKS_PER_FIRING, MIN_INTERVAL, MisfirePolicy, ScheduleDef, ScheduleKind,
    ScheduleTarget,
};
pub use firing::{FiringPlan, ScheduleFiring, plan_firing};
pub use stored::Schedule;
