//! `POST api/tasks/bulk`: retry, cancel and delete by ids and by filter,
//! with what matched, changed and was skipped (and why); bad input is a
//! 4xx naming the field, and changes nothing.

use super::*;

/// The states of `ids`, in order (`"gone"` for a deleted one).
async fn states(app: &Router, ids: &[String]) -> Vec<String> {
    let mut states = Vec::new();
    for id in ids {
        let (status, task) = get(app, &format!("/api/tasks/{id}")).await;
        states.push(match status {
            StatusCode::OK => task["state"].as_str().unwrap_or("?").to_owned(),
            _ => "gone".to_owned(),
        });
    }
    states
}

/// `(matched, changed, skipped, remaining)` of a bulk answer.
#[track_caller]
fn counts(status: StatusCode, body: &Value) -> (u64, u64, u64, u64) {
    assert_eq!(status, StatusCode::OK, "{body}");
    let n = |name: &str| body[name].as_u64().expect(name);
    (n("matched"), n("changed"), n("skipped"), n("remaining"))
}

pub(super) async fn bulk_acts_by_ids_and_filter_and_says_what_it_skipped(
    backend: Arc<dyn Backend>,
) {
    let client = client_for(backend);
    let app = app(&client);
    let queue = json!({ "queue": "bulkq" });
    let mut ids = Vec::new();
    for text in ["a", "b", "c"] {
        ids.push(
            submit_echo(&app, text, queue.clone()).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let other = submit_echo(&app, "elsewhere", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let unknown = "0190f0a0-0000-7000-8000-000000000000";

    // By ids: a repeated id counts once, an unknown one is skipped.
    let (status, body) = post(
        &app,
        "/api/tasks/bulk",
        json!({ "action": "cancel", "ids": [a, b, unknown, a] }),
    )
    .await;
    assert_eq!(counts(status, &body), (3, 2, 1, 0), "{body}");
    assert_eq!(body["action"], "cancel");
    assert_eq!(body["errors"][0]["id"], unknown);
    assert_eq!(body["errors"][0]["code"], "not_found");
    assert_eq!(
        states(&app, &ids).await,
        ["CANCELLED", "CANCELLED", "PENDING"]
    );

    // By filter: the cancelled tasks of the queue, not the other queue's.
    let (status, body) = post(
        &app,
        "/api/tasks/bulk",
        json!({ "action": "retry", "filter": { "state": "CANCELLED", "queue": "bulkq" } }),
    )
    .await;
    assert_eq!(counts(status, &body), (2, 2, 0, 0), "{body}");
    assert_eq!(states(&app, &ids).await, ["PENDING", "PENDING", "PENDING"]);

    // A state the action does not apply to: skipped with the route's code.
    let (status, body) = post(
        &app,
        "/api/tasks/bulk",
        json!({ "action": "delete", "ids": [a, c] }),
    )
    .await;
    assert_eq!(counts(status, &body), (2, 0, 2, 0), "{body}");
    assert_eq!(body["errors"][1]["id"], c.as_str());
    assert_eq!(body["errors"][1]["code"], "invalid_transition");

    // A filter of the queue alone, then its cancelled tasks deleted.
    let (status, body) = post(
        &app,
        "/api/tasks/bulk",
        json!({ "action": "cancel", "filter": { "queue": "bulkq" } }),
    )
    .await;
    assert_eq!(counts(status, &body), (3, 3, 0, 0), "{body}");
    let (status, body) = post(
        &app,
        "/api/tasks/bulk",
        json!({ "action": "delete", "filter": { "queue": "bulkq", "state": "CANCELLED" } }),
    )
    .await;
    assert_eq!(counts(status, &body), (3, 3, 0, 0), "{body}");
    assert_eq!(states(&app, &ids).await, ["gone", "gone", "gone"]);
    assert_eq!(states(&app, &[other]).await, ["PENDING"]);

    // A filter that matches nothing is no error.
    let (status, body) = post(
        &app,
        "/api/tasks/bulk",
        json!({ "action": "retry", "filter": { "queue": "bulkq", "tags": ["none"] } }),
    )
    .await;
    assert_eq!(counts(status, &body), (0, 0, 0, 0), "{body}");
}

pub(super) async fn bulk_bad_input_names_the_field_and_changes_nothing(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let id = submit_echo(&app, "stays", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let too_many: Vec<String> = (0..1_001)
        .map(|n| format!("0190f0a0-0000-7000-8000-{n:012}"))
        .collect();
    let cases = [
        (
            json!({ "action": "cancel" }),
            StatusCode::BAD_REQUEST,
            "ids",
        ),
        (
            json!({ "action": "cancel", "ids": [id], "filter": {} }),
            StatusCode::BAD_REQUEST,
            "filter",
        ),
        (
            json!({ "action": "cancel", "ids": too_many }),
            StatusCode::BAD_REQUEST,
            "ids",
        ),
        (
            json!({ "action": "cancel", "filter": { "tags": ["Not A Tag"] } }),
            StatusCode::BAD_REQUEST,
            "filter.tags",
        ),
        (
            json!({ "action": "cancel", "filter": { "metadata": { "k": [1] } } }),
            StatusCode::BAD_REQUEST,
            "filter.metadata",
        ),
        (
            json!({ "action": "explode", "ids": [id] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "action",
        ),
        (
            json!({ "action": "cancel", "ids": [id, "nope"] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "ids[1]",
        ),
        (
            json!({ "action": "cancel", "filter": { "state": "DONE" } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "filter.state",
        ),
        (
            json!({ "action": "cancel", "ids": [id], "force": true }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "force",
        ),
    ];
    for (body, expected, field) in cases {
        let (status, answer) = post(&app, "/api/tasks/bulk", body.clone()).await;
        let (_, details) = error_of(status, &answer, expected);
        assert_eq!(details["field"], field, "{body} → {answer}");
    }
    let (status, answer) = post_raw(&app, "/api/tasks/bulk", "{\"action\": ").await;
    assert_eq!(
        error_of(status, &answer, StatusCode::BAD_REQUEST).0,
        "malformed_json"
    );
    assert_eq!(states(&app, &[id]).await, ["PENDING"]);
    assert_eq!(stored_tasks(&client).await, 1);
}
