use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::*;
use crate::error::Error;

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
