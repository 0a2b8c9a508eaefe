//! Task types, submitting and listing.

use super::*;

pub(super) async fn task_types_are_listed_with_their_schema(backend: Arc<dyn Backend>) {
    let app = app(&client_for(backend));
    let (status, types) = get(&app, "/api/task-types").await;
    assert_eq!(status, StatusCode::OK);
    let echo = types
        .as_array()
        .expect("array")
        .iter()
        .find(|t| t["name"] == "echo")
        .expect("echo is registered");
    // The doc comment's link syntax is for rustdoc, not API readers.
    assert_eq!(echo["description"], "Echoes its text (see `Echo`).");
    assert_eq!(echo["blocking"], false);
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

pub(super) async fn submit_stores_the_task_with_overrides(backend: Arc<dyn Backend>) {
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

pub(super) async fn submit_errors_name_the_problem_and_store_nothing(backend: Arc<dyn Backend>) {
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

    // Fields that do not go together (422); values out of range (400, see
    // `bounds.rs`); both name the field.
    let both = json!({ "task_type": "echo", "params": { "text": "x" }, "countdown": 5,
                       "run_at": "2030-01-01T00:00:00Z" });
    let (status, body) = post(&app, "/api/tasks", both).await;
    let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(details["field"], "countdown", "{body}");
    for (extra, field) in [
        (json!({ "countdown": -1 }), "countdown"),
        (json!({ "timeout": -3 }), "timeout"),
        (json!({ "queue": "" }), "queue"),
        (json!({ "timeout": 5, "soft_timeout": 5 }), "soft_timeout"),
    ] {
        let mut body = json!({ "task_type": "echo", "params": { "text": "x" } });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, body) = post(&app, "/api/tasks", body).await;
        bad_field(status, &body, field);
    }

    let huge =
        json!({ "task_type": "echo", "params": { "text": "x".repeat(http::DEFAULT_BODY_LIMIT) } });
    let (status, body) = post(&app, "/api/tasks", huge).await;
    assert_eq!(
        error_of(status, &body, StatusCode::PAYLOAD_TOO_LARGE).0,
        "body_too_large"
    );

    // Params within the body limit but over the client's payload limit.
    let limited = app_with_limits(
        &client,
        taskq::PayloadLimits {
            max_params_bytes: 32,
            ..taskq::PayloadLimits::DEFAULT
        },
    );
    let body = json!({ "task_type": "echo", "params": { "text": "y".repeat(40) } });
    let (status, body) = post(&limited, "/api/tasks", body).await;
    let (code, details) = error_of(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code, "payload_too_large");
    assert_eq!(
        (details["field"].as_str(), details["limit"].as_u64()),
        (Some("params"), Some(32))
    );

    let body = json!({ "task_type": "echo", "params": { "text": "z" }, "queue": "a b" });
    let (status, body) = post(&app, "/api/tasks", body).await;
    assert_eq!(bad_field(status, &body, "queue"), "invalid_name");

    let listed = client
        .list(&TaskFilter::default(), taskq::PageRequest::default())
        .await
        .expect("list");
    assert_eq!(listed.total, 0, "no bad request stored anything");
}

pub(super) async fn list_filters_and_paginates_like_the_seeds(backend: Arc<dyn Backend>) {
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

/// A submit with an `id` can be sent again: `201` the first time, `200`
/// with the same record after, one task; other params under the id are
/// `409 task_exists`, and a malformed id a `4xx` naming the body.
pub(super) async fn submit_idempotent_id_returns_the_existing_task(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let id = uuid::Uuid::now_v7().to_string();
    let first = submit_echo(&app, "once", json!({ "id": id })).await;
    assert_eq!(first["id"], id.as_str());
    let body =
        json!({ "id": id, "task_type": "echo", "params": { "text": "once" }, "priority": 9 });
    let (status, again) = post(&app, "/api/tasks", body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first, "the stored task, unchanged");
    let other = json!({ "id": id, "task_type": "echo", "params": { "text": "twice" } });
    let (status, body) = post(&app, "/api/tasks", other).await;
    let (code, details) = error_of(status, &body, StatusCode::CONFLICT);
    assert_eq!((code.as_str(), &details["id"]), ("task_exists", &json!(id)));
    let bad = json!({ "id": "not-a-uuid", "task_type": "echo", "params": { "text": "x" } });
    let (status, body) = post(&app, "/api/tasks", bad).await;
    assert!(status.is_client_error(), "{status} {body}");
    let (status, list) = get(&app, "/api/tasks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 1, "{list}");
}

/// A submit with a `unique` rule answers `200` with the task holding the
/// key and the header `taskq-duplicate: unique_key`, storing nothing;
/// `"unique": false` stores another; a rule that gives no key is `400
/// invalid_unique` naming `unique.<option>`.
pub(super) async fn submit_unique_answers_with_the_holder(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let send = |body: Value| {
        let app = app.clone();
        async move {
            let request = Request::builder()
                .method(Method::POST)
                .uri("/api/tasks")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request");
            let response = app.oneshot(request).await.expect("response");
            let status = response.status();
            let duplicate = response
                .headers()
                .get("taskq-duplicate")
                .map(|v| v.to_str().expect("ascii").to_owned());
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let body: Value = serde_json::from_slice(&bytes).expect("JSON body");
            (status, duplicate, body)
        }
    };
    let rule = json!({ "fields": ["text"], "period": 3600, "states": ["PENDING", "RUNNING"] });
    let echo = |text: &str, unique: Value| json!({ "task_type": "echo", "params": { "text": text, "times": 1 }, "unique": unique });
    let (status, header, first) = send(echo("once", rule.clone())).await;
    assert_eq!((status, header), (StatusCode::CREATED, None), "{first}");
    assert_eq!(first["unique"]["key"], r#"echo:["once"]"#, "{first}");
    assert!(first["unique"]["until"].is_string(), "{first}");
    let (status, header, again) = send(echo("once", rule.clone())).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(header.as_deref(), Some("unique_key"));
    assert_eq!(again["id"], first["id"], "the holder, unchanged");
    let (status, _, other) = send(echo("once", json!(false))).await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let (status, _, by_params) = send(echo("twice", json!(true))).await;
    assert_eq!(status, StatusCode::CREATED, "{by_params}");
    let (status, _, repeat) = send(echo("twice", json!(true))).await;
    assert_eq!((status, &repeat["id"]), (StatusCode::OK, &by_params["id"]));
    let bad = [
        (json!({ "key": "" }), "unique.key"),
        (json!({ "fields": ["nope"] }), "unique.fields"),
        (json!({ "period": 0 }), "unique.period"),
        (json!({ "states": [] }), "unique.states"),
    ];
    for (unique, field) in bad {
        let (status, _, body) = send(echo("bad", unique)).await;
        let (code, details) = error_of(status, &body, StatusCode::BAD_REQUEST);
        assert_eq!(
            (code.as_str(), &details["field"]),
            ("invalid_unique", &json!(field))
        );
    }
    let (status, list) = get(&app, "/api/tasks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 3, "{list}");
}
