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
    for (extra, field, code) in [
        (json!({ "expires_at": past }), "expires_at", "invalid_argument"),
        (json!({ "expires_in": 0 }), "expires_in", "invalid_argument"),
        (json!({ "expires_in": -1 }), "expires_in", "invalid_argument"),
        (
            json!({ "expires_at": soon, "countdown": 60 }),
            "expires_at",
            "invalid_argument",
        ),
        (
            json!({ "expires_at": soon, "expires_in": 5 }),
            "expires_in",
            "invalid_field",
        ),
    ] {
        let mut body = json!({ "task_type": "echo", "params": { "text": "x" } });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, answer) = post(&app, "/api/tasks", body).await;
        assert_eq!(bad_field(status, &answer, field), code, "{extra}");
    }
    assert_eq!(stored_tasks(&client).await, 0, "nothing stored");
    let task = submit_echo(&app, "late", json!({ "expires_in": 60 })).await;
    assert!(task["expires_at"].is_string(), "{task}");
    let id = task["id"].as_str().unwrap().to_owned();
    let later = chrono::Utc::now() + chrono::Duration::seconds(120);
    let expired = client
        .backend()
        .expire_overdue(later, taskq::lifecycle::EXPIRE_BATCH)
        .await
        .unwrap();
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
