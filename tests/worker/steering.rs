//! Steering tasks: cancel, progress, delays, priorities and reorder, pause, retry.

use super::*;

pub async fn cancel_pending_and_running(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let pending = client
        .submit(
            echo,
            Echo {
                text: "never".into(),
                times: 1,
            },
        )
        .countdown(Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        client.cancel(pending).await.unwrap().state,
        TaskState::Cancelled
    );

    let stop = spawn(fast_worker(&client).build().unwrap());
    let polite = client
        .submit(
            sleeper,
            Sleep {
                ms: 10_000,
                cooperative: true,
            },
        )
        .await
        .unwrap();
    let stubborn = client
        .submit(
            sleeper,
            Sleep {
                ms: 10_000,
                cooperative: false,
            },
        )
        .await
        .unwrap();
    for id in [polite, stubborn] {
        wait_for(&client, id, |r| r.state == TaskState::Running).await;
        let requested = client.cancel(id).await.unwrap();
        assert!(requested.cancel_requested);
    }
    let polite = wait_terminal(&client, polite).await;
    assert_eq!(polite.state, TaskState::Cancelled);
    assert_eq!(polite.error.unwrap().message, "stopped on request");
    let stubborn = wait_terminal(&client, stubborn).await;
    assert_eq!(stubborn.state, TaskState::Cancelled);
    assert!(stubborn.error.unwrap().message.contains("grace"));
    let never = client.get(pending).await.unwrap();
    assert_eq!((never.state, never.attempt), (TaskState::Cancelled, 0));
    assert!(matches!(
        client.cancel(pending).await,
        Err(Error::InvalidTransition { .. })
    ));
    stop().await;
}

pub async fn progress_is_readable_while_running(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client
        .submit(
            stepper,
            Steps {
                steps: 4,
                step_ms: 150,
            },
        )
        .await
        .unwrap();
    let midway = wait_for(&client, id, |r| r.progress.is_some()).await;
    assert_eq!(midway.state, TaskState::Running);
    let progress = midway.progress.unwrap();
    assert!(
        progress.fraction > 0.0 && progress.fraction < 1.0,
        "{progress:?}"
    );
    assert!(progress.message.starts_with("step "));
    let done = wait_terminal(&client, id).await;
    assert_eq!(done.progress.unwrap().fraction, 1.0);
    stop().await;
}

pub async fn eta_and_countdown_are_respected(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(600);
    let id = client
        .submit(
            echo,
            Echo {
                text: "later".into(),
                times: 1,
            },
        )
        .at(at)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.get(id).await.unwrap().state, TaskState::Pending);
    let done = wait_terminal(&client, id).await;
    assert!(done.started_at.unwrap() >= at, "started before its ETA");
    stop().await;
}

pub async fn priorities_and_reorder_decide_order(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let tag = unique("order");
    let text = |s: &str| Echo {
        text: format!("{tag}:{s}"),
        times: 1,
    };
    let low = client
        .submit(record_order, text("low"))
        .priority(1)
        .await
        .unwrap();
    let _high = client
        .submit(record_order, text("high"))
        .priority(9)
        .await
        .unwrap();
    let _mid = client.submit(record_order, text("mid")).await.unwrap();
    let last = client
        .submit(record_order, text("moved-first"))
        .priority(1)
        .await
        .unwrap();
    client.reorder(last, Position::Front).await.unwrap();
    client.reorder(low, Position::Back).await.unwrap();
    let worker = Worker::builder(&client)
        .queue("ordered", 1)
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let stop = spawn(worker);
    wait_terminal(&client, low).await;
    stop().await;
    let order: Vec<String> = ORDER
        .lock()
        .unwrap()
        .iter()
        .filter_map(|s| s.strip_prefix(&format!("{tag}:")).map(str::to_owned))
        .collect();
    assert_eq!(order, ["moved-first", "high", "mid", "low"]);
}

pub async fn paused_queue_waits_for_resume(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    client.pause_queue("default").await.unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client
        .submit(
            echo,
            Echo {
                text: "x".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.get(id).await.unwrap().state, TaskState::Pending);
    let stats = client.queue_stats().await.unwrap();
    assert!(
        stats
            .iter()
            .any(|q| q.queue == "default" && q.paused && q.pending == 1)
    );
    client.resume_queue("default").await.unwrap();
    assert_eq!(wait_terminal(&client, id).await.state, TaskState::Finished);
    stop().await;
}

pub async fn retry_reruns_failed_task_with_same_id(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let key = unique("retry");
    let id = client
        .submit(flaky, Flaky { key, failures: 1 })
        .max_retries(0)
        .await
        .unwrap();
    assert_eq!(wait_terminal(&client, id).await.state, TaskState::Failed);
    assert!(matches!(
        client.retry(uuid::Uuid::now_v7()).await,
        Err(Error::NotFound(_))
    ));
    let retried = client.retry(id).await.unwrap();
    assert_eq!(retried.id, id);
    let done = wait_terminal(&client, id).await;
    assert_eq!((done.state, done.attempt), (TaskState::Finished, 2));
    assert!(matches!(
        client.retry(id).await,
        Err(Error::InvalidTransition { .. })
    ));
    stop().await;
}
