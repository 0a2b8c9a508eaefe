//! Schedules: CRUD, the due index, compare-and-set firings, run now,
//! and three schedulers racing on one store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use crate::backend::{Backend, PageRequest, TaskFilter};
use crate::error::Error;
use crate::maintenance::scheduler::{Scheduler, SchedulerConfig};
use crate::schedule::{MisfirePolicy, Schedule, ScheduleDef};
use crate::task::{TaskId, TaskState};

use super::helpers::*;

/// Create, get, list, update and delete; names are unique.
pub async fn schedule_crud(backend: Arc<dyn Backend>) {
    let a = stored_schedule("a", Some(now() + secs(60)));
    backend.create_schedule(a.clone()).await.expect("create");
    assert!(matches!(
        backend.create_schedule(a.clone()).await,
        Err(Error::ScheduleExists(name)) if name == "a"
    ));
    for name in ["c", "b"] {
        backend
            .create_schedule(stored_schedule(name, None))
            .await
            .expect("create");
    }
    let got = backend
        .get_schedule("a")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.def, a.def);
    assert!(backend.get_schedule("zz").await.expect("get").is_none());
    let page = backend
        .list_schedules(PageRequest::new(1, 2))
        .await
        .expect("list");
    assert_eq!(page.total, 3);
    let names: Vec<&str> = page.items.iter().map(|s| s.def.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let page2 = backend
        .list_schedules(PageRequest::new(2, 2))
        .await
        .expect("list");
    assert_eq!(page2.items.len(), 1);
    assert_eq!(page2.items[0].def.name, "c");

    // An update replaces the definition but not the bookkeeping.
    let fired = firing(&a, Some(now() + secs(120)), 1);
    assert!(backend.fire_schedule(fired).await.expect("fire"));
    let mut edited = a.clone();
    edited.def.description = "edited".into();
    edited.def.params = json!({ "k": [1, 2] });
    edited.next_run_at = Some(now() + secs(30));
    edited.run_count = 0;
    backend.update_schedule(&edited).await.expect("update");
    let got = backend
        .get_schedule("a")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.def.description, "edited");
    assert_eq!(got.def.params, json!({ "k": [1, 2] }));
    assert_eq!(
        got.next_run_at.map(|t| t.timestamp_micros()),
        edited.next_run_at.map(|t| t.timestamp_micros())
    );
    assert_eq!(got.run_count, 1, "bookkeeping kept");
    assert!(got.last_task_id.is_some());

    let missing = stored_schedule("missing", None);
    assert!(matches!(
        backend.update_schedule(&missing).await,
        Err(Error::ScheduleNotFound(_))
    ));
    assert!(backend.delete_schedule("b").await.expect("delete"));
    assert!(!backend.delete_schedule("b").await.expect("delete"));
    assert!(backend.get_schedule("b").await.expect("get").is_none());
}

/// Due schedules: enabled, next run reached, earliest first, limited; the
/// next due time ignores disabled ones.
pub async fn schedule_due_index(backend: Arc<dyn Backend>) {
    let t0 = now();
    let mut disabled = stored_schedule("disabled", Some(t0 - secs(50)));
    disabled.def.enabled = false;
    for schedule in [
        stored_schedule("late", Some(t0 - secs(5))),
        stored_schedule("later", Some(t0 - secs(1))),
        stored_schedule("early", Some(t0 - secs(10))),
        stored_schedule("future", Some(t0 + secs(30))),
        stored_schedule("done", None),
        disabled,
    ] {
        backend.create_schedule(schedule).await.expect("create");
    }
    let due = backend.due_schedules(t0, 10).await.expect("due");
    let names: Vec<&str> = due.iter().map(|s| s.def.name.as_str()).collect();
    assert_eq!(names, ["early", "late", "later"]);
    let due = backend.due_schedules(t0, 2).await.expect("due");
    assert_eq!(due.len(), 2);
    let next = backend
        .next_schedule_due()
        .await
        .expect("next")
        .expect("some");
    assert_eq!(next.timestamp_micros(), (t0 - secs(10)).timestamp_micros());
    for name in ["early", "late", "later"] {
        backend.delete_schedule(name).await.expect("delete");
    }
    let next = backend
        .next_schedule_due()
        .await
        .expect("next")
        .expect("some");
    assert_eq!(next.timestamp_micros(), (t0 + secs(30)).timestamp_micros());
}

/// A firing is a compare-and-set on `next_run_at` and `revision`; each
/// tick's task is queued at most once, and a refused firing queues nothing
/// new.
pub async fn schedule_fire_is_compare_and_set(backend: Arc<dyn Backend>) {
    let t0 = now();
    let schedule = stored_schedule("s", Some(t0 - secs(1)));
    backend
        .create_schedule(schedule.clone())
        .await
        .expect("create");
    let first = firing(&schedule, Some(t0 + secs(59)), 2);
    let task_ids = ids(&first.tasks);
    assert!(backend.fire_schedule(first).await.expect("fire"));
    // Another scheduler's plan from the same read: same ticks, same ids.
    let stale = firing(&schedule, Some(t0 + secs(59)), 2);
    assert!(!backend.fire_schedule(stale).await.expect("fire"));
    assert_eq!(scheduled_tasks(&*backend).await, 2, "each tick queued once");
    for id in &task_ids {
        assert_eq!(get(&*backend, *id).await.state, TaskState::Pending);
    }
    let got = read_schedule(&*backend, "s").await;
    assert_eq!(got.run_count, 2);
    assert_eq!(got.last_task_id, Some(task_ids[1]));
    assert!(got.last_run_at.is_some());
    assert_eq!(got.revision, schedule.revision, "firings are not edits");
    assert_eq!(
        got.next_run_at.map(|t| t.timestamp_micros()),
        Some((t0 + secs(59)).timestamp_micros())
    );
    // A firing with no tasks (skipped misfires) moves the schedule only.
    let skip = firing(&got, Some(t0 + secs(119)), 0);
    assert!(backend.fire_schedule(skip).await.expect("fire"));
    let got = read_schedule(&*backend, "s").await;
    assert_eq!((got.run_count, got.last_task_id), (2, Some(task_ids[1])));
    // Disabled (an edit) and missing schedules do not fire.
    let mut off = got.clone();
    off.def.enabled = false;
    backend.update_schedule(&off).await.expect("update");
    let refused = firing(&got, None, 1);
    let refused_id = refused.tasks[0].id;
    assert!(!backend.fire_schedule(refused).await.expect("fire"));
    assert!(backend.get(refused_id).await.expect("get").is_none());
    let ghost = stored_schedule("ghost", Some(t0));
    assert!(
        !backend
            .fire_schedule(firing(&ghost, None, 1))
            .await
            .expect("fire")
    );
    assert_eq!(scheduled_tasks(&*backend).await, 2);
}

/// A tick whose task is already queued (a scheduler queued it, then died
/// before moving the schedule on) fires without queueing it again, and
/// without failing.
pub async fn schedule_fire_tolerates_queued_tick(backend: Arc<dyn Backend>) {
    let schedule = stored_schedule("crashed", Some(now() - secs(1)));
    backend
        .create_schedule(schedule.clone())
        .await
        .expect("create");
    let planned = firing(&schedule, Some(now() + secs(60)), 2);
    // The first tick's task got queued; the compare-and-set never ran.
    backend
        .enqueue(planned.tasks[..1].to_vec())
        .await
        .expect("enqueue");
    let ids = ids(&planned.tasks);
    assert!(backend.fire_schedule(planned).await.expect("fire"));
    assert_eq!(scheduled_tasks(&*backend).await, 2);
    for id in ids.iter().copied() {
        assert_eq!(get(&*backend, id).await.state, TaskState::Pending);
    }
    let got = read_schedule(&*backend, "crashed").await;
    assert_eq!((got.run_count, got.last_task_id), (2, Some(ids[1])));
}

/// A batch of firings applies each one that is current, and only those.
pub async fn schedule_fire_batch_applies_current_firings(backend: Arc<dyn Backend>) {
    let t0 = now();
    let fresh = stored_schedule("fresh", Some(t0 - secs(2)));
    let stale = stored_schedule("stale", Some(t0 - secs(2)));
    for s in [&fresh, &stale] {
        backend.create_schedule(s.clone()).await.expect("create");
    }
    assert!(
        backend
            .fire_schedule(firing(&stale, Some(t0 + secs(58)), 1))
            .await
            .expect("fire")
    );
    let batch = vec![
        firing(&fresh, Some(t0 + secs(58)), 2),
        firing(&stale, Some(t0 + secs(58)), 1),
    ];
    let fresh_ids = ids(&batch[0].tasks);
    let stale_id = batch[1].tasks[0].id;
    let applied = backend.fire_schedules(batch).await.expect("fire");
    assert_eq!(applied, [true, false]);
    for id in fresh_ids {
        assert_eq!(get(&*backend, id).await.state, TaskState::Pending);
    }
    assert_eq!(get(&*backend, stale_id).await.state, TaskState::Pending);
    assert_eq!(
        scheduled_tasks(&*backend).await,
        3,
        "stale tick queued once"
    );
    assert_eq!(read_schedule(&*backend, "fresh").await.run_count, 2);
    assert_eq!(read_schedule(&*backend, "stale").await.run_count, 1);
    assert!(
        backend
            .fire_schedules(Vec::new())
            .await
            .expect("fire")
            .is_empty()
    );
}

/// One batch of current firings updates each schedule with its own values:
/// the next run and run count, and the last run and last task only where
/// the firing queued tasks.
pub async fn schedule_fire_batch_bookkeeping(backend: Arc<dyn Backend>) {
    let t0 = DateTime::from_timestamp(now().timestamp(), 0).expect("in range");
    let names = ["two", "none", "one"];
    let mut stored = Vec::new();
    for name in names {
        let schedule = stored_schedule(name, Some(t0 - secs(3)));
        backend.create_schedule(schedule).await.expect("create");
        stored.push(read_schedule(&*backend, name).await);
    }
    let batch = vec![
        firing(&stored[0], Some(t0 + secs(10)), 2),
        firing(&stored[1], Some(t0 + secs(20)), 0),
        firing(&stored[2], None, 1),
    ];
    let last_ids: Vec<Option<TaskId>> =
        batch.iter().map(|f| f.tasks.last().map(|t| t.id)).collect();
    let applied = backend.fire_schedules(batch).await.expect("fire");
    assert_eq!(applied, [true, true, true]);
    let expected = [
        (Some(t0 + secs(10)), 2),
        (Some(t0 + secs(20)), 0),
        (None, 1),
    ];
    for ((name, (next, runs)), last) in names.into_iter().zip(expected).zip(last_ids) {
        let got = read_schedule(&*backend, name).await;
        assert_eq!(
            (got.next_run_at, got.run_count, got.last_task_id),
            (next, runs, last),
            "{name}"
        );
        assert_eq!(got.last_run_at.is_some(), runs > 0, "{name}");
    }
    assert_eq!(scheduled_tasks(&*backend).await, 3);
}

/// Of many concurrent firings of one tick, exactly one applies, and the
/// tick's task is queued once.
pub async fn schedule_concurrent_firings_fire_once(backend: Arc<dyn Backend>) {
    let schedule = stored_schedule("race", Some(now() - secs(1)));
    backend
        .create_schedule(schedule.clone())
        .await
        .expect("create");
    let mut handles = Vec::new();
    for _ in 0..8 {
        let backend = backend.clone();
        let fire = firing(&schedule, Some(now() + secs(60)), 1);
        handles.push(tokio::spawn(async move {
            backend.fire_schedule(fire).await.expect("fire")
        }));
    }
    let mut applied = 0;
    for handle in handles {
        applied += usize::from(handle.await.expect("firer"));
    }
    assert_eq!(applied, 1);
    assert_eq!(scheduled_tasks(&*backend).await, 1);
    let tick = schedule.next_run_at.expect("due");
    assert_eq!(
        get(&*backend, schedule.task_id_for(tick)).await.state,
        TaskState::Pending
    );
    let got = read_schedule(&*backend, "race").await;
    assert_eq!(got.run_count, 1);
    assert_eq!(got.last_task_id, Some(schedule.task_id_for(tick)));
}

/// An edit bumps the revision; a firing planned before it is refused and
/// queues nothing, and the firing planned from the new read runs the new
/// definition.
pub async fn schedule_edit_refuses_stale_firing(backend: Arc<dyn Backend>) {
    let schedule = stored_schedule("edited", Some(now() - secs(1)));
    backend
        .create_schedule(schedule.clone())
        .await
        .expect("create");
    let before = read_schedule(&*backend, "edited").await;
    let mut edited = before.clone();
    edited.def.params = json!({ "version": 2 });
    backend.update_schedule(&edited).await.expect("update");
    let stale = firing(&before, Some(now() + secs(60)), 1);
    let id = stale.tasks[0].id;
    assert!(!backend.fire_schedule(stale).await.expect("fire"));
    assert!(
        backend.get(id).await.expect("get").is_none(),
        "nothing queued"
    );
    let after = read_schedule(&*backend, "edited").await;
    assert_eq!(after.revision, before.revision + 1);
    assert_eq!(after.run_count, 0);
    assert!(
        backend
            .fire_schedule(firing(&after, Some(now() + secs(60)), 1))
            .await
            .expect("fire")
    );
    assert_eq!(get(&*backend, id).await.params, json!({ "version": 2 }));
}

/// "Run now" queues one task with the schedule's params and records it
/// like a firing (last run, last task, run count, which `max_runs` caps),
/// enabled or not; the schedule's ticks are otherwise unchanged.
pub async fn schedule_run_now_records_the_run(backend: Arc<dyn Backend>) {
    let client = schedule_client(backend.clone());
    let next = now() + secs(600);
    let created = client
        .create_schedule(
            ScheduleDef::interval("manual", SCHEDULED_TASK.name, Duration::from_secs(600))
                .start_at(next)
                .params(json!({ "by": "hand" }))
                .queue("manual-q")
                .max_runs(2),
        )
        .await
        .expect("create");
    let first = client.run_schedule_now("manual").await.expect("run now");
    let task = get(&*backend, first).await;
    assert_eq!(
        (task.params, task.queue.as_str()),
        (json!({ "by": "hand" }), "manual-q")
    );
    let got = read_schedule(&*backend, "manual").await;
    assert_eq!((got.run_count, got.last_task_id), (1, Some(first)));
    assert!(got.last_run_at.is_some());
    assert_eq!(got.next_run_at, created.next_run_at, "its ticks unchanged");
    // Disabled, it still runs by hand; the second run reaches max_runs.
    client.disable_schedule("manual").await.expect("disable");
    let second = client.run_schedule_now("manual").await.expect("run now");
    assert_ne!(first, second);
    let got = read_schedule(&*backend, "manual").await;
    assert_eq!((got.run_count, got.last_task_id), (2, Some(second)));
    assert_eq!(scheduled_tasks(&*backend).await, 2);
    client.enable_schedule("manual").await.expect("enable");
    let got = read_schedule(&*backend, "manual").await;
    assert_eq!(got.next_run_at, None, "max_runs reached: finished");
    assert!(matches!(
        client.run_schedule_now("missing").await,
        Err(Error::ScheduleNotFound(_))
    ));
}

/// Every kind and field of a schedule is stored unchanged.
pub async fn schedule_round_trip(backend: Arc<dyn Backend>) {
    let at = now() + secs(3600);
    let defs = [
        ScheduleDef::once("once", SCHEDULED_TASK.name, at)
            .misfire(MisfirePolicy::Skip)
            .description("héllo <b>"),
        ScheduleDef::interval("every", SCHEDULED_TASK.name, Duration::from_millis(90_500))
            .start_at(at)
            .end_at(at + secs(86_400))
            .max_runs(7)
            .queue("other")
            .priority(-4)
            .misfire(MisfirePolicy::RunEach { max: 12 }),
        ScheduleDef::cron_in(
            "cron",
            SCHEDULED_TASK.name,
            "0 30 2 * * 1-5",
            "America/New_York",
        )
        .params(json!({ "a": null, "b": [1.5, "x"] }))
        .enabled(false),
    ];
    for def in defs {
        let schedule = Schedule::new(def, now()).expect("valid");
        backend
            .create_schedule(schedule.clone())
            .await
            .expect("create");
        let got = backend
            .get_schedule(&schedule.def.name)
            .await
            .expect("get")
            .expect("exists");
        let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros());
        assert_eq!(got.def.kind, schedule.def.kind);
        assert_eq!(got.def.params, schedule.def.params);
        assert_eq!(
            (
                got.def.enabled,
                got.def.max_runs,
                &got.def.queue,
                got.def.priority
            ),
            (
                schedule.def.enabled,
                schedule.def.max_runs,
                &schedule.def.queue,
                schedule.def.priority
            )
        );
        assert_eq!(got.def.misfire, schedule.def.misfire);
        assert_eq!(got.def.description, schedule.def.description);
        assert_eq!(micros(got.def.start_at), micros(schedule.def.start_at));
        assert_eq!(micros(got.def.end_at), micros(schedule.def.end_at));
        assert_eq!(micros(got.next_run_at), micros(schedule.next_run_at));
        assert_eq!(
            got.created_at.timestamp_micros(),
            schedule.created_at.timestamp_micros()
        );
        assert_eq!((got.run_count, got.last_run_at), (0, None));
    }
}

/// Three schedulers against one store (one backend handle each, all on the
/// same data), a per-second schedule over `ticks` ticks: every tick
/// submits exactly one task — no duplicates, no misses.
///
/// Takes about `ticks` seconds. Returns (ticks seen, tasks submitted).
pub async fn schedule_three_schedulers(
    label: &str,
    backends: [Arc<dyn Backend>; 3],
    ticks: u32,
) -> (usize, usize) {
    let client = schedule_client(backends[0].clone());
    let start = (now() + secs(2)).trunc_subsecs(0);
    let end = start + secs(i64::from(ticks) - 1);
    client
        .create_schedule(
            ScheduleDef::cron("every-second", SCHEDULED_TASK.name, "* * * * * *")
                .start_at(start)
                .end_at(end)
                .misfire(MisfirePolicy::RunEach { max: 100 }),
        )
        .await
        .expect("create");
    let stop = crate::CancellationToken::new();
    let mut runs = Vec::new();
    for backend in &backends {
        let scheduler = Scheduler::new(&schedule_client(backend.clone())).config(SchedulerConfig {
            // Short sleeps so all three wake for every tick and race.
            max_sleep: Duration::from_millis(200),
            sync_static: false,
            ..SchedulerConfig::default()
        });
        runs.push(tokio::spawn(scheduler.run(stop.clone())));
    }
    let wait = (end - now()).to_std().unwrap_or_default() + Duration::from_secs(3);
    tokio::time::sleep(wait).await;
    stop.cancel();
    for run in runs {
        run.await.expect("scheduler");
    }
    let mut scheduled = Vec::new();
    let filter = TaskFilter {
        task_type: Some(SCHEDULED_TASK.name.to_owned()),
        ..TaskFilter::default()
    };
    for page in 1.. {
        let got = backends[0]
            .list(&filter, PageRequest::new(page, PageRequest::MAX_PAGE_SIZE))
            .await
            .expect("list");
        if got.items.is_empty() {
            break;
        }
        scheduled.extend(got.items.iter().map(|r| r.scheduled_at.timestamp_micros()));
    }
    let tasks = scheduled.len();
    scheduled.sort_unstable();
    let distinct: HashSet<i64> = scheduled.iter().copied().collect();
    assert_eq!(distinct.len(), tasks, "{label}: a tick fired twice");
    let expected: Vec<i64> = (0..i64::from(ticks))
        .map(|k| (start + secs(k)).timestamp_micros())
        .collect();
    assert_eq!(
        scheduled, expected,
        "{label}: every tick fired once, in order"
    );
    let schedule = client.get_schedule("every-second").await.expect("get");
    assert_eq!(schedule.run_count, u64::from(ticks), "{label}: run count");
    assert_eq!(schedule.next_run_at, None, "{label}: past its end");
    (distinct.len(), tasks)
}
