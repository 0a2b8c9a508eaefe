//! Limits over the API: queue concurrency and rate limits, task type
//! and key limits (set, shown, lifted, and refused when bad).

use super::*;

/// A body PUT to a limit route, and the refusal it must get: the status,
/// the error code and the field named.
type Refusal = (Value, StatusCode, &'static str, &'static str);

/// The bodies every `{ "limit": n }` route refuses.
fn bad_limit_bodies() -> Vec<Refusal> {
    vec![
        (
            json!({ "limit": 0 }),
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "limit",
        ),
        (
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "limit",
        ),
        (
            json!({ "limit": -1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "limit",
        ),
    ]
}

/// Each body PUT to `uri` is refused as its [`Refusal`] says.
async fn assert_refused(app: &Router, uri: &str, refusals: Vec<Refusal>) {
    for (body, expected, code, field) in refusals {
        let (status, error) = put(app, uri, body.clone()).await;
        let (got, details) = error_of(status, &error, expected);
        assert_eq!(
            (got.as_str(), &details["field"]),
            (code, &json!(field)),
            "{body}: {error}"
        );
    }
}

/// Three echo tasks pending, then `{ "limit": 2 }` PUT to `uri`: checks
/// that two are claimed, then none, and returns the PUT's answer.
async fn three_limited_to_two(app: &Router, client: &Client, uri: &str) -> Value {
    for text in ["a", "b", "c"] {
        submit_echo(app, text, json!({})).await;
    }
    let (status, limited) = put(app, uri, json!({ "limit": 2 })).await;
    assert_eq!(status, StatusCode::OK, "{limited}");
    assert_eq!(claim_order(client, 5).await.len(), 2, "capped at the limit");
    assert!(claim_order(client, 5).await.is_empty(), "full");
    limited
}

/// The `default` queue's row of `GET /api/queues`.
async fn default_queue(app: &Router) -> Value {
    let (_, queues) = get(app, "/api/queues").await;
    queues
        .as_array()
        .expect("a list of queues")
        .iter()
        .find(|q| q["queue"] == "default")
        .expect("default queue")
        .clone()
}

pub(super) async fn queue_limit_is_set_shown_lifted_and_checked(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let uri = "/api/queues/default/limit";
    let limited = three_limited_to_two(&app, &client, uri).await;
    assert_eq!(
        (limited["queue"].clone(), limited["limit"].clone()),
        (json!("default"), json!(2))
    );
    let default = default_queue(&app).await;
    assert_eq!(
        (default["running"].clone(), default["limit"].clone()),
        (json!(2), json!(2))
    );

    // Bad input: a 4xx naming the problem, and the limit stays.
    let mut refusals = bad_limit_bodies();
    refusals.extend([
        (
            json!({ "limit": "2" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "limit",
        ),
        (
            json!({ "limit": 2, "extra": 1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "extra",
        ),
    ]);
    assert_refused(&app, uri, refusals).await;
    let long = "q".repeat(101);
    let (status, body) = put(
        &app,
        &format!("/api/queues/{long}/limit"),
        json!({ "limit": 1 }),
    )
    .await;
    assert_eq!(bad_field(status, &body, "queue"), "invalid_name");
    let (_, queues) = get(&app, "/api/queues").await;
    assert!(
        queues
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["queue"] == "default" && q["limit"] == 2),
        "{queues}"
    );

    let (status, lifted) = put(&app, "/api/queues/default/limit", json!({ "limit": null })).await;
    assert_eq!(status, StatusCode::OK, "{lifted}");
    assert_eq!(lifted["limit"], Value::Null);
    assert_eq!(claim_order(&client, 5).await.len(), 1, "lifted");
}

pub(super) async fn limit_rate_is_set_shown_lifted_and_checked(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    for text in ["a", "b", "c", "d"] {
        submit_echo(&app, text, json!({})).await;
    }
    let rate = json!({ "starts": 2, "period_ms": 60_000 });
    let (status, limited) = put(
        &app,
        "/api/queues/default/rate-limit",
        json!({ "rate_limit": rate }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{limited}");
    assert_eq!(limited["rate_limit"], rate);
    assert_eq!(limited["rate_held_until"], Value::Null, "a full bucket");
    assert_eq!(claim_order(&client, 5).await.len(), 2, "the bucket's two");
    assert!(claim_order(&client, 5).await.is_empty(), "held back");
    let default = default_queue(&app).await;
    assert_eq!(default["rate_limit"], rate);
    assert_eq!(default["pending"], 2);
    let held: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(default["rate_held_until"].clone()).expect("a hold time");
    assert!(held > chrono::Utc::now(), "{default}");
    let (status, metrics) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().expect("text body");
    for line in [
        "taskq_queue_rate_limit_starts{queue=\"default\"} 2",
        "taskq_queue_rate_limit_period_seconds{queue=\"default\"} 60",
    ] {
        assert!(metrics.contains(line), "{line}: {metrics}");
    }
    let held_for: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("taskq_queue_rate_held_seconds{queue=\"default\"} "))
        .and_then(|v| v.parse().ok())
        .expect("the hold in the metrics");
    assert!(held_for > 0.0 && held_for <= 30.0, "{held_for}");

    // Bad input: a 4xx naming the field, and the rate limit stays.
    let refusals = vec![
        (
            json!({ "rate_limit": { "starts": 0, "period_ms": 1000 } }),
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "rate_limit.starts",
        ),
        (
            json!({ "rate_limit": { "starts": 5, "period_ms": 0 } }),
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "rate_limit.period_ms",
        ),
        (
            json!({ "rate_limit": { "starts": 5, "period_ms": 40_000_000_000u64 } }),
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "rate_limit.period_ms",
        ),
        (
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "rate_limit",
        ),
        (
            json!({ "rate_limit": { "starts": -1, "period_ms": 1000 } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "rate_limit.starts",
        ),
        (
            json!({ "rate_limit": { "starts": 1 } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "rate_limit",
        ),
        (
            json!({ "rate_limit": 3 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "rate_limit",
        ),
    ];
    assert_refused(&app, "/api/queues/default/rate-limit", refusals).await;
    let long = "q".repeat(101);
    let (status, body) = put(
        &app,
        &format!("/api/queues/{long}/rate-limit"),
        json!({ "rate_limit": rate }),
    )
    .await;
    assert_eq!(bad_field(status, &body, "queue"), "invalid_name");
    let (_, queues) = get(&app, "/api/queues").await;
    assert!(
        queues
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["queue"] == "default" && q["rate_limit"] == rate),
        "kept: {queues}"
    );

    let (status, lifted) = put(
        &app,
        "/api/queues/default/rate-limit",
        json!({ "rate_limit": null }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{lifted}");
    assert_eq!(lifted["rate_limit"], Value::Null);
    assert_eq!(claim_order(&client, 5).await.len(), 2, "lifted");
}

pub(super) async fn limit_type_is_set_shown_lifted_and_checked(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let uri = "/api/task-types/echo/limit";
    let limited = three_limited_to_two(&app, &client, uri).await;
    assert_eq!(
        (limited["name"].clone(), limited["limit"].clone()),
        (json!("echo"), json!(2))
    );
    let (_, echo) = get(&app, "/api/task-types/echo").await;
    assert_eq!(
        (echo["running"].clone(), echo["limit"].clone()),
        (json!(2), json!(2))
    );
    let (_, types) = get(&app, "/api/task-types").await;
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "echo" && t["limit"] == 2 && t["running"] == 2),
        "{types}"
    );
    let (_, metrics) = get(&app, "/metrics").await;
    let metrics = metrics.as_str().expect("text body");
    assert!(
        metrics.contains("taskq_task_type_limit{task_type=\"echo\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("taskq_task_type_running{task_type=\"echo\"} 2"),
        "{metrics}"
    );

    // Bad input: a 4xx naming the problem, and the limit stays.
    assert_refused(&app, uri, bad_limit_bodies()).await;
    let (status, error) = put(
        &app,
        "/api/task-types/no_such_task/limit",
        json!({ "limit": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    let stored = client.type_limits().await.unwrap();
    assert_eq!(stored.len(), 1, "only echo's: {stored:?}");
    assert_eq!(stored[0].limit, Some(2), "kept");

    let (status, lifted) = put(&app, "/api/task-types/echo/limit", json!({ "limit": null })).await;
    assert_eq!(status, StatusCode::OK, "{lifted}");
    assert_eq!(lifted["limit"], Value::Null);
    assert_eq!(claim_order(&client, 5).await.len(), 1, "lifted");
}

pub(super) async fn limit_key_is_set_by_submit_and_checked(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    for key in ["acme", "acme", "globex"] {
        let record = submit_echo(&app, key, json!({ "concurrency_key": key })).await;
        assert_eq!(record["concurrency_key"], key, "{record}");
    }
    let (status, limited) = put(
        &app,
        "/api/task-types/echo/key-limit",
        json!({ "limit": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{limited}");
    assert_eq!(
        (limited["key_limit"].clone(), limited["limit"].clone()),
        (json!(1), Value::Null)
    );
    assert_eq!(claim_order(&client, 5).await.len(), 2, "one per key");
    assert!(claim_order(&client, 5).await.is_empty(), "both keys full");
    // The running count per key: how many keys, the busiest first.
    let (_, echo) = get(&app, "/api/task-types/echo").await;
    assert_eq!(
        (&echo["running"], &echo["running_keys"], &echo["top_keys"]),
        (
            &json!(2),
            &json!(2),
            &json!([{ "key": "acme", "running": 1 }, { "key": "globex", "running": 1 }])
        ),
        "{echo}"
    );

    // Bad input: a 4xx naming the field, and nothing stored.
    let (_, before) = get(&app, "/api/tasks").await;
    for key in [json!(""), json!("k".repeat(256)), json!(7)] {
        let (status, error) = post(
            &app,
            "/api/tasks",
            json!({ "task_type": "echo", "params": { "text": "x" }, "concurrency_key": key }),
        )
        .await;
        assert!(status.is_client_error(), "{key}: {status} {error}");
        assert!(
            error["error"]["details"]["field"] == "concurrency_key",
            "{key}: {error}"
        );
    }
    assert_refused(&app, "/api/task-types/echo/key-limit", bad_limit_bodies()).await;
    let (_, after) = get(&app, "/api/tasks").await;
    assert_eq!(before["total"], after["total"], "nothing stored");
    let stored = client.type_limits().await.unwrap();
    assert_eq!(stored[0].key_limit, Some(1), "kept");
}
