//! `PUT api/queues/{queue}/fair`: a fair queue's keys take turns; the
//! flag shows in `api/queues`; bad input is a 4xx naming the field and
//! changes nothing.

use super::*;

pub(super) async fn fair_queue_is_set_shown_and_checked(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let (status, fair) = put(&app, "/api/queues/default/fair", json!({ "fair": true })).await;
    assert_eq!(status, StatusCode::OK, "{fair}");
    assert_eq!(fair["fair"], true);
    // Three of key a, then one of key b: b's is claimed second.
    for _ in 0..3 {
        submit_echo(&app, "a", json!({ "concurrency_key": "a" })).await;
    }
    let b = submit_echo(&app, "b", json!({ "concurrency_key": "b" })).await;
    let order = claim_order(&client, 2).await;
    assert_eq!(
        order.get(1),
        b["id"].as_str().map(str::to_owned).as_ref(),
        "{order:?}"
    );
    let stored = client
        .get(
            b["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("an id"),
        )
        .await
        .expect("get");
    assert_eq!(stored.fair_round, 1);

    // Bad input: a 4xx naming the field, and the queue stays fair.
    for body in [
        json!({}),
        json!({ "fair": "yes" }),
        json!({ "fair": null }),
        json!({ "fair": true, "x": 1 }),
    ] {
        let (status, error) = put(&app, "/api/queues/default/fair", body.clone()).await;
        let (code, _) = error_of(status, &error, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(code, "invalid_field", "{body}: {error}");
    }
    let long = "q".repeat(101);
    let (status, body) = put(
        &app,
        &format!("/api/queues/{long}/fair"),
        json!({ "fair": true }),
    )
    .await;
    assert_eq!(bad_field(status, &body, "queue"), "invalid_name");
    let (_, queues) = get(&app, "/api/queues").await;
    let queues = queues.as_array().cloned().unwrap_or_default();
    assert!(
        queues
            .iter()
            .any(|q| q["queue"] == "default" && q["fair"] == true),
        "kept: {queues:?}"
    );
    assert!(!queues.iter().any(|q| q["queue"] == long), "nothing stored");

    let (status, off) = put(&app, "/api/queues/default/fair", json!({ "fair": false })).await;
    assert_eq!(status, StatusCode::OK, "{off}");
    assert_eq!(off["fair"], false);
}

/// `PUT api/queues/{queue}/fair/weights/{key}` and `GET
/// api/queues/{queue}/fair/weights`: a weight is set, listed and reset;
/// a weight of 0 or over 1000 is a 400 naming `weight`, a body without
/// `weight` a 422, and nothing is stored.
pub(super) async fn fair_weights_are_set_listed_and_checked(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let path = "/api/queues/default/fair/weights";
    let (status, set) = put(&app, &format!("{path}/acme"), json!({ "weight": 3 })).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["weights"], json!([{ "key": "acme", "weight": 3 }]));
    for weight in [0, 1001] {
        let (status, body) = put(&app, &format!("{path}/acme"), json!({ "weight": weight })).await;
        assert_eq!(bad_field(status, &body, "weight"), "invalid_argument");
    }
    let long = "k".repeat(256);
    let (status, body) = put(&app, &format!("{path}/{long}"), json!({ "weight": 2 })).await;
    assert_eq!(bad_field(status, &body, "key"), "invalid_argument");
    for body in [json!({}), json!({ "weight": "3" }), json!({ "weight": -1 })] {
        let (status, error) = put(&app, &format!("{path}/acme"), body.clone()).await;
        let (code, _) = error_of(status, &error, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(code, "invalid_field", "{body}: {error}");
    }
    let (status, listed) = get(&app, path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed["weights"],
        json!([{ "key": "acme", "weight": 3 }]),
        "kept"
    );
    let (status, reset) = put(&app, &format!("{path}/acme"), json!({ "weight": null })).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(reset["weights"], json!([]));
}
