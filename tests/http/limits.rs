//! Limits over the API: queue concurrency and rate limits, task type
//! and key limits (set, shown, lifted, and refused when bad).

use super::*;

pub(super) async fn queue_limit_is_set_shown_lifted_and_checked(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    for text in ["a", "b", "c"] {
        submit_echo(&app, text, json!({})).await;
    }
    let (status, limited) = put(&app, "/api/queues/default/limit", json!({ "limit": 2 })).await;
    assert_eq!(status, StatusCode::OK, "{limited}");
    assert_eq!(
        (limited["queue"].clone(), limited["limit"].clone()),
        (json!("default"), json!(2))
    );
    assert_eq!(
        claim_order(&client, 5).await.len(),
        2,
        "capped at the limit"
    );
    assert!(claim_order(&client, 5).await.is_empty(), "full");
    let (_, queues) = get(&app, "/api/queues").await;
    let default = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "default")
        .expect("default queue")
        .clone();
    assert_eq!(
        (default["running"].clone(), default["limit"].clone()),
        (json!(2), json!(2))
    );

    // Bad input: a 4xx naming the problem, and the limit stays.
    for (body, expected, code, field) in [
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
    ] {
        let (status, error) = put(&app, "/api/queues/default/limit", body.clone()).await;
        let (got, details) = error_of(status, &error, expected);
        assert_eq!(
            (got.as_str(), &details["field"]),
            (code, &json!(field)),
            "{body}: {error}"
        );
    }
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
    let (_, queues) = get(&app, "/api/queues").await;
    let default = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "default")
        .expect("default queue")
        .clone();
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
    for (body, expected, code, field) in [
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
    ] {
        let (status, error) = put(&app, "/api/queues/default/rate-limit", body.clone()).await;
        let (got, details) = error_of(status, &error, expected);
        assert_eq!(
            (got.as_str(), &details["field"]),
            (code, &json!(field)),
            "{body}: {error}"
        );
    }
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
    for text in ["a", "b", "c"] {
        submit_echo(&app, text, json!({})).await;
    }
    let (status, limited) = put(&app, "/api/task-types/echo/limit", json!({ "limit": 2 })).await;
    assert_eq!(status, StatusCode::OK, "{limited}");
    assert_eq!(
        (limited["name"].clone(), limited["limit"].clone()),
        (json!("echo"), json!(2))
    );
    assert_eq!(
        claim_order(&client, 5).await.len(),
        2,
        "capped at the limit"
    );
    assert!(claim_order(&client, 5).await.is_empty(), "full");
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
    for (body, expected, code, field) in [
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
    ] {
        let (status, error) = put(&app, "/api/task-types/echo/limit", body.clone()).await;
        let (got, details) = error_of(status, &error, expected);
        assert_eq!(
            (got.as_str(), &details["field"]),
            (code, &json!(field)),
            "{body}: {error}"
        );
    }
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
    let (status, error) = put(
        &app,
        "/api/task-types/echo/key-limit",
        json!({ "limit": 0 }),
    )
    .await;
    let (code, details) = error_of(status, &error, StatusCode::BAD_REQUEST);
    assert_eq!(
        (code.as_str(), &details["field"]),
        ("invalid_argument", &json!("limit"))
    );
    let (_, after) = get(&app, "/api/tasks").await;
    assert_eq!(before["total"], after["total"], "nothing stored");
    let stored = client.type_limits().await.unwrap();
    assert_eq!(stored[0].key_limit, Some(1), "kept");
}
