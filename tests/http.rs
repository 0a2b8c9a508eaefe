//! The HTTP routes, called through the router with `tower::ServiceExt::oneshot`
//! (no socket), on every embedded backend: `cargo test --features http --test
//! http http_routes::memory::` (or `sqlite::`, `postgres::`, `mysql::`,
//! `redis::`) runs one; the servers are read from `TASKQ_TEST_POSTGRES_URL`,
//! `TASKQ_TEST_MYSQL_URL` and `TASKQ_TEST_REDIS_URL` (unset at build time:
//! their tests are ignored). Every endpoint and every error
//! status (400, 401, 404, 405, 409, 413, 422) is exercised.

mod common;

use std::sync::Arc;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use taskq::backend::Backend;
use taskq::http::{self, Auth, HttpConfig};
use taskq::prelude::*;
use taskq::registry::Registry;
use tower::ServiceExt;

const TOKEN: &str = "test-token";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Echo {
    /// What to echo.
    text: String,
    #[serde(default)]
    times: u32,
}

/// Echoes its text.
#[long_task(name = "echo", retries = 0)]
async fn echo_task(p: Echo) -> Result<String, TaskError> {
    Ok(p.text.repeat(p.times.max(1) as usize))
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Slow {
    steps: u32,
}

/// Works in steps, reporting progress, until done or cancelled.
#[long_task(name = "slow", queue = "slow", retries = 0)]
async fn slow_task(ctx: TaskContext, p: Slow) -> Result<u32, TaskError> {
    for step in 1..=p.steps {
        if ctx.is_cancelled() {
            return Err(TaskError::cancelled("stopped"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        ctx.progress(f64::from(step) / f64::from(p.steps), format!("step {step}"))
            .await?;
    }
    Ok(p.steps)
}

fn client_for(backend: Arc<dyn Backend>) -> Client {
    Client::new(backend).expect("registry")
}

/// A worker for both test queues, with fast timings.
fn test_worker(client: &Client) -> taskq::WorkerBuilder {
    Worker::builder(client)
        .queue("default", 2)
        .queue("slow", 2)
        .poll_interval(Duration::from_millis(20))
        .heartbeat_interval(Duration::from_millis(50))
        .cancel_grace(Duration::from_secs(2))
}

type WorkerRun = tokio::task::JoinHandle<Result<(), taskq::Error>>;

/// Runs the worker in the background: its shutdown handle and its task.
fn spawn_worker(builder: taskq::WorkerBuilder) -> (taskq::ShutdownHandle, WorkerRun) {
    let worker = builder.build().expect("worker");
    (worker.shutdown_handle(), tokio::spawn(worker.run()))
}

fn app(client: &Client) -> Router {
    http::router(client.clone(), Auth::bearer(TOKEN))
}

/// One request through the router; the answer's status and JSON body
/// (`Value::String` for a non-JSON body).
async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    body: Option<Body>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            body
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).expect("request"))
        .await
        .expect("the router is infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    call(app, Method::GET, uri, None, Some(TOKEN)).await
}

async fn post(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    let body = Body::from(body.to_string());
    call(app, Method::POST, uri, Some(body), Some(TOKEN)).await
}

async fn post_raw(app: &Router, uri: &str, body: &str) -> (StatusCode, Value) {
    let body = Body::from(body.to_owned());
    call(app, Method::POST, uri, Some(body), Some(TOKEN)).await
}

/// Asserts the JSON error shape and returns `(code, details)`.
#[track_caller]
fn error_of(status: StatusCode, body: &Value, expected: StatusCode) -> (String, Value) {
    assert_eq!(status, expected, "{body}");
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error["details"].is_object(), "{body}");
    (
        error["code"].as_str().expect("code").to_owned(),
        error["details"].clone(),
    )
}

async fn submit_echo(app: &Router, text: &str, extra: Value) -> Value {
    let mut body = json!({ "task_type": "echo", "params": { "text": text } });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let (status, record) = post(app, "/api/tasks", body).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    record
}

async fn task_types_are_listed_with_their_schema(backend: Arc<dyn Backend>) {
    let app = app(&client_for(backend));
    let (status, types) = get(&app, "/api/task-types").await;
    assert_eq!(status, StatusCode::OK);
    let echo = types
        .as_array()
        .expect("array")
        .iter()
        .find(|t| t["name"] == "echo")
        .expect("echo is registered");
    assert_eq!(echo["description"], "Echoes its text.");
    assert_eq!(echo["queue"], "default");
    assert_eq!(echo["max_retries"], 0);
    assert_eq!(
        echo["params_schema"]["properties"]["text"]["type"],
        "string"
    );

    let (status, slow) = get(&app, "/api/task-types/slow").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(slow["queue"], "slow");

    let (status, body) = get(&app, "/api/task-types/nope").await;
    let (code, details) = error_of(status, &body, StatusCode::NOT_FOUND);
    assert_eq!(code, "not_found");
    assert_eq!(details["name"], "nope");
}

async fn submit_stores_the_task_with_overrides(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let record = submit_echo(&app, "hi", json!({})).await;
    assert_eq!(record["state"], "PENDING");
    assert_eq!(record["task_type"], "echo");
    assert_eq!(record["params"]["text"], "hi");
    assert_eq!(record["queue"], "default");

    let id = record["id"].as_str().expect("id");
    let (status, detail) = get(&app, &format!("/api/tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail, record);

    let overridden = submit_echo(
        &app,
        "later",
        json!({ "queue": "other", "priority": 9, "countdown": 3600, "max_retries": 2,
                "timeout": 30, "soft_timeout": 10 }),
    )
    .await;
    assert_eq!(overridden["queue"], "other");
    assert_eq!(overridden["priority"], 9);
    assert_eq!(overridden["max_retries"], 2);
    assert_eq!(overridden["timeout"], 30.0);
    let scheduled: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(overridden["scheduled_at"].clone()).expect("time");
    assert!(scheduled > chrono::Utc::now() + chrono::Duration::minutes(59));

    let at = submit_echo(&app, "at", json!({ "run_at": "2030-01-01T00:00:00Z" })).await;
    assert_eq!(at["scheduled_at"], "2030-01-01T00:00:00Z");

    // The typed API sees what REST stored.
    let id: TaskId = id.parse().expect("uuid");
    assert_eq!(client.get(id).await.expect("stored").params["text"], "hi");
}

async fn submit_errors_name_the_problem_and_store_nothing(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);

    let (status, body) = post_raw(&app, "/api/tasks", "{not json").await;
    assert_eq!(
        error_of(status, &body, StatusCode::BAD_REQUEST).0,
        "malformed_json"
    );

    let (status, body) = post(&app, "/api/tasks", json!({ "task_type": "nope" })).await;
    let (code, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "unknown_task_type");
    assert_eq!(details["field"], "task_type");

    let wrong = json!({ "task_type": "echo", "params": { "text": 5 } });
    let (status, body) = post(&app, "/api/tasks", wrong).await;
    let (code, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "invalid_params");
    assert_eq!(details["field"], "params.text");

    let missing = json!({ "task_type": "echo", "params": {} });
    let (status, body) = post(&app, "/api/tasks", missing).await;
    let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(details["field"], "params");
    assert!(body["error"]["message"].as_str().unwrap().contains("text"));

    let typo = json!({ "task_type": "echo", "params": { "text": "x" }, "prority": 1 });
    let (status, body) = post(&app, "/api/tasks", typo).await;
    let (code, _) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "invalid_field");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("prority")
    );

    let wrong_type = json!({ "task_type": "echo", "params": { "text": "x" }, "priority": "high" });
    let (status, body) = post(&app, "/api/tasks", wrong_type).await;
    let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(details["field"], "priority");

    for (extra, field) in [
        (json!({ "countdown": -1 }), "countdown"),
        (json!({ "countdown": 1e300 }), "countdown"),
        (
            json!({ "countdown": 5, "run_at": "2030-01-01T00:00:00Z" }),
            "countdown",
        ),
        (json!({ "timeout": -3 }), "timeout"),
        (json!({ "queue": "" }), "queue"),
    ] {
        let mut body = json!({ "task_type": "echo", "params": { "text": "x" } });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, body) = post(&app, "/api/tasks", body).await;
        let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(details["field"], field, "{body}");
    }

    // Soft timeout not shorter than the hard one: the client's own check.
    let bad =
        json!({ "task_type": "echo", "params": { "text": "x" }, "timeout": 5, "soft_timeout": 5 });
    let (status, body) = post(&app, "/api/tasks", bad).await;
    assert_eq!(
        error_of(status, &body, StatusCode::BAD_REQUEST).0,
        "invalid_argument"
    );

    let huge =
        json!({ "task_type": "echo", "params": { "text": "x".repeat(http::DEFAULT_BODY_LIMIT) } });
    let (status, body) = post(&app, "/api/tasks", huge).await;
    assert_eq!(
        error_of(status, &body, StatusCode::PAYLOAD_TOO_LARGE).0,
        "body_too_large"
    );

    let listed = client
        .list(&TaskFilter::default(), taskq::PageRequest::default())
        .await
        .expect("list");
    assert_eq!(listed.total, 0, "no bad request stored anything");
}

async fn list_filters_and_paginates_like_the_seeds(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(submit_echo(&app, &format!("t{i}"), json!({})).await["id"].clone());
    }
    let slow = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 1 } }),
    )
    .await
    .1;
    let (status, _) = post(
        &app,
        &format!("/api/tasks/{}/cancel", ids[0].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, page) = get(&app, "/api/tasks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 6);
    assert_eq!(page["page"], 1);
    assert_eq!(page["page_size"], 20);
    assert_eq!(page["total_pages"], 1);
    assert_eq!(page["tasks"][0]["id"], slow["id"], "newest first");

    let (_, page) = get(&app, "/api/tasks?page=2&page_size=2").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(page["total_pages"], 3);
    let (_, page) = get(&app, "/api/tasks?page_size=1000").await;
    assert_eq!(page["page_size"], 100, "page_size is capped at 100");

    let (_, page) = get(&app, "/api/tasks?state=CANCELLED").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["tasks"][0]["id"], ids[0]);
    let (_, page) = get(&app, "/api/tasks?state=pending&task_type=echo").await;
    assert_eq!(page["total"], 4);
    let (_, page) = get(&app, "/api/tasks?queue=slow").await;
    assert_eq!(page["total"], 1);
    let (_, page) = get(&app, "/api/tasks?created_after=2999-01-01T00:00:00Z").await;
    assert_eq!(page["total"], 0);
    // Bounds before 2038: MySQL stores TIMESTAMP, and a bound past its range
    // matches nothing there (a backend limit, not the route's).
    let (_, page) = get(
        &app,
        "/api/tasks?created_before=2037-01-01T00:00:00%2B00:00&created_after=2000-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(page["total"], 6);

    for (query, field) in [
        ("state=DONE", "state"),
        ("page=abc", "page"),
        ("page_size=-1", "page_size"),
        ("created_after=yesterday", "created_after"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = get(&app, &format!("/api/tasks?{query}")).await;
        let (code, details) = error_of(status, &body, StatusCode::BAD_REQUEST);
        assert_eq!(code, "bad_query");
        assert_eq!(details["field"], field, "{query}");
    }
}

async fn cancel_retry_and_reorder_follow_the_state_machine(backend: Arc<dyn Backend>) {
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

/// Claims `n` tasks of the default queue, returning their ids in claim order.
async fn claim_order(client: &Client, n: usize) -> Vec<String> {
    let claimed = client
        .backend()
        .claim(taskq::backend::ClaimRequest {
            queue: "default",
            limit: n,
            worker_id: "http-test",
            lease: Duration::from_secs(60),
            now: chrono::Utc::now(),
        })
        .await
        .expect("claim");
    claimed.iter().map(|t| t.id.to_string()).collect()
}

async fn delete(app: &Router, uri: &str) -> (StatusCode, Value) {
    call(app, Method::DELETE, uri, None, Some(TOKEN)).await
}

async fn delete_removes_one_ended_task(backend: Arc<dyn Backend>) {
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

async fn purge_deletes_ended_tasks_by_state_and_age(backend: Arc<dyn Backend>) {
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

async fn queues_show_depth_and_pause_resume_purge(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    submit_echo(&app, "a", json!({})).await;
    submit_echo(&app, "b", json!({})).await;
    submit_echo(&app, "later", json!({ "countdown": 3600 })).await;

    let (status, queues) = get(&app, "/api/queues").await;
    assert_eq!(status, StatusCode::OK);
    let default = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "default")
        .expect("default queue")
        .clone();
    assert_eq!(default["pending"], 2);
    assert_eq!(default["scheduled"], 1);
    assert_eq!(default["paused"], false);

    let (status, paused) = post(&app, "/api/queues/default/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paused["paused"], true);
    assert!(
        claim_order(&client, 5).await.is_empty(),
        "paused: no claims"
    );
    let (status, resumed) = post(&app, "/api/queues/default/resume", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resumed["paused"], false);

    let (status, purged) = post(&app, "/api/queues/default/purge", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(purged["cancelled"], 3);
    let (_, page) = get(&app, "/api/tasks?state=CANCELLED").await;
    assert_eq!(page["total"], 3);

    // A queue name past the limit is a bad argument.
    let long = "q".repeat(101);
    let (status, body) = post(&app, &format!("/api/queues/{long}/pause"), json!({})).await;
    assert_eq!(
        error_of(status, &body, StatusCode::BAD_REQUEST).0,
        "invalid_argument"
    );
}

async fn worker_progress_and_results_show_through_the_api(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let (stop, running) = spawn_worker(test_worker(&client));

    let done = submit_echo(
        &app,
        "ok",
        json!({ "params": { "text": "ok", "times": 2 } }),
    )
    .await;
    let long = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 400 } }),
    )
    .await
    .1;
    let done = wait_for(&app, done["id"].as_str().unwrap(), |t| {
        t["state"] == "FINISHED"
    })
    .await;
    assert_eq!(done["result"], "okok");
    assert_eq!(done["attempt"], 1);

    let long_id = long["id"].as_str().unwrap();
    let progressing = wait_for(&app, long_id, |t| {
        t["state"] == "RUNNING" && t["progress"]["fraction"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    assert!(
        progressing["progress"]["message"]
            .as_str()
            .unwrap()
            .starts_with("step")
    );
    let (status, _) = post(&app, &format!("/api/tasks/{long_id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let cancelled = wait_for(&app, long_id, |t| t["state"] == "CANCELLED").await;
    assert_eq!(cancelled["error"]["kind"], "cancelled");

    let (status, page) = get(&app, "/api/tasks?state=FINISHED").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 1);

    stop.shutdown();
    running.await.expect("join").expect("worker");
}

/// Polls `api/workers/{id}` until the worker matches.
async fn wait_worker(app: &Router, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        let (status, worker) = get(app, &format!("/api/workers/{id}")).await;
        if status == StatusCode::OK && done(&worker) {
            return worker;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("worker {id} never reached the expected state");
}

async fn workers_are_listed_paused_resumed_and_shut_down(backend: Arc<dyn Backend>) {
    let client = client_for(backend.clone());
    let app = app(&client);
    let (_, running) = spawn_worker(test_worker(&client).worker_id("http-worker"));

    let listed = wait_worker(&app, "http-worker", |w| w["state"] == "running").await;
    assert_eq!(
        listed["queues"],
        json!([{ "name": "default", "concurrency": 2 }, { "name": "slow", "concurrency": 2 }])
    );
    assert_eq!(listed["pid"], std::process::id());
    assert_eq!(listed["in_flight_count"], 0);
    assert!(listed["heartbeat_at"].is_string() && listed["started_at"].is_string());
    let (status, all) = get(&app, "/api/workers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(all[0]["id"], "http-worker");

    for path in [
        "/api/workers/nobody",
        "/api/workers/nobody/pause",
        "/api/workers/nobody/resume",
        "/api/workers/nobody/shutdown",
    ] {
        let (status, body) = if path.ends_with("nobody") {
            get(&app, path).await
        } else {
            post(&app, path, json!({})).await
        };
        let (code, details) = error_of(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(code, "not_found");
        assert_eq!(details["resource"], "worker", "{path}");
    }

    // Resume of a running worker, then pause twice: 409 each time it is
    // already headed there.
    let (status, body) = post(&app, "/api/workers/http-worker/resume", json!({})).await;
    let (code, details) = error_of(status, &body, StatusCode::CONFLICT);
    assert_eq!(
        (code.as_str(), &details["state"]),
        ("invalid_transition", &json!("running"))
    );
    let (status, body) = post(&app, "/api/workers/http-worker/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requested"], "paused");
    let (status, body) = post(&app, "/api/workers/http-worker/pause", json!({})).await;
    error_of(status, &body, StatusCode::CONFLICT);
    wait_worker(&app, "http-worker", |w| w["state"] == "paused").await;
    let task = submit_echo(&app, "held", json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, held) = get(
        &app,
        &format!("/api/tasks/{}", task["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(held["state"], "PENDING", "a paused worker claims nothing");

    let (status, body) = post(&app, "/api/workers/http-worker/resume", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requested"], "running");
    wait_for(&app, task["id"].as_str().unwrap(), |t| {
        t["state"] == "FINISHED"
    })
    .await;

    // Busy for a while (40 steps of 50 ms), so it stays `stopping` while
    // it finishes the task.
    let busy = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 40 } }),
    )
    .await
    .1;
    let busy = busy["id"].as_str().unwrap();
    wait_for(&app, busy, |t| t["state"] == "RUNNING").await;
    let (status, body) = post(&app, "/api/workers/http-worker/shutdown", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requested"], "stopping");
    let (status, body) = post(&app, "/api/workers/http-worker/shutdown", json!({})).await;
    let (_, details) = error_of(status, &body, StatusCode::CONFLICT);
    assert_eq!(details["state"], "stopping");
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("the worker stops")
        .expect("join")
        .expect("run");
    let (_, finished) = get(&app, &format!("/api/tasks/{busy}")).await;
    assert_eq!(
        finished["state"], "FINISHED",
        "graceful: the running task completed"
    );
    let (status, body) = get(&app, "/api/workers/http-worker").await;
    error_of(status, &body, StatusCode::NOT_FOUND);

    // A worker that stopped beating without deregistering: listed as
    // gone, and no control applies.
    let mut quiet = taskq_core::conformance::worker_info("quiet", chrono::Duration::seconds(-1));
    quiet.state = taskq::WorkerState::Paused;
    backend.register_worker(&quiet).await.expect("register");
    let (status, body) = get(&app, "/api/workers/quiet").await;
    assert_eq!((status, &body["state"]), (StatusCode::OK, &json!("gone")));
    for control in ["pause", "resume", "shutdown"] {
        let (status, body) = post(&app, &format!("/api/workers/quiet/{control}"), json!({})).await;
        let (_, details) = error_of(status, &body, StatusCode::CONFLICT);
        assert_eq!(details["state"], "gone");
    }
    let (status, _) = call(&app, Method::GET, "/api/workers", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, Method::POST, "/api/workers/quiet/pause", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn wait_for(app: &Router, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        let (status, task) = get(app, &format!("/api/tasks/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        if done(&task) {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("task {id} never reached the expected state");
}

async fn metrics_count_tasks_by_queue_and_state(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    submit_echo(&app, "a", json!({})).await;
    submit_echo(&app, "b", json!({})).await;
    submit_echo(&app, "q", json!({ "queue": "with\"quote" })).await;
    let (status, text) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().expect("text body");
    assert!(text.contains("# TYPE taskq_tasks gauge"), "{text}");
    assert!(
        text.contains("taskq_tasks{queue=\"default\",state=\"PENDING\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("taskq_tasks{queue=\"default\",state=\"FINISHED\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("taskq_queue_pending{queue=\"with\\\"quote\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("taskq_queue_paused{queue=\"default\"} 0"),
        "{text}"
    );
    let (status, _) = call(&app, Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The value of the exposition line starting with `series ` (labels
/// included), parsed.
fn sample_value(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|line| {
            line.strip_prefix(series)
                .is_some_and(|r| r.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("no `{series}` in:\n{text}"));
    line[series.len()..].trim().parse().expect("a number")
}

async fn metrics_show_attempts_and_run_times_as_tasks_run(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let finished = "{queue=\"default\",state=\"FINISHED\"}";
    let slow_finished = "{queue=\"slow\",state=\"FINISHED\"}";
    let slow_cancelled = "{queue=\"slow\",state=\"CANCELLED\"}";
    let echo = submit_echo(&app, "a", json!({})).await;
    let (_, text) = get(&app, "/metrics").await;
    let text = text.as_str().expect("text");
    assert!(
        text.contains("# TYPE taskq_recent_task_run_seconds summary"),
        "{text}"
    );
    assert_eq!(
        sample_value(text, &format!("taskq_recent_task_attempts_count{finished}")),
        0.0
    );
    assert_eq!(
        sample_value(
            text,
            &format!("taskq_recent_task_run_seconds_count{finished}")
        ),
        0.0
    );

    let (stop, running) = spawn_worker(test_worker(&client));
    let slow = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 4 } }),
    )
    .await
    .1;
    let pending_slow = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 1 }, "countdown": 3600 }),
    )
    .await
    .1;
    post(
        &app,
        &format!("/api/tasks/{}/cancel", pending_slow["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    wait_for(&app, echo["id"].as_str().unwrap(), |t| {
        t["state"] == "FINISHED"
    })
    .await;
    wait_for(&app, slow["id"].as_str().unwrap(), |t| {
        t["state"] == "FINISHED"
    })
    .await;
    stop.shutdown();
    running.await.expect("join").expect("worker");

    let (_, text) = get(&app, "/metrics").await;
    let text = text.as_str().expect("text");
    for (series, want) in [
        (format!("taskq_recent_task_attempts_sum{finished}"), 1.0),
        (format!("taskq_recent_task_attempts_count{finished}"), 1.0),
        (
            format!("taskq_recent_task_run_seconds_count{finished}"),
            1.0,
        ),
        (
            format!("taskq_recent_task_run_seconds_count{slow_finished}"),
            1.0,
        ),
        // Cancelled before it ran: no attempt, no run time.
        (
            format!("taskq_recent_task_attempts_count{slow_cancelled}"),
            1.0,
        ),
        (
            format!("taskq_recent_task_attempts_sum{slow_cancelled}"),
            0.0,
        ),
        (
            format!("taskq_recent_task_run_seconds_count{slow_cancelled}"),
            0.0,
        ),
    ] {
        assert_eq!(sample_value(text, &series), want, "{series}\n{text}");
    }
    // Four steps of 50 ms: the run took at least 0.2 s.
    let slow_run = sample_value(
        text,
        &format!("taskq_recent_task_run_seconds_sum{slow_finished}"),
    );
    assert!((0.2..60.0).contains(&slow_run), "{slow_run}");
    let median = sample_value(
        text,
        "taskq_recent_task_run_seconds{queue=\"slow\",state=\"FINISHED\",quantile=\"0.5\"}",
    );
    assert_eq!(median, slow_run, "one sample: every quantile is it");
}

async fn openapi_document_describes_every_route(backend: Arc<dyn Backend>) {
    let app = app(&client_for(backend));
    // Served without a token: it holds no task data.
    let (status, doc) = call(&app, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    for path in [
        "/api/task-types",
        "/api/task-types/{name}",
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/tasks/{id}/cancel",
        "/api/tasks/{id}/retry",
        "/api/tasks/{id}/reorder",
        "/api/tasks/purge",
        "/api/queues",
        "/api/queues/{queue}/pause",
        "/api/queues/{queue}/resume",
        "/api/queues/{queue}/purge",
        "/metrics",
        "/api/schedules",
        "/api/schedules/{name}",
        "/api/schedules/{name}/enable",
        "/api/schedules/{name}/disable",
        "/api/schedules/{name}/run",
        "/api/workers",
        "/api/workers/{id}",
        "/api/workers/{id}/pause",
        "/api/workers/{id}/resume",
        "/api/workers/{id}/shutdown",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(
        doc["paths"]["/api/tasks/{id}"]["delete"]["responses"]["204"].is_object(),
        "DELETE api/tasks/{{id}} is documented"
    );
    for schema in [
        "TaskRecord",
        "ErrorBody",
        "SubmitRequest",
        "TaskList",
        "WorkerInfo",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

async fn auth_is_required_and_errors_keep_their_shape(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    for (method, uri) in [
        (Method::GET, "/api/tasks"),
        (Method::POST, "/api/tasks"),
        (Method::GET, "/api/task-types"),
        (Method::POST, "/api/queues/default/pause"),
        (Method::POST, "/api/tasks/purge"),
    ] {
        for token in [None, Some("wrong"), Some("")] {
            let (status, body) = call(&app, method.clone(), uri, None, token).await;
            let (code, _) = error_of(status, &body, StatusCode::UNAUTHORIZED);
            assert_eq!(code, "unauthorized");
        }
    }

    // A host check, and the explicit open mode.
    let checked = http::router(
        client.clone(),
        Auth::check(|request| request.headers().contains_key("x-internal")),
    );
    let (status, _) = call(&checked, Method::GET, "/api/tasks", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let request = Request::get("/api/tasks")
        .header("x-internal", "1")
        .body(Body::empty())
        .unwrap();
    let response = checked.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let open = http::router(client.clone(), Auth::none_i_understand());
    let (status, _) = call(&open, Method::GET, "/api/tasks", None, None).await;
    assert_eq!(status, StatusCode::OK);
    // An empty bearer token refuses everything rather than nothing.
    let empty = http::router(client.clone(), Auth::bearer(""));
    let (status, _) = call(&empty, Method::GET, "/api/tasks", None, Some("")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Unknown routes and methods answer in the same JSON shape.
    let (status, body) = get(&app, "/api/nothing-here").await;
    assert_eq!(
        error_of(status, &body, StatusCode::NOT_FOUND).0,
        "not_found"
    );
    let (status, body) = call(&app, Method::DELETE, "/api/queues", None, Some(TOKEN)).await;
    assert_eq!(
        error_of(status, &body, StatusCode::METHOD_NOT_ALLOWED).0,
        "method_not_allowed"
    );

    // A smaller configured limit applies to every body.
    let small = http::router_with(
        client.clone(),
        Auth::bearer(TOKEN),
        HttpConfig { body_limit: 64 },
    );
    let (status, body) = post(
        &small,
        "/api/tasks/purge",
        json!({ "states": ["FINISHED"], "older_than": 1, "pad": "x".repeat(100) }),
    )
    .await;
    error_of(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
}

/// Junk of every kind into every write route: always a 4xx JSON error,
/// never a panic or a 5xx.
async fn junk_input_never_breaks_a_route(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let id = submit_echo(&app, "x", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bodies = [
        "",
        "null",
        "[]",
        "\"text\"",
        "1e999",
        "{\"task_type\":null}",
        "{\"task_type\":\"echo\",\"params\":{\"text\":\"\\ud800\"}}",
        "{\"task_type\":\"echo\",\"params\":[1,2,3]}",
        "{\"to\":{\"nested\":true}}",
        "{\"states\":\"FINISHED\"}",
        "{\"older_than\":-1e308}",
        "\u{0}\u{1}",
        "{\"a\":",
    ];
    let uris = [
        "/api/tasks".to_owned(),
        "/api/tasks/purge".to_owned(),
        format!("/api/tasks/{id}/reorder"),
    ];
    for uri in &uris {
        for body in bodies {
            let (status, response) = post_raw(&app, uri, body).await;
            assert!(
                status.is_client_error(),
                "{uri} {body:?}: {status} {response}"
            );
            assert!(response["error"]["code"].is_string(), "{uri} {body:?}");
        }
    }
    for uri in [
        "/api/tasks/%00",
        "/api/tasks/%E2%80%AE",
        "/api/task-types/%FF",
        "/api/tasks?state=%FF",
        "/api/tasks?page=99999999999999999999999",
        "/api/tasks?page=18446744073709551615&page_size=100",
    ] {
        let (status, response) = get(&app, uri).await;
        assert!(status.as_u16() < 500, "{uri}: {status} {response}");
        if !status.is_success() {
            assert!(response["error"]["code"].is_string(), "{uri}: {response}");
        }
    }
}

async fn dashboard_page_and_assets_are_served_without_data(backend: Arc<dyn Backend>) {
    let app = app(&client_for(backend));
    for (uri, content_type, marker) in [
        ("/dashboard", "text/html", "<script src=\"dashboard.js\""),
        ("/dashboard.js", "text/javascript", "textContent"),
        ("/dashboard.css", "text/css", "--finished: #28a745"),
    ] {
        // No token: the page asks for it and holds no task data itself.
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let headers = response.headers().clone();
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(content_type)
        );
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains(marker), "{uri} contains {marker}");
    }
    // The script never parses data as HTML.
    let request = Request::get("/dashboard.js").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let script = response.into_body().collect().await.unwrap().to_bytes();
    let script = String::from_utf8(script.to_vec()).unwrap();
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.contains(sink), "dashboard.js uses {sink}");
    }
}

async fn schedules_are_created_steered_and_deleted(backend: Arc<dyn Backend>) {
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

    // Bad definitions change nothing and say what is wrong.
    for (bad, field) in [
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "cron" }),
            Some("expression"),
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "interval", "every": -1 }),
            Some("every"),
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "interval", "every": 5, "at": "2030-01-01T00:00:00Z" }),
            Some("at"),
        ),
        (
            json!({ "task_type": "echo", "params": { "text": "s" }, "kind": "interval", "every": 5 }),
            Some("name"),
        ),
        (
            json!({ "name": "x", "task_type": "nope", "kind": "interval", "every": 5 }),
            Some("task_type"),
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": 1 }, "kind": "interval", "every": 5 }),
            Some("params.text"),
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "cron", "expression": "61 * * * *" }),
            None,
        ),
        (
            json!({ "name": "x", "task_type": "echo", "params": { "text": "s" }, "kind": "cron", "expression": "* * * * *", "time_zone": "Mars/Olympus" }),
            None,
        ),
        (
            json!({ "name": "x", "task_type": "echo", "kind": "weekly" }),
            Some("kind"),
        ),
    ] {
        let (status, body) = post(&app, "/api/schedules", bad.clone()).await;
        let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        if let Some(field) = field {
            assert_eq!(details["field"], field, "{bad} → {body}");
        }
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
async fn an_explicit_registry_limits_the_task_types(backend: Arc<dyn Backend>) {
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

/// `http_suite!(#[attr]… name, factory)`: every route test on one backend;
/// the attributes (an `ignore` when the server is not configured) go on
/// each test.
macro_rules! http_suite {
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        mod $name {
            use super::*;
            http_suite!(@tests [$(#[$attr])*] $factory;
                task_types_are_listed_with_their_schema,
                submit_stores_the_task_with_overrides,
                submit_errors_name_the_problem_and_store_nothing,
                list_filters_and_paginates_like_the_seeds,
                cancel_retry_and_reorder_follow_the_state_machine,
                purge_deletes_ended_tasks_by_state_and_age,
                delete_removes_one_ended_task,
                queues_show_depth_and_pause_resume_purge,
                worker_progress_and_results_show_through_the_api,
                workers_are_listed_paused_resumed_and_shut_down,
                metrics_count_tasks_by_queue_and_state,
                metrics_show_attempts_and_run_times_as_tasks_run,
                openapi_document_describes_every_route,
                auth_is_required_and_errors_keep_their_shape,
                junk_input_never_breaks_a_route,
                dashboard_page_and_assets_are_served_without_data,
                schedules_are_created_steered_and_deleted,
                an_explicit_registry_limits_the_task_types);
        }
    };
    (@tests [$($attr:tt)*] $factory:expr;) => {};
    // One test per step: the attributes repeat inside each test.
    (@tests [$($attr:tt)*] $factory:expr; $test:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $test() {
            let factory = $factory;
            super::super::$test(factory().await as Arc<dyn Backend>).await;
        }
        http_suite!(@tests [$($attr)*] $factory; $($rest),*);
    };
}

/// `cargo test http_routes::memory::` (or `sqlite`, `redis`, …) runs one
/// backend.
mod http_routes {
    use super::*;

    http_suite!(memory, common::memory);

    #[cfg(feature = "sqlite")]
    http_suite!(sqlite, || common::sqlite("taskq-http-test"));

    #[cfg(feature = "redis")]
    http_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        || common::redis("taskq-http-test")
    );

    #[cfg(feature = "postgres")]
    http_suite!(
        #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
        postgres,
        common::postgres
    );

    #[cfg(feature = "mysql")]
    http_suite!(
        #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
        mysql,
        common::mysql
    );
}
