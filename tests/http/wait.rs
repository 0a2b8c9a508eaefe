//! The long poll of the detail route: `GET api/tasks/{id}?wait=…`.

use super::*;

pub(super) async fn detail_wait_long_polls_until_the_task_ends(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    // A task nobody runs yet: the wait runs out, and the answer is the
    // record as it is (200, still pending), after about the wait.
    let record = submit_echo(&app, "later", json!({})).await;
    let id = record["id"].as_str().expect("id").to_owned();
    let started = Instant::now();
    let (status, pending) = get(&app, &format!("/api/tasks/{id}?wait=300ms")).await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{pending}");
    assert_eq!(pending["state"], "PENDING");
    assert!(
        waited >= Duration::from_millis(290),
        "answered early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "answered late: {waited:?}");

    // A worker starts while the request waits: it answers once the task
    // ended, long before its 30 s.
    let waiting = tokio::spawn({
        let app = app.clone();
        let id = id.clone();
        async move { get(&app, &format!("/api/tasks/{id}?wait=30s")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let (stop, run) = spawn_worker(test_worker(&client));
    let (status, ended) = waiting.await.expect("request");
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["state"], "FINISHED", "{ended}");
    assert_eq!(ended["result"], "later");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // An ended task answers at once; seconds as a number work too.
    let (status, again) = get(&app, &format!("/api/tasks/{id}?wait=2.5")).await;
    assert_eq!(
        (status, &again["state"]),
        (StatusCode::OK, &json!("FINISHED"))
    );
    stop.shutdown();
    run.await.expect("worker task").expect("worker");

    // Bad waits: 400 JSON naming the field, before anything is read.
    for wait in ["0", "0s", "-1", "61s", "1h", "soon", "1e400", ""] {
        let (status, body) = get(&app, &format!("/api/tasks/{id}?wait={wait}")).await;
        let (code, details) = error_of(status, &body, StatusCode::BAD_REQUEST);
        assert_eq!(
            (code.as_str(), &details["field"]),
            ("bad_query", &json!("wait")),
            "{wait}: {body}"
        );
    }
    let (status, body) = get(&app, &format!("/api/tasks/{id}?wiat=1s")).await;
    error_of(status, &body, StatusCode::BAD_REQUEST);
    // A missing id is a 404 at once, wait or not.
    let missing = uuid::Uuid::now_v7();
    let started = Instant::now();
    let (status, body) = get(&app, &format!("/api/tasks/{missing}?wait=10s")).await;
    error_of(status, &body, StatusCode::NOT_FOUND);
    assert!(started.elapsed() < Duration::from_secs(2));
}
