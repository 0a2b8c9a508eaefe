//! Schedules declared in code (`#[long_task(every = …)]`, `cron = …`):
//! their params checked when workers start, their upserts, and a unit
//! task scheduled without params.

use std::time::Duration;

use taskq::{Client, Error, ScheduleDef};

use super::memory;

/// Declared in code: an interval, and a cron in a time zone.
#[taskq::long_task(every = "90s")]
async fn static_interval(unit: ()) -> Result<(), taskq::TaskError> {
    Ok(unit)
}

#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct Report {
    #[serde(default)]
    to: Option<String>,
}

#[taskq::long_task(cron = "0 */5 * * * *", time_zone = "Europe/Paris")]
async fn static_cron(report: Report) -> Result<Option<String>, taskq::TaskError> {
    Ok(report.to)
}

/// Declared with params (checked against `Report` when workers start).
#[taskq::long_task(cron = "0 0 8 * * 1-5", params = r#"{"to": "ops@example.com"}"#)]
async fn static_with_params(report: Report) -> Result<Option<String>, taskq::TaskError> {
    Ok(report.to)
}

#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct Strict {
    #[allow(dead_code)]
    count: u32,
}

/// Declared with params that parse but do not fit its params type.
#[taskq::long_task(every = "1h", params = r#"{"count": "many"}"#)]
async fn static_with_bad_params(strict: Strict) -> Result<(), taskq::TaskError> {
    let _ = strict;
    Ok(())
}

/// A registry of some of this binary's tasks (the whole inventory holds
/// `static_with_bad_params`, which no worker may start with).
fn registry_of(names: &[&str]) -> taskq::registry::Registry {
    let all = taskq::registry::Registry::from_inventory().unwrap();
    taskq::registry::Registry::from_defs(all.iter().filter(|def| names.contains(&def.name)))
        .unwrap()
}

#[tokio::test]
async fn memory_schedule_static_params_are_checked_at_startup() {
    let client = Client::with_registry(
        memory(),
        registry_of(&["static_interval", "static_cron", "static_with_params"]),
    );
    assert_eq!(client.sync_static_schedules().await.unwrap(), 3);
    let declared = client.get_schedule("static_with_params").await.unwrap();
    assert_eq!(
        declared.def.params,
        serde_json::json!({ "to": "ops@example.com" })
    );

    let bad = Client::with_registry(memory(), registry_of(&["static_with_bad_params"]));
    let built = taskq::Worker::builder(&bad).queue("default", 1).build();
    match built {
        Err(Error::InvalidParams {
            task_type,
            path,
            message,
        }) => {
            assert_eq!(task_type, "static_with_bad_params");
            assert!(path.contains("count"), "{path}");
            assert!(message.contains("#[long_task(params"), "{message}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a worker with unfit declared params was built"),
    }
    assert!(matches!(
        bad.sync_static_schedules().await,
        Err(Error::InvalidParams { .. })
    ));
    assert!(
        bad.list_schedules(Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn memory_schedule_static_schedules_upsert_without_duplicating() {
    let client = Client::with_registry(memory(), registry_of(&["static_interval", "static_cron"]));
    assert_eq!(client.sync_static_schedules().await.unwrap(), 2);
    // A second start (or a second worker) finds them stored: no writes.
    assert_eq!(client.sync_static_schedules().await.unwrap(), 0);
    let page = client.list_schedules(Default::default()).await.unwrap();
    let names: Vec<&str> = page.items.iter().map(|s| s.def.name.as_str()).collect();
    assert_eq!(names, ["static_cron", "static_interval"]);
    let cron = &page.items[0];
    assert_eq!(
        cron.def.kind,
        taskq::ScheduleKind::Cron {
            expression: "0 */5 * * * *".into(),
            time_zone: "Europe/Paris".into()
        }
    );
    assert_eq!(cron.def.params, serde_json::json!({}));
    let interval = &page.items[1];
    assert_eq!(
        interval.def.kind,
        taskq::ScheduleKind::Interval {
            every: Duration::from_secs(90)
        }
    );
    assert_eq!(
        interval.def.params,
        serde_json::Value::Null,
        "`()` takes null"
    );
    // Disabled at runtime, it stays disabled across restarts.
    client.disable_schedule("static_cron").await.unwrap();
    assert_eq!(client.sync_static_schedules().await.unwrap(), 0);
    assert!(
        !client
            .get_schedule("static_cron")
            .await
            .unwrap()
            .def
            .enabled
    );
}

/// A task whose params are `()` is schedulable without `.params(..)`: the
/// default `{}` becomes `null`, which its type takes; each run submits it.
#[tokio::test]
async fn memory_schedule_for_a_unit_task_needs_no_params() {
    let client = Client::with_registry(memory(), registry_of(&["static_interval", "static_cron"]));
    let every = Duration::from_secs(60);
    let created = client
        .create_schedule(ScheduleDef::interval("unit", "static_interval", every))
        .await
        .expect("a unit task's schedule");
    assert_eq!(created.def.params, serde_json::Value::Null);
    // An explicit `{}` means the same; `null` is kept.
    let updated = client
        .update_schedule(
            ScheduleDef::interval("unit", "static_interval", every).params(serde_json::json!({})),
        )
        .await
        .expect("`{}` for a unit task");
    assert_eq!(updated.def.params, serde_json::Value::Null);
    let id = client.run_schedule_now("unit").await.expect("run now");
    assert_eq!(
        client.get(id).await.unwrap().params,
        serde_json::Value::Null
    );
    // Params that fit neither are still refused, and a task whose params
    // take `{}` keeps it.
    let err = client
        .create_schedule(
            ScheduleDef::interval("bad", "static_interval", every).params(serde_json::json!(7)),
        )
        .await
        .expect_err("7 is not unit");
    assert!(matches!(err, Error::InvalidParams { .. }), "{err}");
    let cron = client
        .create_schedule(ScheduleDef::cron("report", "static_cron", "0 * * * *"))
        .await
        .unwrap();
    assert_eq!(cron.def.params, serde_json::json!({}));
}
