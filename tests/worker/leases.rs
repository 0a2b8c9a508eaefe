//! Shutdown, rescue of a dead worker's tasks, retention, refused calls and slow handlers.

use super::*;

pub async fn shutdown_releases_unfinished_tasks(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client
        .submit(
            sleeper,
            Sleep {
                ms: 10_000,
                cooperative: false,
            },
        )
        .await
        .unwrap();
    wait_for(&client, id, |r| r.state == TaskState::Running).await;
    stop().await;
    let released = client.get(id).await.unwrap();
    assert_eq!((released.state, released.attempt), (TaskState::Pending, 0));
    assert!(released.lease_until.is_none());
}

pub async fn dead_worker_tasks_are_rescued(backend: Arc<dyn Backend>) {
    let client = Client::new(backend.clone()).unwrap();
    let id = client
        .submit(
            echo,
            Echo {
                text: "rescued".into(),
                times: 1,
            },
        )
        .max_retries(1)
        .await
        .unwrap();
    // A worker that claims and then dies: nobody renews the lease.
    let claimed = backend
        .claim(taskq::backend::ClaimRequest {
            queue: "default",
            limit: 1,
            worker_id: "dead-worker",
            lease: Duration::from_millis(100),
            now: chrono::Utc::now(),
            task_types: None,
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let worker = fast_worker(&client)
        .maintenance(MaintenanceConfig {
            rescue_interval: Duration::from_millis(50),
            ..MaintenanceConfig::default()
        })
        .build()
        .unwrap();
    let stop = spawn(worker);
    let done = wait_terminal(&client, id).await;
    assert_eq!((done.state, done.attempt), (TaskState::Finished, 2));
    assert_ne!(done.worker_id.as_deref(), Some("dead-worker"));
    stop().await;
}

pub async fn retention_prunes_old_records(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let worker = fast_worker(&client)
        .maintenance(MaintenanceConfig {
            retention: Some(Duration::from_millis(300)),
            prune_interval: Duration::from_millis(50),
            ..MaintenanceConfig::default()
        })
        .build()
        .unwrap();
    let stop = spawn(worker);
    let id = client
        .submit(
            echo,
            Echo {
                text: "old".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(wait_terminal(&client, id).await.state, TaskState::Finished);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while client.get(id).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "record was never pruned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(client.get(id).await, Err(Error::NotFound(_))));
    stop().await;
}

pub async fn client_errors_change_nothing(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let missing = uuid::Uuid::now_v7();
    assert!(matches!(client.get(missing).await, Err(Error::NotFound(_))));
    assert!(matches!(
        client.cancel(missing).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        client.reorder(missing, Position::Front).await,
        Err(Error::NotFound(_))
    ));
    for bad in ["", ".", "..", "a/b", "a\nb"] {
        assert!(
            matches!(
                client.pause_queue(bad).await,
                Err(Error::InvalidName { kind: "queue", .. })
            ),
            "{bad:?}"
        );
    }
    let err = client
        .submit(
            sleeper,
            Sleep {
                ms: 1,
                cooperative: true,
            },
        )
        .soft_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let echo_x = || Echo {
        text: "x".into(),
        times: 1,
    };
    let err = client
        .submit(echo, echo_x())
        .timeout(Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    // Overrides past what every backend stores are refused, never clamped
    // or stored unreadable: an ETA past year 9999 (by countdown or by
    // time), more retries than SQL keeps, a timeout longer than Redis
    // keeps.
    let refused = |err: Error, field: &str| match err {
        Error::InvalidArgument(message) => {
            assert!(message.starts_with(field), "{field}: {message}")
        }
        other => panic!("{field}: expected InvalidArgument, got {other}"),
    };
    for countdown in [1e12, 3e14, 1e15] {
        let err = client
            .submit(echo, echo_x())
            .countdown(Duration::from_secs_f64(countdown))
            .await
            .unwrap_err();
        refused(err, "countdown");
    }
    let past_9999 = taskq::bounds::LATEST_TIME + chrono::Duration::seconds(1);
    let err = client
        .submit(echo, echo_x())
        .at(past_9999)
        .await
        .unwrap_err();
    refused(err, "run_at");
    let before_1970 = chrono::DateTime::UNIX_EPOCH - chrono::Duration::seconds(1);
    let err = client
        .submit(echo, echo_x())
        .at(before_1970)
        .await
        .unwrap_err();
    refused(err, "run_at");
    let err = client
        .submit(echo, echo_x())
        .max_retries(taskq::bounds::MAX_RETRIES + 1)
        .await
        .unwrap_err();
    refused(err, "max_retries");
    let err = client
        .submit(echo, echo_x())
        .timeout(taskq::bounds::MAX_TIMEOUT + Duration::from_secs(1))
        .await
        .unwrap_err();
    refused(err, "timeout");
    let err = client
        .submit(echo, echo_x())
        .soft_timeout(Duration::ZERO)
        .await
        .unwrap_err();
    refused(err, "soft_timeout");
    // A queue name that would break keys, URLs or labels.
    let err = client
        .submit(echo, echo_x())
        .queue("a b:{c}")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("queue name"), "{err}");
    let err = client.submit(echo, echo_x()).queue("..").await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidName { kind: "queue", name, .. } if name == ".."),
        "{err}"
    );
    let err = Worker::builder(&client)
        .queue("a b:{c}", 1)
        .build()
        .err()
        .expect("a worker refuses the queue name");
    assert!(err.to_string().contains("queue name"), "{err}");
    // Params over the client's limit, alone or in a batch.
    let small = client.clone().with_payload_limits(taskq::PayloadLimits {
        max_params_bytes: 64,
        ..taskq::PayloadLimits::DEFAULT
    });
    let big = || Echo {
        text: "x".repeat(100),
        times: 1,
    };
    let err = small.submit(echo, big()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::PayloadTooLarge {
                what: "params",
                limit: 64,
                ..
            }
        ),
        "{err}"
    );
    let err = small
        .submit_many(echo, [echo_x(), big()])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err}");
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
    assert!(matches!(
        client.retry(id).await,
        Err(Error::InvalidTransition { .. })
    ));
    let listed = client
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.items[0].state, TaskState::Pending);
}

pub async fn slow_handler_does_not_hold_back_its_batch(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    // Submitted before the worker starts, so one claim takes them all.
    let slow = client
        .submit(
            sleeper,
            Sleep {
                ms: 5_000,
                cooperative: false,
            },
        )
        .await
        .unwrap();
    let mut fast = Vec::new();
    for i in 0..6 {
        let text = format!("fast {i}");
        fast.push(client.submit(echo, Echo { text, times: 1 }).await.unwrap());
    }
    let stop = spawn(
        Worker::builder(&client)
            .queue("default", 8)
            .shutdown_grace(Duration::from_millis(100))
            .build()
            .unwrap(),
    );
    for id in fast {
        let done = wait_terminal(&client, id).await;
        assert_eq!(done.state, TaskState::Finished, "{done:?}");
    }
    let slow = client.get(slow).await.unwrap();
    assert_eq!(
        slow.state,
        TaskState::Running,
        "the slow handler still runs while the fast ones of its batch are done"
    );
    stop().await;
}
