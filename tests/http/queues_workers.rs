//! Queues, workers, progress and results.

use super::*;

pub(super) async fn queues_show_depth_and_pause_resume_purge(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    submit_echo(&app, "a", json!({})).await;
    submit_echo(&app, "b", json!({})).await;
    submit_echo(&app, "later", json!({ "countdown": 3600 })).await;

    let (status, queues) = get(&app, "/api/queues").await;
    assert_eq!(status, StatusCode::OK);
    let default = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "default")
        .expect("default queue")
        .clone();
    assert_eq!(default["pending"], 2);
    assert_eq!(default["scheduled"], 1);
    assert_eq!(default["paused"], false);
    // No worker runs at all: every pending task (due or scheduled) waits.
    assert_eq!(default["live_workers"], 0);
    assert_eq!(default["unclaimable"], 3);
    assert_eq!(
        default["unclaimable_types"],
        json!([{ "task_type": "echo", "count": 3 }])
    );

    let (status, paused) = post(&app, "/api/queues/default/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paused["paused"], true);
    assert!(
        claim_order(&client, 5).await.is_empty(),
        "paused: no claims"
    );
    let (status, resumed) = post(&app, "/api/queues/default/resume", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resumed["paused"], false);

    let (status, purged) = post(&app, "/api/queues/default/purge", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(purged["cancelled"], 3);
    let (_, page) = get(&app, "/api/tasks?state=CANCELLED").await;
    assert_eq!(page["total"], 3);

    // A queue name past the limit is a bad name.
    let long = "q".repeat(101);
    let (status, body) = post(&app, &format!("/api/queues/{long}/pause"), json!({})).await;
    assert_eq!(bad_field(status, &body, "queue"), "invalid_name");
}

pub(super) async fn worker_progress_and_results_show_through_the_api(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let (stop, running) = spawn_worker(test_worker(&client));

    let done = submit_echo(
        &app,
        "ok",
        json!({ "params": { "text": "ok", "times": 2 } }),
    )
    .await;
    let long = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 400 } }),
    )
    .await
    .1;
    let done = wait_for(&app, done["id"].as_str().unwrap(), |t| {
        t["state"] == "FINISHED"
    })
    .await;
    assert_eq!(done["result"], "okok");
    assert_eq!(done["attempt"], 1);

    let long_id = long["id"].as_str().unwrap();
    let progressing = wait_for(&app, long_id, |t| {
        t["state"] == "RUNNING" && t["progress"]["fraction"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    assert!(
        progressing["progress"]["message"]
            .as_str()
            .unwrap()
            .starts_with("step")
    );
    let (status, _) = post(&app, &format!("/api/tasks/{long_id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let cancelled = wait_for(&app, long_id, |t| t["state"] == "CANCELLED").await;
    assert_eq!(cancelled["error"]["kind"], "cancelled");

    let (status, page) = get(&app, "/api/tasks?state=FINISHED").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 1);

    stop.shutdown();
    running.await.expect("join").expect("worker");
}

pub(super) async fn workers_are_listed_paused_resumed_and_shut_down(backend: Arc<dyn Backend>) {
    let client = client_for(backend.clone());
    let app = app(&client);
    let (_, running) = spawn_worker(test_worker(&client).worker_id("http-worker"));

    let listed = wait_worker(&app, "http-worker", |w| w["state"] == "running").await;
    assert_eq!(
        listed["queues"],
        json!([{ "name": "default", "concurrency": 2 }, { "name": "slow", "concurrency": 2 }])
    );
    assert_eq!(listed["pid"], std::process::id());
    // The worker reports every type its binary links, sorted.
    let mut linked: Vec<&str> = client.registry().iter().map(|def| def.name).collect();
    linked.sort_unstable();
    assert_eq!(listed["task_types"], json!(linked));
    let (_, queues) = get(&app, "/api/queues").await;
    assert!(
        queues
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["unclaimable"] == 0),
        "a worker with every handler: nothing unclaimable: {queues}"
    );
    assert_eq!(listed["in_flight_count"], 0);
    assert!(listed["heartbeat_at"].is_string() && listed["started_at"].is_string());
    let (status, all) = get(&app, "/api/workers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(all[0]["id"], "http-worker");

    for path in [
        "/api/workers/nobody",
        "/api/workers/nobody/pause",
        "/api/workers/nobody/resume",
        "/api/workers/nobody/shutdown",
    ] {
        let (status, body) = if path.ends_with("nobody") {
            get(&app, path).await
        } else {
            post(&app, path, json!({})).await
        };
        let (code, details) = error_of(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(code, "not_found");
        assert_eq!(details["resource"], "worker", "{path}");
    }

    // Resume of a running worker, then pause twice: 409 each time it is
    // already headed there.
    let (status, body) = post(&app, "/api/workers/http-worker/resume", json!({})).await;
    let (code, details) = error_of(status, &body, StatusCode::CONFLICT);
    assert_eq!(
        (code.as_str(), &details["state"]),
        ("invalid_transition", &json!("running"))
    );
    let (status, body) = post(&app, "/api/workers/http-worker/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requested"], "paused");
    let (status, body) = post(&app, "/api/workers/http-worker/pause", json!({})).await;
    error_of(status, &body, StatusCode::CONFLICT);
    wait_worker(&app, "http-worker", |w| w["state"] == "paused").await;
    let task = submit_echo(&app, "held", json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, held) = get(
        &app,
        &format!("/api/tasks/{}", task["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(held["state"], "PENDING", "a paused worker claims nothing");

    let (status, body) = post(&app, "/api/workers/http-worker/resume", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requested"], "running");
    wait_for(&app, task["id"].as_str().unwrap(), |t| {
        t["state"] == "FINISHED"
    })
    .await;

    // Busy for a while (40 steps of 50 ms), so it stays `stopping` while
    // it finishes the task.
    let busy = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 40 } }),
    )
    .await
    .1;
    let busy = busy["id"].as_str().unwrap();
    wait_for(&app, busy, |t| t["state"] == "RUNNING").await;
    let (status, body) = post(&app, "/api/workers/http-worker/shutdown", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requested"], "stopping");
    let (status, body) = post(&app, "/api/workers/http-worker/shutdown", json!({})).await;
    let (_, details) = error_of(status, &body, StatusCode::CONFLICT);
    assert_eq!(details["state"], "stopping");
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("the worker stops")
        .expect("join")
        .expect("run");
    let (_, finished) = get(&app, &format!("/api/tasks/{busy}")).await;
    assert_eq!(
        finished["state"], "FINISHED",
        "graceful: the running task completed"
    );
    let (status, body) = get(&app, "/api/workers/http-worker").await;
    error_of(status, &body, StatusCode::NOT_FOUND);

    // A worker that stopped beating without deregistering: listed as
    // gone, and no control applies.
    let mut quiet = taskq_core::conformance::worker_info("quiet", chrono::Duration::seconds(-1));
    quiet.state = taskq::WorkerState::Paused;
    backend.register_worker(&quiet).await.expect("register");
    let (status, body) = get(&app, "/api/workers/quiet").await;
    assert_eq!((status, &body["state"]), (StatusCode::OK, &json!("gone")));
    for control in ["pause", "resume", "shutdown"] {
        let (status, body) = post(&app, &format!("/api/workers/quiet/{control}"), json!({})).await;
        let (_, details) = error_of(status, &body, StatusCode::CONFLICT);
        assert_eq!(details["state"], "gone");
    }
    let (status, _) = call(&app, Method::GET, "/api/workers", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, Method::POST, "/api/workers/quiet/pause", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
