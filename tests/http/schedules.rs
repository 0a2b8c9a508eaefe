//! Schedules, and a registry built by hand.

use super::*;

pub(super) async fn schedules_are_created_steered_and_deleted(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let (status, page) = get(&app, "/api/schedules").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 0);

    let hourly = json!({ "name": "hourly", "task_type": "echo", "params": { "text": "s" },
                         "kind": "interval", "every": 3600 });
    let (status, created) = post(&app, "/api/schedules", hourly.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "hourly");
    assert_eq!(created["kind"], "interval");
    assert_eq!(created["enabled"], true);
    assert!(created["next_run_at"].is_string(), "{created}");
    let (status, body) = post(&app, "/api/schedules", hourly).await;
    error_of(status, &body, StatusCode::CONFLICT);

    // Bad definitions change nothing and say what is wrong: a value out of
    // range is a 400, one that does not fit a 422, each naming the field.
    let bad = json!({ "name": "x", "task_type": "echo", "params": { "text": "s" },
                      "kind": "interval", "every": -1 });
    let (status, body) = post(&app, "/api/schedules", bad).await;
    bad_field(status, &body, "every");
    for (bad, field) in [
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "cron" }),
            "expression",
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "interval", "every": 0.5 }),
            "every",
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "interval", "every": 5, "max_runs": 0 }),
            "max_runs",
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "interval", "every": 5, "start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z" }),
            "end_at",
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "interval", "every": 5, "at": "2030-01-01T00:00:00Z" }),
            "at",
        ),
        (
            json!({ "task_type": "echo", "params": { "text": "s" }, "kind": "interval", "every": 5 }),
            "name",
        ),
        (
            json!({ "name": "x", "task_type": "nope", "kind": "interval", "every": 5 }),
            "task_type",
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": 1 }, "kind": "interval", "every": 5 }),
            "params.text",
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "cron", "expression": "61 * * * *" }),
            "expression",
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "cron", "expression": "* * * * *", "time_zone": "Mars/Olympus" }),
            "time_zone",
        ),
        (
            json!({ "name": "x", "task_type": "echo", "kind": "weekly" }),
            "kind",
        ),
    ] {
        let (status, body) = post(&app, "/api/schedules", bad.clone()).await;
        let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(details["field"], field, "{bad} → {body}");
    }

    let (status, one) = get(&app, "/api/schedules/hourly").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["every"], 3600.0);
    let (status, body) = get(&app, "/api/schedules/nope").await;
    error_of(status, &body, StatusCode::NOT_FOUND);

    let nightly = json!({ "task_type": "echo", "params": { "text": "n" }, "kind": "cron",
                          "expression": "0 3 * * *", "time_zone": "Europe/Paris" });
    let (status, updated) = call(
        &app,
        Method::PUT,
        "/api/schedules/hourly",
        Some(Body::from(nightly.to_string())),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["kind"], "cron");
    assert_eq!(updated["time_zone"], "Europe/Paris");
    let renamed = json!({ "name": "other", "task_type": "echo", "params": { "text": "n" },
                          "kind": "interval", "every": 5 });
    let (status, body) = call(
        &app,
        Method::PUT,
        "/api/schedules/hourly",
        Some(Body::from(renamed.to_string())),
        Some(TOKEN),
    )
    .await;
    let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(details["field"], "name");

    let (status, disabled) = post(&app, "/api/schedules/hourly/disable", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(disabled["enabled"], false);
    let (status, enabled) = post(&app, "/api/schedules/hourly/enable", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(enabled["enabled"], true);

    let (status, task) = post(&app, "/api/schedules/hourly/run", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    assert_eq!(task["task_type"], "echo");
    assert_eq!(task["params"]["text"], "n");
    let (status, body) = post(&app, "/api/schedules/nope/run", json!({})).await;
    error_of(status, &body, StatusCode::NOT_FOUND);

    let once = json!({ "name": "once", "task_type": "echo", "params": { "text": "o" },
                       "kind": "once", "at": "2030-01-01T00:00:00Z", "enabled": false });
    let (status, _) = post(&app, "/api/schedules", once).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, page) = get(&app, "/api/schedules?page_size=1").await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["total_pages"], 2);
    assert_eq!(page["schedules"].as_array().unwrap().len(), 1);
    let (status, body) = get(&app, "/api/schedules?page=x").await;
    let (_, details) = error_of(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(details["field"], "page");

    let (status, _) = call(
        &app,
        Method::DELETE,
        "/api/schedules/hourly",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(
        &app,
        Method::DELETE,
        "/api/schedules/hourly",
        None,
        Some(TOKEN),
    )
    .await;
    error_of(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = call(&app, Method::GET, "/api/schedules", None, None).await;
    error_of(status, &body, StatusCode::UNAUTHORIZED);
}

/// The routes also serve a registry built by hand (hosts without the macro).
pub(super) async fn an_explicit_registry_limits_the_task_types(backend: Arc<dyn Backend>) {
    let registry = Registry::from_inventory().expect("registry");
    let only_echo =
        Registry::from_defs(registry.iter().filter(|def| def.name == "echo")).expect("one task");
    let app = app(&Client::with_registry(backend, only_echo));
    let (_, types) = get(&app, "/api/task-types").await;
    assert_eq!(types.as_array().unwrap().len(), 1);
    let (status, body) = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 1 } }),
    )
    .await;
    error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}
