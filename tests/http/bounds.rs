//! Values past what the backends store, names no URL reaches, bodies that
//! are not JSON: each a 4xx naming the field at fault, and nothing stored.

use super::*;

/// Overrides out of range are `400 invalid_argument` naming the field —
/// never a stored year-33715 ETA, a task that times out at once, or a
/// retry count clamped without a word.
pub(super) async fn submit_out_of_range_overrides_are_400_naming_the_field(
    backend: Arc<dyn Backend>,
) {
    let client = client_for(backend);
    let app = app(&client);
    for (extra, field) in [
        (json!({ "countdown": 1e12 }), "countdown"),
        (json!({ "countdown": 1e15 }), "countdown"),
        (json!({ "countdown": 1e300 }), "countdown"),
        (json!({ "countdown": -1 }), "countdown"),
        (json!({ "timeout": 0 }), "timeout"),
        (json!({ "timeout": -3 }), "timeout"),
        (json!({ "timeout": 1e12 }), "timeout"),
        (json!({ "soft_timeout": 0 }), "soft_timeout"),
        (json!({ "timeout": 5, "soft_timeout": 5 }), "soft_timeout"),
        (json!({ "max_retries": 2_147_483_648_u64 }), "max_retries"),
        (json!({ "max_retries": u32::MAX }), "max_retries"),
    ] {
        let mut body = json!({ "task_type": "echo", "params": { "text": "x" } });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, answer) = post(&app, "/api/tasks", body).await;
        assert_eq!(
            bad_field(status, &answer, field),
            "invalid_argument",
            "{extra}"
        );
    }
    // The largest retry count is stored as given. (An ETA before 2038:
    // the MySQL backend binds times as TIMESTAMP, see the list test, and
    // its database refuses later ones — a limit of that backend.)
    let edge = submit_echo(
        &app,
        "edge",
        json!({ "max_retries": 2_147_483_647_u64, "run_at": "2037-12-31T23:59:59Z" }),
    )
    .await;
    assert_eq!(edge["max_retries"], 2_147_483_647_u64);
    assert_eq!(edge["scheduled_at"], "2037-12-31T23:59:59Z");
    let id = edge["id"].as_str().unwrap();
    let (status, stored) = get(&app, &format!("/api/tasks/{id}")).await;
    assert_eq!(
        (status, &stored["max_retries"]),
        (StatusCode::OK, &edge["max_retries"])
    );
    assert_eq!(stored_tasks(&client).await, 1, "only the task in range");
}

/// Names `.` and `..` (path steps), empty ones, and ones with `/` or a
/// control character are refused where they enter — schedules, queue
/// overrides, queue routes — with `400 invalid_name` naming the field.
pub(super) async fn names_no_url_reaches_are_400_naming_the_field(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    for name in [
        "",
        ".",
        "..",
        "a/b",
        "bell\u{7}",
        "line\nbreak",
        "\u{1b}[2J",
    ] {
        let body = json!({ "name": name, "task_type": "echo", "params": { "text": "s" },
                           "kind": "interval", "every": 60 });
        let (status, answer) = post(&app, "/api/schedules", body).await;
        assert_eq!(
            bad_field(status, &answer, "name"),
            "invalid_name",
            "{name:?}"
        );
        assert_eq!(answer["error"]["details"]["name"], name);
    }
    for queue in [".", "..", "", "a/b", "tab\t"] {
        let schedule = json!({ "name": "q", "task_type": "echo", "params": { "text": "s" },
                               "kind": "interval", "every": 60, "queue": queue });
        let (status, answer) = post(&app, "/api/schedules", schedule).await;
        assert_eq!(
            bad_field(status, &answer, "queue"),
            "invalid_name",
            "{queue:?}"
        );
        let task = json!({ "task_type": "echo", "params": { "text": "s" }, "queue": queue });
        let (status, answer) = post(&app, "/api/tasks", task).await;
        assert_eq!(
            bad_field(status, &answer, "queue"),
            "invalid_name",
            "{queue:?}"
        );
    }
    // In a path: `%2E%2E` reaches the route as `..`, `%0A` as a newline.
    for queue in ["%2E", "%2E%2E", "a%0Ab", "a%2Fb"] {
        for action in ["pause", "resume"] {
            let uri = format!("/api/queues/{queue}/{action}");
            let (status, answer) = post(&app, &uri, json!({})).await;
            assert_eq!(bad_field(status, &answer, "queue"), "invalid_name", "{uri}");
        }
    }
    // A good name with spaces and any script still goes.
    let body = json!({ "name": "nightly report ☾", "task_type": "echo",
                       "params": { "text": "s" }, "kind": "interval", "every": 60 });
    let (status, created) = post(&app, "/api/schedules", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, one) = get(&app, "/api/schedules/nightly%20report%20%E2%98%BE").await;
    assert_eq!(
        (status, &one["name"]),
        (StatusCode::OK, &json!("nightly report ☾"))
    );
    let (_, page) = get(&app, "/api/schedules").await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(stored_tasks(&client).await, 0);
}

/// A POST, PUT or PATCH whose body is not `application/json` is `415`: a
/// cross-site form (urlencoded, multipart, text/plain) cannot submit,
/// cancel or purge. (Without a body, see the next test.)
pub(super) async fn writes_that_are_not_json_are_415(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let task = json!({ "task_type": "echo", "params": { "text": "x" } }).to_string();
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        None,
    ] {
        let (status, answer) = send(&app, Method::POST, "/api/tasks", content_type, &task).await;
        let (code, _) = error_of(status, &answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(code, "unsupported_media_type", "{content_type:?}");
    }
    let (status, answer) = send(
        &app,
        Method::PUT,
        "/api/schedules/x",
        Some("text/plain"),
        "{}",
    )
    .await;
    error_of(status, &answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(stored_tasks(&client).await, 0, "nothing submitted");

    let id = submit_echo(&app, "keep", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancel = format!("/api/tasks/{id}/cancel");
    // A form posts a type even with no fields: refused, the task stays.
    for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
        let (status, answer) = send(&app, Method::POST, &cancel, Some(content_type), "").await;
        error_of(status, &answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let (_, record) = get(&app, &format!("/api/tasks/{id}")).await;
    assert_eq!(record["state"], "PENDING");
    // Without credentials the answer is still 401, whatever the type.
    let request = Request::post("/api/tasks/purge")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // JSON in any case, with parameters, with or without a body: accepted.
    let (status, answer) = send(&app, Method::POST, &cancel, Some("application/json"), "").await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("CANCELLED"))
    );
    let (status, _) = send(
        &app,
        Method::POST,
        "/api/tasks",
        Some("Application/JSON; charset=utf-8"),
        &task,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // Reads are not affected.
    let (status, _) = send(&app, Method::GET, "/api/tasks", Some("text/plain"), "").await;
    assert_eq!(status, StatusCode::OK);
}

/// The schedule list decodes its query as the task list does, and refuses
/// an offset past any list; every other 400 where a field is at fault —
/// body, query or path — names it too.
pub(super) async fn schedule_list_query_is_decoded_and_every_400_names_its_field(
    backend: Arc<dyn Backend>,
) {
    let client = client_for(backend);
    let app = app(&client);
    for name in ["a", "b", "c"] {
        let body = json!({ "name": name, "task_type": "echo", "params": { "text": "s" },
                           "kind": "interval", "every": 60 });
        let (status, created) = post(&app, "/api/schedules", body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    let (status, page) = get(&app, "/api/schedules?page%5Fsize=%32&page=%32").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!((&page["page"], &page["page_size"]), (&json!(2), &json!(2)));
    assert_eq!(page["schedules"][0]["name"], "c");
    for (query, field) in [
        ("page=90071992547411&page_size=100", "page"),
        ("page=18446744073709551615", "page"),
        ("page_size=%FF", "page_size"),
        ("page_size=-2", "page_size"),
        ("p%61ges=1", "pages"),
    ] {
        let (status, body) = get(&app, &format!("/api/schedules?{query}")).await;
        assert_eq!(bad_field(status, &body, field), "bad_query", "{query}");
    }
    let (status, body) = get(&app, "/api/tasks?page=90071992547411&page_size=100").await;
    bad_field(status, &body, "page");

    // Other 400s where a field is at fault name it.
    let (status, body) = post(&app, "/api/tasks/purge", json!({ "older_than": -1 })).await;
    bad_field(status, &body, "older_than");
    let body = json!({ "name": "neg", "task_type": "echo", "params": { "text": "s" },
                       "kind": "interval", "every": -5 });
    let (status, answer) = post(&app, "/api/schedules", body).await;
    bad_field(status, &answer, "every");
    let (status, body) = get(
        &app,
        "/api/tasks/00000000-0000-0000-0000-000000000000?wait=0",
    )
    .await;
    bad_field(status, &body, "wait");
    for (method, uri, field) in [
        (Method::GET, "/api/tasks/not-a-uuid", "id"),
        (Method::POST, "/api/tasks/12/cancel", "id"),
        (Method::GET, "/api/task-types/%FF", "name"),
        (Method::DELETE, "/api/schedules/%C3%28", "name"),
        (Method::GET, "/api/workers/%FF", "id"),
    ] {
        let (status, body) = call(&app, method.clone(), uri, None, Some(TOKEN)).await;
        assert_eq!(
            bad_field(status, &body, field),
            "bad_path",
            "{method} {uri}"
        );
    }
    let here = submit_echo(&app, "here", json!({})).await;
    let there = submit_echo(&app, "there", json!({ "queue": "elsewhere" })).await;
    let uri = format!("/api/tasks/{}/reorder", here["id"].as_str().unwrap());
    let (status, body) = post(&app, &uri, json!({ "to": "before", "task": there["id"] })).await;
    bad_field(status, &body, "task");
}

/// A schedule of a task whose params are `()` needs no params: the
/// default (and an explicit `{}`) is stored as `null`, which its runs
/// submit.
pub(super) async fn schedule_of_a_unit_task_needs_no_params(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let body = json!({ "name": "ticker", "task_type": "tick", "kind": "interval", "every": 3600 });
    let (status, created) = post(&app, "/api/schedules", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["params"], Value::Null);
    let (status, task) = post(&app, "/api/schedules/ticker/run", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    assert_eq!(
        (&task["task_type"], &task["params"]),
        (&json!("tick"), &Value::Null)
    );

    let explicit = json!({ "task_type": "tick", "params": {}, "kind": "cron",
                           "expression": "0 * * * *" });
    let (status, updated) = put(&app, "/api/schedules/ticker", explicit).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (&updated["params"], &updated["kind"]),
        (&Value::Null, &json!("cron"))
    );
    let wrong = json!({ "task_type": "tick", "params": { "n": 1 }, "kind": "interval",
                        "every": 60 });
    let (status, body) = put(&app, "/api/schedules/ticker", wrong).await;
    let (code, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (code.as_str(), &details["field"]),
        ("invalid_params", &json!("params"))
    );
    // The stored definition is the one that fit.
    let (_, stored) = get(&app, "/api/schedules/ticker").await;
    assert_eq!(stored["kind"], "cron");
}

/// A write without a body and without a JSON type — what a bodiless
/// cross-site form or a `no-cors` fetch sends — is `403`
/// `csrf_header_missing` on every write route, POST and DELETE alike, and
/// changes nothing; with `X-Requested-With` (any value) it goes through.
pub(super) async fn bodiless_writes_need_the_csrf_header(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let id = submit_echo(&app, "keep", json!({})).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) = post(
        &app,
        "/api/schedules",
        json!({ "name": "keep", "task_type": "echo", "params": { "text": "s" },
                "kind": "interval", "every": 3600 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let writes = [
        (Method::POST, format!("/api/tasks/{id}/cancel")),
        (Method::POST, "/api/queues/default/pause".to_owned()),
        (Method::POST, "/api/queues/default/purge".to_owned()),
        (Method::POST, "/api/schedules/keep/disable".to_owned()),
        (Method::POST, "/api/schedules/keep/run".to_owned()),
        (Method::DELETE, "/api/schedules/keep".to_owned()),
        (Method::DELETE, format!("/api/tasks/{id}")),
        (Method::POST, "/api/workers/none/shutdown".to_owned()),
    ];
    for (method, uri) in &writes {
        let (status, answer) = send(&app, method.clone(), uri, None, "").await;
        let (code, _) = error_of(status, &answer, StatusCode::FORBIDDEN);
        assert_eq!(code, "csrf_header_missing", "{method} {uri}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("X-Requested-With"), "{message}");
    }
    // Nothing changed: the task pending, the queue running, the schedule
    // enabled, stored and not run.
    let (_, record) = get(&app, &format!("/api/tasks/{id}")).await;
    assert_eq!(record["state"], "PENDING");
    assert!(
        client
            .queue_stats()
            .await
            .expect("stats")
            .iter()
            .all(|q| !q.paused)
    );
    let schedule = client.get_schedule("keep").await.expect("still stored");
    assert_eq!((schedule.def.enabled, schedule.run_count), (true, 0));
    assert_eq!(stored_tasks(&client).await, 1);

    // The header lets them through; any value will do.
    let cancel = format!("/api/tasks/{id}/cancel");
    let header = Some(("X-Requested-With", "XMLHttpRequest"));
    let (status, answer) = send_with(&app, Method::POST, &cancel, header, "").await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("CANCELLED"))
    );
    let header = Some(("x-requested-with", "1"));
    let (status, _) = send_with(&app, Method::DELETE, "/api/schedules/keep", header, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Without credentials the answer is still 401 first.
    let request = Request::post(&cancel).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Reads need no header.
    let (status, _) = send(&app, Method::GET, "/api/tasks", None, "").await;
    assert_eq!(status, StatusCode::OK);
}
