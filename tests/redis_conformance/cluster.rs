//! What only a cluster shows: calls spanning every node, announcements across nodes, hash tags.

use super::*;

/// Queues on every node, driven by calls that each span all of them: one
/// enqueue batch, one heartbeat, one settle batch, lists and stats over
/// every queue, a purge; then `delete_all_keys` empties every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    taskq_no_redis_cluster,
    ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
)]
async fn redis_cluster_calls_span_queues_on_every_node() {
    let target = Target::cluster();
    let config = test_config(&target.url);
    let backend = RedisBackend::connect_with(config.clone())
        .await
        .expect("connect");
    let client = cluster_client(&target).await;
    let queues = queues_on_every_node(&client, &config.prefix, 2);
    let _ = client.quit().await;

    // One batch over six queues: two due tasks and one delayed each.
    let now = Utc::now();
    let mut tasks = Vec::new();
    for queue in &queues {
        tasks.push(record("t", queue, 5, now));
        tasks.push(record("t", queue, 5, now));
        tasks.push(record("t", queue, 5, now + chrono::Duration::seconds(60)));
    }
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let nodes = keys_per_node(&target, &format!("*{}*", config.prefix)).await;
    assert!(
        nodes.iter().all(|keys| !keys.is_empty()),
        "every node holds some of the queues' keys: {nodes:?}"
    );

    let mut claimed = Vec::new();
    for queue in &queues {
        let got = backend.claim(claim_up_to(queue, 10)).await.expect("claim");
        assert_eq!(got.len(), 2, "the due tasks of `{queue}`");
        claimed.extend(got);
    }
    let held: Vec<_> = claimed.iter().map(|r| (r.id, r.attempt)).collect();
    let statuses = backend
        .heartbeat("w", &held, Utc::now() + chrono::Duration::seconds(30))
        .await
        .expect("heartbeat");
    assert!(
        statuses.iter().all(|s| *s == taskq_core::LeaseStatus::Held),
        "{statuses:?}"
    );

    // Settle everything at once: half finish, half come back as retries.
    let settlements = claimed
        .iter()
        .enumerate()
        .map(|(i, r)| Settlement {
            id: r.id,
            attempt: r.attempt,
            outcome: if i % 2 == 0 {
                Outcome::Finished(json!(i))
            } else {
                Outcome::Retry {
                    error: taskq::TaskFailure {
                        kind: taskq::ErrorKind::Retryable,
                        message: "again".into(),
                    },
                    run_at: Utc::now(),
                }
            },
            at: Utc::now(),
        })
        .collect();
    let applied = backend.settle(settlements).await.expect("settle");
    assert!(applied.iter().all(|a| *a), "{applied:?}");

    let listed = backend
        .list(&Default::default(), taskq::PageRequest::new(1, 100))
        .await
        .expect("list");
    assert_eq!(listed.total, tasks.len() as u64);
    let listed_ids: BTreeSet<_> = listed.items.iter().map(|r| r.id).collect();
    let enqueued_ids: BTreeSet<_> = tasks.iter().map(|r| r.id).collect();
    assert_eq!(listed_ids, enqueued_ids);
    let finished = backend
        .list(
            &taskq::TaskFilter {
                state: Some(taskq::TaskState::Finished),
                ..Default::default()
            },
            taskq::PageRequest::new(1, 100),
        )
        .await
        .expect("list finished");
    assert_eq!(finished.total, queues.len() as u64);

    let stats = backend.queue_stats().await.expect("stats");
    let stat_queues: BTreeSet<_> = stats.iter().map(|s| s.queue.clone()).collect();
    assert_eq!(stat_queues, queues.iter().cloned().collect());
    for s in &stats {
        assert_eq!((s.pending, s.scheduled, s.running), (1, 1, 0), "{s:?}");
    }

    let purged = backend
        .purge(&taskq::TaskState::TERMINAL, Utc::now())
        .await
        .expect("purge");
    assert_eq!(purged, queues.len() as u64);
    for task in claimed.iter().step_by(2) {
        assert!(backend.get(task.id).await.expect("get").is_none());
    }

    let deleted = backend.delete_all_keys().await.expect("delete all keys");
    assert!(deleted > 0);
    let left = keys_per_node(&target, &format!("*{}*", config.prefix)).await;
    assert!(
        left.iter().all(Vec::is_empty),
        "keys left on the nodes: {left:?}"
    );
}

/// Announcements made on any node reach a process whose subscriber
/// connection sits on one node: work on queues of every node, a delayed
/// task's due time, a running task's cancel, a schedule write and a
/// worker control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    taskq_no_redis_cluster,
    ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
)]
async fn redis_cluster_announcements_reach_other_nodes() {
    let target = Target::cluster();
    let (listener, speaker) = two_hosts(&target.url).await;
    let client = cluster_client(&target).await;
    let queues = queues_on_every_node(&client, &listener.config().prefix, 1);
    let _ = client.quit().await;

    let work = listener.work_signal().expect("work signal");
    let cancel = listener.cancel_signal().expect("cancel signal");
    for queue in &queues {
        let task = record("t", queue, 5, Utc::now());
        expect_signal(&work, &format!("work on `{queue}`"), async {
            speaker.enqueue(vec![task.clone()]).await.expect("enqueue")
        })
        .await;
        // A delayed task's due time is announced, then wakes at due.
        let delay = chrono::Duration::milliseconds(300);
        expect_signal(&work, &format!("delayed work on `{queue}`"), async {
            speaker
                .enqueue(vec![record("t", queue, 5, Utc::now() + delay)])
                .await
                .expect("enqueue delayed")
        })
        .await;
        speaker.claim(claim_up_to(queue, 1)).await.expect("claim");
        let requested = expect_signal(&cancel, &format!("a cancel on `{queue}`"), async {
            speaker.cancel(task.id, Utc::now()).await.expect("cancel")
        })
        .await;
        assert!(requested.cancel_requested);
    }

    let schedules = listener.schedule_signal().expect("schedule signal");
    let schedule = taskq::Schedule::new(
        taskq::ScheduleDef::interval("every-minute", "t", Duration::from_secs(60)),
        Utc::now(),
    )
    .expect("schedule");
    expect_signal(&schedules, "a schedule write", async {
        speaker
            .create_schedule(schedule)
            .await
            .expect("create schedule")
    })
    .await;

    let controls = listener.control_signal().expect("control signal");
    listener
        .register_worker(&worker_info("w-1", chrono::Duration::seconds(30)))
        .await
        .expect("register");
    expect_signal(&controls, "a worker control", async {
        speaker
            .control_worker("w-1", WorkerControl::Pause, Utc::now())
            .await
            .expect("control")
    })
    .await;
}

/// A backend on a cluster whose prefix would leave the hash tag empty
/// (`{}` hashes the whole key) is refused: its queues' keys would scatter
/// over slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    taskq_no_redis_cluster,
    ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
)]
async fn redis_cluster_prefix_keeps_the_hash_tag() {
    let target = Target::cluster();
    let mut config = test_config(&target.url);
    config.prefix = format!("}}{}", config.prefix);
    assert!(matches!(
        RedisBackend::connect_with(config).await,
        Err(taskq::Error::InvalidArgument(_))
    ));
}
