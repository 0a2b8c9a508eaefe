//! The Prometheus exposition.

use super::*;

pub(super) async fn metrics_count_tasks_by_queue_and_state(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    submit_echo(&app, "a", json!({})).await;
    submit_echo(&app, "b", json!({})).await;
    submit_echo(&app, "q", json!({ "queue": "emails.high-1" })).await;
    let (status, text) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().expect("text body");
    assert!(text.contains("# TYPE taskq_tasks gauge"), "{text}");
    assert!(
        text.contains("taskq_tasks{queue=\"default\",state=\"PENDING\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("taskq_tasks{queue=\"default\",state=\"FINISHED\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("taskq_queue_pending{queue=\"emails.high-1\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("taskq_queue_paused{queue=\"default\"} 0"),
        "{text}"
    );
    // No worker runs: both pending tasks of `default` wait for nobody.
    assert!(
        text.contains("taskq_queue_live_workers{queue=\"default\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("taskq_queue_unclaimable{queue=\"default\"} 2"),
        "{text}"
    );
    let (status, _) = call(&app, Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

pub(super) async fn metrics_show_attempts_and_run_times_as_tasks_run(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let finished = "{queue=\"default\",state=\"FINISHED\"}";
    let slow_finished = "{queue=\"slow\",state=\"FINISHED\"}";
    let slow_cancelled = "{queue=\"slow\",state=\"CANCELLED\"}";
    let echo = submit_echo(&app, "a", json!({})).await;
    let (_, text) = get(&app, "/metrics").await;
    let text = text.as_str().expect("text");
    assert!(
        text.contains("# TYPE taskq_recent_task_run_seconds summary"),
        "{text}"
    );
    assert_eq!(
        sample_value(text, &format!("taskq_recent_task_attempts_count{finished}")),
        0.0
    );
    assert_eq!(
        sample_value(
            text,
            &format!("taskq_recent_task_run_seconds_count{finished}")
        ),
        0.0
    );

    let (stop, running) = spawn_worker(test_worker(&client));
    let slow = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 4 } }),
    )
    .await
    .1;
    let pending_slow = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "slow", "params": { "steps": 1 }, "countdown": 3600 }),
    )
    .await
    .1;
    post(
        &app,
        &format!("/api/tasks/{}/cancel", pending_slow["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    wait_for(&app, echo["id"].as_str().unwrap(), |t| {
        t["state"] == "FINISHED"
    })
    .await;
    wait_for(&app, slow["id"].as_str().unwrap(), |t| {
        t["state"] == "FINISHED"
    })
    .await;
    stop.shutdown();
    running.await.expect("join").expect("worker");

    let (_, text) = get(&app, "/metrics").await;
    let text = text.as_str().expect("text");
    for (series, want) in [
        (format!("taskq_recent_task_attempts_sum{finished}"), 1.0),
        (format!("taskq_recent_task_attempts_count{finished}"), 1.0),
        (
            format!("taskq_recent_task_run_seconds_count{finished}"),
            1.0,
        ),
        (
            format!("taskq_recent_task_run_seconds_count{slow_finished}"),
            1.0,
        ),
        // Cancelled before it ran: no attempt, no run time.
        (
            format!("taskq_recent_task_attempts_count{slow_cancelled}"),
            1.0,
        ),
        (
            format!("taskq_recent_task_attempts_sum{slow_cancelled}"),
            0.0,
        ),
        (
            format!("taskq_recent_task_run_seconds_count{slow_cancelled}"),
            0.0,
        ),
    ] {
        assert_eq!(sample_value(text, &series), want, "{series}\n{text}");
    }
    // Four steps of 50 ms: the run took at least 0.2 s.
    let slow_run = sample_value(
        text,
        &format!("taskq_recent_task_run_seconds_sum{slow_finished}"),
    );
    assert!((0.2..60.0).contains(&slow_run), "{slow_run}");
    let median = sample_value(
        text,
        "taskq_recent_task_run_seconds{queue=\"slow\",state=\"FINISHED\",quantile=\"0.5\"}",
    );
    assert_eq!(median, slow_run, "one sample: every quantile is it");
}

/// `GET api/stats/throughput`: what a worker ended, counted per minute and
/// queue once it reported (its last report is at shutdown); bad queries
/// are 400s naming `minutes`.
pub(super) async fn throughput_counts_what_workers_ended(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let (status, empty) = get(&app, "/api/stats/throughput").await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["minutes"], 60);
    let before: u64 = finished_in(&empty, "default");

    let (stop, running) = spawn_worker(test_worker(&client));
    let mut ids = Vec::new();
    for text in ["a", "b", "c"] {
        ids.push(submit_echo(&app, text, json!({})).await["id"].clone());
    }
    for id in &ids {
        wait_for(&app, id.as_str().unwrap(), |t| t["state"] == "FINISHED").await;
    }
    stop.shutdown();
    running.await.expect("join").expect("worker");

    let (status, counted) = get(&app, "/api/stats/throughput?minutes=5").await;
    assert_eq!(status, StatusCode::OK, "{counted}");
    assert_eq!(counted["minutes"], 5);
    assert_eq!(finished_in(&counted, "default") - before, 3, "{counted}");

    for query in ["minutes=0", "minutes=1441", "minutes=x", "minutes="] {
        let (status, error) = get(&app, &format!("/api/stats/throughput?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {error}");
        assert_eq!(error["error"]["details"]["field"], "minutes", "{query}");
    }
}

/// The finished attempts of `queue` in a throughput answer.
fn finished_in(throughput: &Value, queue: &str) -> u64 {
    throughput["counts"]
        .as_array()
        .expect("counts")
        .iter()
        .filter(|c| c["queue"] == queue)
        .map(|c| c["finished"].as_u64().expect("a count"))
        .sum()
}
