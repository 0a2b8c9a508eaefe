//! Wake-ups and cancels that cross from one connection (host) to another.

use super::*;

/// An enqueue on one host wakes an idle worker on another at once.
pub(super) async fn enqueue_wakes_other_hosts(target: Target) {
    let url = target.url.clone();
    let (worker_host, client_host) = two_hosts(&url).await;
    let signal = worker_host.work_signal().expect("redis has a work signal");
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let task = record("t", "q", 5, Utc::now());
    client_host
        .enqueue(vec![task.clone()])
        .await
        .expect("enqueue");
    tokio::time::timeout(Duration::from_secs(2), woken)
        .await
        .expect("the worker's host was woken by the enqueue");
    let claimed = worker_host
        .claim(claim_request("q", "w"))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);

    // A task due later wakes nobody before it is due.
    let later = record("t", "q", 5, Utc::now() + chrono::Duration::seconds(60));
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    client_host.enqueue(vec![later]).await.expect("enqueue");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), woken)
            .await
            .is_err(),
        "a task not due yet woke the worker"
    );
}

/// A delayed task wakes an idle worker's host when it comes due, whether
/// the host learnt its due time from the enqueue's announcement or from
/// its own claim (a task enqueued before the host connected).
pub(super) async fn delayed_task_wakes_worker_when_due(target: Target) {
    let url = target.url.clone();
    let delay = chrono::Duration::milliseconds(300);

    // Enqueued before the worker's host connects: its claim learns when.
    let config = test_config(&url);
    let mut worker_config = config.clone();
    worker_config.delete_keys_on_drop = false;
    let client_host = RedisBackend::connect_with(config).await.expect("connect");
    let early = record("t", "q", 5, Utc::now() + delay);
    client_host.enqueue(vec![early]).await.expect("enqueue");
    let worker_host = RedisBackend::connect_with(worker_config)
        .await
        .expect("connect");
    let signal = worker_host.work_signal().expect("redis has a work signal");
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let claimed = worker_host
        .claim(claim_request("q", "w"))
        .await
        .expect("claim");
    assert!(claimed.is_empty(), "claimed before it was due");
    tokio::time::timeout(Duration::from_secs(2), woken)
        .await
        .expect("the claim's due time woke the host");
    assert_eq!(
        worker_host
            .claim(claim_request("q", "w"))
            .await
            .expect("claim")
            .len(),
        1
    );

    // Enqueued while the host waits: the enqueue announces when.
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let due = Utc::now() + delay;
    client_host
        .enqueue(vec![record("t", "q", 5, due)])
        .await
        .expect("enqueue");
    tokio::time::timeout(Duration::from_secs(2), woken)
        .await
        .expect("the announced due time woke the host");
    assert!(Utc::now() >= due, "woken before the task was due");
    assert_eq!(
        worker_host
            .claim(claim_request("q", "w"))
            .await
            .expect("claim")
            .len(),
        1
    );
}

/// A cancel made on one host reaches the running attempt's worker on
/// another through its next heartbeat.
pub(super) async fn cancel_reaches_worker_on_other_host(target: Target) {
    let url = target.url.clone();
    let (worker_host, client_host) = two_hosts(&url).await;
    let task = record("t", "q", 5, Utc::now());
    client_host
        .enqueue(vec![task.clone()])
        .await
        .expect("enqueue");
    worker_host
        .claim(claim_request("q", "w"))
        .await
        .expect("claim");
    let requested = client_host
        .cancel(task.id, Utc::now())
        .await
        .expect("cancel");
    assert!(requested.cancel_requested);
    let statuses = worker_host
        .heartbeat(
            "w",
            &[(task.id, 1)],
            Utc::now() + chrono::Duration::seconds(30),
        )
        .await
        .expect("heartbeat");
    assert_eq!(statuses, vec![taskq_core::LeaseStatus::CancelRequested]);
}

/// A task with a short countdown starts when due, not at the next poll.
pub(super) async fn countdown_task_starts_when_due(target: Target) {
    let url = target.url.clone();
    let (_worker, client, shutdown, running) = worker_host_pair(&url).await;
    let key = unique_prefix();
    let submitted = Instant::now();
    client
        .submit(marks_start, key.clone())
        .countdown(Duration::from_millis(100))
        .await
        .expect("submit");
    let started = wait_mark(&key, Duration::from_secs(1))
        .await
        .duration_since(submitted);
    assert!(
        started >= Duration::from_millis(100),
        "started early: {started:?}"
    );
    assert!(
        started < Duration::from_millis(400),
        "started late: {started:?}"
    );
    shutdown.shutdown();
    running.await.expect("join");
}

/// A cancel requested on one host stops the task running on another at
/// once (pub/sub), not at the worker's next heartbeat.
pub(super) async fn cancel_stops_running_task_on_other_host_promptly(target: Target) {
    let url = target.url.clone();
    let (worker, client, shutdown, running) = worker_host_pair(&url).await;
    let key = unique_prefix();
    let (id, stopped) = time_cancel_of_running(&client, &key, Duration::from_secs(1)).await;
    assert!(
        stopped < Duration::from_secs(1),
        "the cancel took {stopped:?}"
    );
    for _ in 0..200 {
        if worker.get(id).await.expect("get").state == taskq::TaskState::Cancelled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        worker.get(id).await.expect("get").state,
        taskq::TaskState::Cancelled
    );
    shutdown.shutdown();
    running.await.expect("join");
}

/// A type limit set on one host binds the next claim of a worker on
/// another that already claimed the type with none: the claim script
/// reads the queue's copy of the limits, which the setter synced before
/// it returned. A copy lost (or never written) is synced again by the
/// next claim, which still keeps the limit.
pub(super) async fn limit_type_set_on_another_host_binds_its_claims(target: Target) {
    let config = test_config(&target.url);
    let prefix = config.prefix.clone();
    let mut second = config.clone();
    second.delete_keys_on_drop = false;
    let worker_host = RedisBackend::connect_with(config).await.expect("connect");
    let client_host = RedisBackend::connect_with(second).await.expect("connect");
    let t0 = Utc::now() - chrono::Duration::seconds(10);
    let tasks: Vec<TaskRecord> = (0..4)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::milliseconds(i)))
        .collect();
    client_host.enqueue(tasks).await.expect("enqueue");
    let first = worker_host.claim(claim_up_to("q", 1)).await.expect("claim");
    assert_eq!(first.len(), 1, "no limit yet");
    client_host
        .set_type_limit("t", Some(2))
        .await
        .expect("limit");
    let second = worker_host
        .claim(claim_up_to("q", 10))
        .await
        .expect("claim");
    assert_eq!(second.len(), 1, "the limit set on the other host binds");
    // The queue's copy lost: the next claim syncs it and keeps the limit.
    let raw = cluster_client(&target).await;
    let copy = format!("{{{prefix}:q}}:type-limits");
    let deleted: i64 = raw.del(copy.as_str()).await.expect("del");
    assert_eq!(deleted, 1, "the queue's copy of the limits was there");
    client_host
        .set_type_limit("t", Some(3))
        .await
        .expect("limit");
    raw.del::<i64, _>(copy.as_str()).await.expect("del");
    let third = worker_host
        .claim(claim_up_to("q", 10))
        .await
        .expect("claim");
    assert_eq!(
        third.len(),
        1,
        "synced again from the global hash: 3 at most"
    );
    assert!(
        worker_host
            .claim(claim_up_to("q", 10))
            .await
            .expect("claim")
            .is_empty()
    );
    let _ = raw.quit().await;
}
