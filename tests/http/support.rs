//! The test tasks, the router and request helpers the route tests share.

use super::*;

pub(super) const TOKEN: &str = "test-token";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Echo {
    /// What to echo.
    pub(super) text: String,
    #[serde(default)]
    pub(super) times: u32,
}

/// Echoes its text (see [`Echo`]).
#[long_task(name = "echo", retries = 0)]
pub(super) async fn echo_task(p: Echo) -> Result<String, TaskError> {
    Ok(p.text.repeat(p.times.max(1) as usize))
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Slow {
    pub(super) steps: u32,
}

/// Works in steps, reporting progress, until done or cancelled.
#[long_task(name = "slow", queue = "slow", retries = 0)]
pub(super) async fn slow_task(ctx: TaskContext, p: Slow) -> Result<u32, TaskError> {
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

/// Takes no params: `()` (its schema is `null`).
#[long_task(name = "tick", retries = 0)]
pub(super) async fn tick_task(unit: ()) -> Result<(), TaskError> {
    Ok(unit)
}

pub(super) fn client_for(backend: Arc<dyn Backend>) -> Client {
    Client::new(backend).expect("registry")
}

/// A worker for both test queues, with fast timings.
pub(super) fn test_worker(client: &Client) -> taskq::WorkerBuilder {
    Worker::builder(client)
        .queue("default", 2)
        .queue("slow", 2)
        .poll_interval(Duration::from_millis(20))
        .heartbeat_interval(Duration::from_millis(50))
        .cancel_grace(Duration::from_secs(2))
}

pub(super) type WorkerRun = tokio::task::JoinHandle<Result<(), taskq::Error>>;

/// Runs the worker in the background: its shutdown handle and its task.
pub(super) fn spawn_worker(builder: taskq::WorkerBuilder) -> (taskq::ShutdownHandle, WorkerRun) {
    let worker = builder.build().expect("worker");
    (worker.shutdown_handle(), tokio::spawn(worker.run()))
}

pub(super) fn app(client: &Client) -> Router {
    http::router(client.clone(), Auth::bearer(TOKEN))
}

/// The routes over a client with other payload limits.
pub(super) fn app_with_limits(client: &Client, limits: taskq::PayloadLimits) -> Router {
    http::router(
        client.clone().with_payload_limits(limits),
        Auth::bearer(TOKEN),
    )
}

/// One request through the router; the answer's status and JSON body
/// (`Value::String` for a non-JSON body).
pub(super) async fn call(
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
        // What the dashboard and every script sends: a write without a
        // body needs it (CSRF), a read takes it.
        None => {
            request = request.header(http::REQUESTED_WITH, "taskq-test");
            Body::empty()
        }
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

/// One request with this `Content-Type` (or none) and raw body, with the
/// token and no other header; the answer's status and JSON body.
pub(super) async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    send_with(
        app,
        method,
        uri,
        content_type.map(|t| ("content-type", t)),
        body,
    )
    .await
}

/// [`send`] with one header of the caller's choice (or none).
pub(super) async fn send_with(
    app: &Router,
    method: Method,
    uri: &str,
    header: Option<(&str, &str)>,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let request = request.body(Body::from(body.to_owned())).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
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

pub(super) async fn put(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    let body = Body::from(body.to_string());
    call(app, Method::PUT, uri, Some(body), Some(TOKEN)).await
}

/// Asserts a `400` whose `details.field` is `field`; returns the code.
#[track_caller]
pub(super) fn bad_field(status: StatusCode, body: &Value, field: &str) -> String {
    let (code, details) = error_of(status, body, StatusCode::BAD_REQUEST);
    assert_eq!(details["field"], field, "{body}");
    code
}

/// How many tasks the backend holds.
pub(super) async fn stored_tasks(client: &Client) -> u64 {
    client
        .list(&TaskFilter::default(), taskq::PageRequest::default())
        .await
        .expect("list")
        .total
}

pub(super) async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    call(app, Method::GET, uri, None, Some(TOKEN)).await
}

pub(super) async fn post(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    let body = Body::from(body.to_string());
    call(app, Method::POST, uri, Some(body), Some(TOKEN)).await
}

pub(super) async fn post_raw(app: &Router, uri: &str, body: &str) -> (StatusCode, Value) {
    let body = Body::from(body.to_owned());
    call(app, Method::POST, uri, Some(body), Some(TOKEN)).await
}

/// Asserts the JSON error shape and returns `(code, details)`.
#[track_caller]
pub(super) fn error_of(status: StatusCode, body: &Value, expected: StatusCode) -> (String, Value) {
    assert_eq!(status, expected, "{body}");
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error["details"].is_object(), "{body}");
    (
        error["code"].as_str().expect("code").to_owned(),
        error["details"].clone(),
    )
}

pub(super) async fn submit_echo(app: &Router, text: &str, extra: Value) -> Value {
    let mut body = json!({ "task_type": "echo", "params": { "text": text } });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let (status, record) = post(app, "/api/tasks", body).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    record
}

/// Claims `n` tasks of the default queue, returning their ids in claim order.
pub(super) async fn claim_order(client: &Client, n: usize) -> Vec<String> {
    let claimed = client
        .backend()
        .claim(taskq::backend::ClaimRequest {
            queue: "default",
            limit: n,
            worker_id: "http-test",
            lease: Duration::from_secs(60),
            now: chrono::Utc::now(),
            task_types: None,
        })
        .await
        .expect("claim");
    claimed.iter().map(|t| t.id.to_string()).collect()
}

pub(super) async fn delete(app: &Router, uri: &str) -> (StatusCode, Value) {
    call(app, Method::DELETE, uri, None, Some(TOKEN)).await
}

/// Polls `api/workers/{id}` until the worker matches.
pub(super) async fn wait_worker(app: &Router, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        let (status, worker) = get(app, &format!("/api/workers/{id}")).await;
        if status == StatusCode::OK && done(&worker) {
            return worker;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("worker {id} never reached the expected state");
}

pub(super) async fn wait_for(app: &Router, id: &str, done: impl Fn(&Value) -> bool) -> Value {
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

/// The value of the exposition line starting with `series ` (labels
/// included), parsed.
pub(super) fn sample_value(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|line| {
            line.strip_prefix(series)
                .is_some_and(|r| r.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("no `{series}` in:\n{text}"));
    line[series.len()..].trim().parse().expect("a number")
}
