//! Deadlines to start over REST: bad ones are `400` naming the field
//! with nothing stored; an expired task shows, filters and retries as
//! `EXPIRED`.

use super::*;

pub(super) async fn submit_expire_bad_deadlines_are_400_and_expired_shows(
    backend: Arc<dyn Backend>,
) {
    let client = client_for(backend);
    let app = app(&client);
    let past = (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
    let with = |extra: Value| {
        let mut body = json!({ "task_type": "echo", "params": { "text": "x" } });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for (extra, field) in [
        (json!({ "expires_at": past }), "expires_at"),
        (json!({ "expires_in": 0 }), "expires_in"),
        (json!({ "expires_in": -1 }), "expires_in"),
        (json!({ "expires_at": soon, "countdown": 60 }), "expires_at"),
    ] {
        let (status, answer) = post(&app, "/api/tasks", with(extra.clone())).await;
        assert_eq!(
            bad_field(status, &answer, field),
            "invalid_argument",
            "{extra}"
        );
    }
    // Both forms at once: the request does not hold together (422).
    let both = with(json!({ "expires_at": soon, "expires_in": 5 }));
    let (status, answer) = post(&app, "/api/tasks", both).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["details"]["field"], "expires_in");
    assert_eq!(stored_tasks(&client).await, 0, "nothing stored");
    let task = submit_echo(&app, "late", json!({ "expires_in": 60 })).await;
    assert!(task["expires_at"].is_string(), "{task}");
    let id = task["id"].as_str().unwrap().to_owned();
    let later = chrono::Utc::now() + chrono::Duration::seconds(120);
    let expired = client.backend().expire_overdue(later, 500).await.unwrap();
    assert_eq!(expired, 1);
    let (status, shown) = get(&app, &format!("/api/tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["state"], "EXPIRED", "{shown}");
    assert_eq!(shown["error"]["kind"], "expired", "{shown}");
    let (_, listed) = get(&app, "/api/tasks?state=expired").await;
    assert_eq!(listed["total"], 1, "{listed}");
    let (status, retried) = post(&app, &format!("/api/tasks/{id}/retry"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["state"], "PENDING");
    assert!(retried["expires_at"].is_null(), "{retried}");
}
