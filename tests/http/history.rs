//! History and labels through the API: tags and metadata on submit, the
//! list's `tag`, `metadata` and `schedule` filters, the attempts in the
//! detail.

use super::*;

pub(super) async fn history_tags_and_metadata_are_stored_filtered_and_shown(
    backend: Arc<dyn Backend>,
) {
    let client = client_for(backend);
    let app = app(&client);
    let tagged = submit_echo(
        &app,
        "tagged",
        json!({ "tags": ["billing", "customer:acme", "billing"],
                "metadata": { "order": 42, "by": { "team": "ops" } } }),
    )
    .await;
    assert_eq!(tagged["tags"], json!(["billing", "customer:acme"]));
    assert_eq!(tagged["metadata"]["by"]["team"], "ops");
    assert_eq!(tagged["attempts"], json!([]));
    assert_eq!(tagged["schedule"], Value::Null);
    submit_echo(&app, "other", json!({ "tags": ["billing"] })).await;
    submit_echo(&app, "plain", json!({})).await;

    let (status, list) = get(&app, "/api/tasks?tag=billing").await;
    assert_eq!((status, list["total"].clone()), (StatusCode::OK, json!(2)));
    for query in ["tag=billing&tag=customer:acme", "tag=billing,customer:acme"] {
        let (status, list) = get(&app, &format!("/api/tasks?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["total"], 1, "{query}");
        assert_eq!(list["tasks"][0]["id"], tagged["id"]);
    }
    let (status, list) = get(&app, "/api/tasks?schedule=nightly").await;
    assert_eq!((status, list["total"].clone()), (StatusCode::OK, json!(0)));

    // Metadata: `key:value`, typed as the value reads (`42` a number,
    // `"42"` a string), every pair wanted.
    let strung = submit_echo(
        &app,
        "strung",
        json!({ "metadata": { "order": "42", "customer": "acme:eu" } }),
    )
    .await;
    for (query, found) in [
        ("metadata=order:42", Some(&tagged)),
        (
            "metadata=order:%2242%22&metadata=customer:acme:eu",
            Some(&strung),
        ),
        ("metadata=order:42&tag=billing", Some(&tagged)),
        ("metadata=order:43", None),
    ] {
        let (status, list) = get(&app, &format!("/api/tasks?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        match found {
            Some(task) => {
                assert_eq!(list["total"], 1, "{query}");
                assert_eq!(list["tasks"][0]["id"], task["id"], "{query}");
            }
            None => assert_eq!(list["total"], 0, "{query}"),
        }
    }
    for query in ["metadata=order", "metadata=no%20key:1", "metadata=:1"] {
        let (status, answer) = get(&app, &format!("/api/tasks?{query}")).await;
        assert_eq!(
            bad_field(status, &answer, "metadata"),
            "bad_query",
            "{query}"
        );
    }

    // Bad labels: a 400 naming the field, and nothing stored.
    let before = stored_tasks(&client).await;
    for (body, field) in [
        (json!({ "tags": ["Upper"] }), "tags"),
        (json!({ "tags": ["a,b"] }), "tags"),
        (json!({ "tags": ["x".repeat(65)] }), "tags"),
        (
            json!({ "tags": (0..17).map(|i| format!("t{i}")).collect::<Vec<_>>() }),
            "tags",
        ),
        (json!({ "metadata": [1, 2] }), "metadata"),
        (
            json!({ "metadata": { "big": "x".repeat(5000) } }),
            "metadata",
        ),
    ] {
        let mut request = json!({ "task_type": "echo", "params": { "text": "bad" } });
        if let (Some(request), Some(body)) = (request.as_object_mut(), body.as_object()) {
            request.extend(body.clone());
        }
        let (status, answer) = post(&app, "/api/tasks", request).await;
        assert_eq!(bad_field(status, &answer, field), "invalid_label", "{body}");
    }
    let (status, answer) = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "echo", "params": { "text": "bad" }, "tags": "billing" }),
    )
    .await;
    let (code, details) = error_of(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (code.as_str(), &details["field"]),
        ("invalid_field", &json!("tags"))
    );
    assert_eq!(stored_tasks(&client).await, before);
    let (status, answer) = get(&app, "/api/tasks?tag=Not%20a%20tag").await;
    assert_eq!(bad_field(status, &answer, "tag"), "bad_query");
}

pub(super) async fn history_detail_shows_every_attempt(backend: Arc<dyn Backend>) {
    let client = client_for(backend.clone());
    let app = app(&client);
    let task = submit_echo(&app, "run", json!({ "max_retries": 1 })).await;
    let id: TaskId = task["id"].as_str().expect("id").parse().expect("uuid");
    let now = chrono::Utc::now();
    let claim = |worker: &'static str| taskq::backend::ClaimRequest {
        queue: "default",
        limit: 1,
        worker_id: worker,
        lease: Duration::from_secs(30),
        now: chrono::Utc::now(),
        task_types: None,
    };
    backend.claim(claim("w-1")).await.expect("claim");
    let failure = taskq::TaskFailure {
        kind: taskq::ErrorKind::Retryable,
        message: "flaky".into(),
    };
    let settled = backend
        .settle(vec![taskq::backend::Settlement {
            id,
            attempt: 1,
            outcome: taskq::backend::Outcome::Retry {
                error: failure,
                run_at: now,
            },
            at: chrono::Utc::now(),
        }])
        .await
        .expect("settle");
    assert_eq!(settled, [true]);
    backend.claim(claim("w-2")).await.expect("claim");
    backend
        .settle(vec![taskq::backend::Settlement {
            id,
            attempt: 2,
            outcome: taskq::backend::Outcome::Finished(json!("run")),
            at: chrono::Utc::now(),
        }])
        .await
        .expect("settle");
    let (status, detail) = get(&app, &format!("/api/tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let attempts = detail["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{detail}");
    assert_eq!(
        (
            &attempts[0]["attempt"],
            &attempts[0]["worker_id"],
            &attempts[0]["outcome"]
        ),
        (&json!(1), &json!("w-1"), &json!("retried"))
    );
    assert_eq!(attempts[0]["error"]["kind"], "retryable");
    assert_eq!(
        (
            &attempts[1]["attempt"],
            &attempts[1]["worker_id"],
            &attempts[1]["outcome"]
        ),
        (&json!(2), &json!("w-2"), &json!("finished"))
    );
    assert!(attempts[1]["started_at"].is_string() && attempts[1]["ended_at"].is_string());
    // Each entry's place among the task's ends (the first kept, less one,
    // is how many were dropped: none here).
    assert_eq!(
        (&attempts[0]["ordinal"], &attempts[1]["ordinal"]),
        (&json!(1), &json!(2))
    );
}
