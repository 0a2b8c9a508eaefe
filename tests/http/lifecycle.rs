//! Cancel, retry, reorder, delete and purge through the API.

use super::*;

pub(super) async fn cancel_retry_and_reorder_follow_the_state_machine(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let a = submit_echo(&app, "a", json!({})).await["id"].clone();
    let b = submit_echo(&app, "b", json!({})).await["id"].clone();
    let c = submit_echo(&app, "c", json!({})).await["id"].clone();
    let (a, b, c) = (
        a.as_str().unwrap().to_owned(),
        b.as_str().unwrap().to_owned(),
        c.as_str().unwrap().to_owned(),
    );

    // Reorder: c to the front, a to the back, b before c.
    let (status, moved) = post(
        &app,
        &format!("/api/tasks/{c}/reorder"),
        json!({ "to": "front" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["id"], c.as_str(), "the id stays");
    let (status, _) = post(
        &app,
        &format!("/api/tasks/{a}/reorder"),
        json!({ "to": "back" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &app,
        &format!("/api/tasks/{b}/reorder"),
        json!({ "to": "before", "task": c }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let order = claim_order(&client, 3).await;
    assert_eq!(order, vec![b.clone(), c.clone(), a.clone()]);

    // Claimed tasks are RUNNING now: reorder is a conflict, cancel requests.
    let (status, body) = post(
        &app,
        &format!("/api/tasks/{a}/reorder"),
        json!({ "to": "front" }),
    )
    .await;
    assert_eq!(
        error_of(status, &body, StatusCode::CONFLICT).0,
        "invalid_transition"
    );
    let (status, running) = post(&app, &format!("/api/tasks/{a}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(running["cancel_requested"], true);

    // Pending cancel is immediate; a second cancel is a conflict.
    let d = submit_echo(&app, "d", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, cancelled) = post(&app, &format!("/api/tasks/{d}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["state"], "CANCELLED");
    let (status, body) = post(&app, &format!("/api/tasks/{d}/cancel"), json!({})).await;
    let (code, details) = error_of(status, &body, StatusCode::CONFLICT);
    assert_eq!(code, "invalid_transition");
    assert_eq!(details["state"], "CANCELLED");

    // Retry brings it back with the same id; retrying a pending task conflicts.
    let (status, retried) = post(&app, &format!("/api/tasks/{d}/retry"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(retried["state"], "PENDING");
    assert_eq!(retried["id"], d.as_str());
    let (status, body) = post(&app, &format!("/api/tasks/{d}/retry"), json!({})).await;
    error_of(status, &body, StatusCode::CONFLICT);

    // Bad reorder bodies name the field.
    for (body, field) in [
        (json!({ "to": "before" }), "task"),
        (json!({ "to": "front", "task": a }), "task"),
        (json!({ "to": "sideways" }), "to"),
        (json!({ "to": "before", "task": "not-a-uuid" }), "task"),
    ] {
        let (status, body) = post(&app, &format!("/api/tasks/{d}/reorder"), body).await;
        let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(details["field"], field, "{body}");
    }

    // Missing and malformed ids.
    let missing = uuid::Uuid::now_v7();
    for uri in [
        format!("/api/tasks/{missing}"),
        format!("/api/tasks/{missing}/cancel"),
        format!("/api/tasks/{missing}/retry"),
    ] {
        let (status, body) = if uri.ends_with(&missing.to_string()) {
            get(&app, &uri).await
        } else {
            post(&app, &uri, json!({})).await
        };
        assert_eq!(
            error_of(status, &body, StatusCode::NOT_FOUND).0,
            "not_found"
        );
    }
    let (status, body) = post(
        &app,
        &format!("/api/tasks/{missing}/reorder"),
        json!({ "to": "front" }),
    )
    .await;
    error_of(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = get(&app, "/api/tasks/not-a-uuid").await;
    assert_eq!(
        error_of(status, &body, StatusCode::BAD_REQUEST).0,
        "bad_path"
    );
    let (status, body) = post(&app, "/api/tasks/12/cancel", json!({})).await;
    error_of(status, &body, StatusCode::BAD_REQUEST);
}

pub(super) async fn delete_removes_one_ended_task(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let id = |task: Value| task["id"].as_str().unwrap().to_owned();
    let pending = id(submit_echo(&app, "waits", json!({})).await);

    // Pending: 409, and the task stays.
    let (status, body) = delete(&app, &format!("/api/tasks/{pending}")).await;
    let (code, details) = error_of(status, &body, StatusCode::CONFLICT);
    assert_eq!(code, "invalid_transition");
    assert_eq!(
        (&details["state"], &details["action"]),
        (&json!("PENDING"), &json!("delete"))
    );
    assert_eq!(
        get(&app, &format!("/api/tasks/{pending}")).await.0,
        StatusCode::OK
    );

    // Running: 409 too.
    let slow = id(post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 400 } }),
    )
    .await
    .1);
    let (stop, running) = spawn_worker(test_worker(&client));
    wait_for(&app, &slow, |t| t["state"] == "RUNNING").await;
    let (status, body) = delete(&app, &format!("/api/tasks/{slow}")).await;
    let (_, details) = error_of(status, &body, StatusCode::CONFLICT);
    assert_eq!(details["state"], "RUNNING");
    post(&app, &format!("/api/tasks/{slow}/cancel"), json!({})).await;
    wait_for(&app, &slow, |t| t["state"] == "CANCELLED").await;
    stop.shutdown();
    running.await.expect("join").expect("worker");

    // Ended: 204 with no body, then 404.
    let (status, body) = delete(&app, &format!("/api/tasks/{slow}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::String(String::new()));
    let (status, body) = get(&app, &format!("/api/tasks/{slow}")).await;
    error_of(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = delete(&app, &format!("/api/tasks/{slow}")).await;
    let (code, details) = error_of(status, &body, StatusCode::NOT_FOUND);
    assert_eq!(
        (code.as_str(), &details["resource"]),
        ("not_found", &json!("task"))
    );
    let (status, page) = get(&app, "/api/tasks").await;
    assert_eq!((status, &page["total"]), (StatusCode::OK, &json!(1)));

    // Malformed id: 400; no token: 401.
    let (status, body) = delete(&app, "/api/tasks/not-a-uuid").await;
    error_of(status, &body, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/tasks/{pending}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

pub(super) async fn purge_deletes_ended_tasks_by_state_and_age(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let a = submit_echo(&app, "a", json!({})).await["id"].clone();
    submit_echo(&app, "b", json!({})).await;
    post(
        &app,
        &format!("/api/tasks/{}/cancel", a.as_str().unwrap()),
        json!({}),
    )
    .await;

    // Too young to purge.
    let (status, body) = post(
        &app,
        "/api/tasks/purge",
        json!({ "states": ["CANCELLED"], "older_than": 3600 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["deleted"], 0);
    let (status, body) = post(
        &app,
        // Before 2038: MySQL TIMESTAMP bounds (see the list test).
        "/api/tasks/purge",
        json!({ "states": ["CANCELLED"], "before": "2037-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["deleted"], 1);
    let (_, page) = get(&app, "/api/tasks").await;
    assert_eq!(page["total"], 1, "the pending task stays");

    let (status, body) = post(&app, "/api/tasks/purge", json!({ "states": ["PENDING"] })).await;
    let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(details["field"], "states");
    let (status, body) = post(&app, "/api/tasks/purge", json!({ "states": ["GONE"] })).await;
    let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(details["field"], "states[0]");
    let (status, body) = post(
        &app,
        "/api/tasks/purge",
        json!({ "older_than": 1, "before": "2999-01-01T00:00:00Z" }),
    )
    .await;
    error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = post_raw(&app, "/api/tasks/purge", "[").await;
    error_of(status, &body, StatusCode::BAD_REQUEST);
}
