//! Task type and key rate limits over REST: set, shown (with the hold and
//! the held keys), lifted, and bad input refused with a 4xx naming the
//! field while the stored limit stays.

use super::*;

pub(super) async fn limit_rate_type_is_set_shown_lifted_and_checked(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    for text in ["a", "b", "c"] {
        submit_echo(&app, text, json!({ "concurrency_key": "acme" })).await;
    }
    let minute = json!({ "starts": 2, "period_ms": 60000 });
    let (status, rated) = put(
        &app,
        "/api/task-types/echo/rate-limit",
        json!({ "rate_limit": minute }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rated}");
    assert_eq!(rated["rate_limit"], minute);
    assert_eq!(rated["rate_held_until"], Value::Null, "a full bucket");
    assert_eq!(claim_order(&client, 5).await.len(), 2, "the burst");
    assert!(claim_order(&client, 5).await.is_empty(), "held");
    let (_, echo) = get(&app, "/api/task-types/echo").await;
    assert!(echo["rate_held_until"].is_string(), "{echo}");
    let (_, metrics) = get(&app, "/metrics").await;
    let metrics = metrics.as_str().expect("text body");
    assert!(
        metrics.contains("taskq_task_type_rate_limit_starts{task_type=\"echo\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("taskq_task_type_rate_held_seconds{task_type=\"echo\"}"),
        "{metrics}"
    );

    // Bad input: a 4xx naming the field, and the limit stays.
    for (uri, body, expected, code, field) in [
        (
            "/api/task-types/echo/rate-limit",
            json!({ "rate_limit": { "starts": 0, "period_ms": 1000 } }),
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "rate_limit.starts",
        ),
        (
            "/api/task-types/echo/key-rate-limit",
            json!({ "rate_limit": { "starts": 1, "period_ms": 0 } }),
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "rate_limit.period_ms",
        ),
        (
            "/api/task-types/echo/rate-limit",
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "rate_limit",
        ),
    ] {
        let (status, error) = put(&app, uri, body.clone()).await;
        let (got, details) = error_of(status, &error, expected);
        assert_eq!(
            (got.as_str(), &details["field"]),
            (code, &json!(field)),
            "{body}: {error}"
        );
    }
    let (status, error) = put(
        &app,
        "/api/task-types/no_such_task/rate-limit",
        json!({ "rate_limit": minute }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    let stored = client.type_limits().await.unwrap();
    assert_eq!(stored.len(), 1, "only echo's: {stored:?}");
    assert_eq!(
        (
            stored[0].rate_limit.map(|r| r.starts),
            stored[0].key_rate_limit
        ),
        (Some(2), None),
        "kept"
    );

    // The key rate limit instead: acme's bucket is its own.
    let (status, _) = put(
        &app,
        "/api/task-types/echo/rate-limit",
        json!({ "rate_limit": null }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, keyed) = put(
        &app,
        "/api/task-types/echo/key-rate-limit",
        json!({ "rate_limit": { "starts": 1, "period_ms": 60000 } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{keyed}");
    assert_eq!(keyed["rate_limit"], Value::Null);
    assert_eq!(keyed["key_rate_limit"]["starts"], 1);
    assert_eq!(claim_order(&client, 5).await.len(), 1, "acme's one start");
    let (_, echo) = get(&app, "/api/task-types/echo").await;
    assert_eq!(echo["held_keys"], 1, "{echo}");
    let (status, lifted) = put(
        &app,
        "/api/task-types/echo/key-rate-limit",
        json!({ "rate_limit": null }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{lifted}");
    assert_eq!(lifted["key_rate_limit"], Value::Null);
    assert!(
        client.type_limits().await.unwrap().is_empty(),
        "nothing left"
    );
}
