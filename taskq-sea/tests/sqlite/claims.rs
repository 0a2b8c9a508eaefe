//! Claim order, delays, fencing, heartbeats, rescue and concurrent claimers on one file.

use super::*;

#[tokio::test]
async fn claim_order_priority_then_eta_then_fifo_sqlite() {
    let backend = fresh_sqlite().await;
    let t0 = whole_second();
    // ETAs a microsecond apart, one on a whole second: stored as text of
    // different lengths ("…:40+00:00" vs "…:40.000001+00:00").
    let eta_whole = record("t", "q", 5, t0);
    let eta_plus_1us = record("t", "q", 5, t0 + us(1));
    let eta_minus_1us = record("t", "q", 5, t0 - us(1));
    let mut fifo_a = record("t", "q", 5, t0 + ms(500));
    let mut fifo_b = record("t", "q", 5, t0 + ms(500));
    fifo_a.seq = eta_plus_1us.seq + 10;
    fifo_b.seq = fifo_a.seq + 1;
    let high = record("t", "q", 6, t0 + ms(900));
    let low = record("t", "q", -1, t0 - ms(900));
    backend
        .enqueue(vec![
            fifo_b.clone(),
            low.clone(),
            eta_plus_1us.clone(),
            fifo_a.clone(),
            eta_whole.clone(),
            high.clone(),
            eta_minus_1us.clone(),
        ])
        .await
        .expect("enqueue");
    let claimed = claim(&backend, "q", 100, "w").await;
    assert_eq!(
        ids(&claimed),
        vec![
            high.id,
            eta_minus_1us.id,
            eta_whole.id,
            eta_plus_1us.id,
            fifo_a.id,
            fifo_b.id,
            low.id
        ]
    );
    for c in &claimed {
        assert_eq!((c.state, c.attempt), (TaskState::Running, 1));
    }
}

#[tokio::test]
async fn eta_not_claimed_early_sqlite() {
    let backend = fresh_sqlite().await;
    let base = whole_second() + chrono::Duration::seconds(200);
    let on_second = record("t", "q", 5, base);
    let fractional = record("t", "q", 5, base + ms(250));
    backend
        .enqueue(vec![on_second.clone(), fractional.clone()])
        .await
        .expect("enqueue");
    let lease = Duration::from_secs(30);
    assert!(
        claim_at(&backend, "q", 10, "w", base - us(1), lease)
            .await
            .is_empty()
    );
    // Exactly at the ETA is due.
    let at_eta = claim_at(&backend, "q", 10, "w", base, lease).await;
    assert_eq!(ids(&at_eta), vec![on_second.id]);
    assert!(
        claim_at(&backend, "q", 10, "w", base + ms(250) - us(1), lease)
            .await
            .is_empty()
    );
    let later = claim_at(&backend, "q", 10, "w", base + ms(250), lease).await;
    assert_eq!(ids(&later), vec![fractional.id]);
}

#[tokio::test]
async fn settle_fencing_rejects_stale_attempt_sqlite() {
    let backend = fresh_sqlite().await;
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let start = Utc::now();
    claim_at(&backend, "q", 1, "old", start, Duration::from_millis(10)).await;
    backend
        .rescue_expired(
            start + ms(20),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("rescue");
    let second = claim_at(
        &backend,
        "q",
        1,
        "new",
        start + ms(30),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(second[0].attempt, 2);
    let applied = backend
        .settle(vec![
            Settlement {
                id: task.id,
                attempt: 1,
                outcome: Outcome::Finished(json!("stale")),
                at: Utc::now(),
            },
            Settlement {
                id: TaskId::now_v7(),
                attempt: 1,
                outcome: Outcome::Finished(json!("unknown")),
                at: Utc::now(),
            },
            Settlement {
                id: task.id,
                attempt: 2,
                outcome: Outcome::Finished(json!(null)),
                at: Utc::now(),
            },
            Settlement {
                id: task.id,
                attempt: 2,
                outcome: Outcome::Finished(json!("twice")),
                at: Utc::now(),
            },
        ])
        .await
        .expect("settle");
    assert_eq!(applied, vec![false, false, true, false]);
    let done = get(&backend, task.id).await;
    assert_eq!(done.state, TaskState::Finished);
    // A JSON null result is a result, not a missing one.
    assert_eq!(done.result, Some(json!(null)));
    assert_eq!(done.worker_id.as_deref(), Some("new"));
}

#[tokio::test]
async fn heartbeat_statuses_sqlite() {
    let backend = fresh_sqlite().await;
    let t0 = Utc::now() - ms(10);
    let a = record("t", "q", 5, t0);
    let b = record("t", "q", 5, t0 + ms(1));
    let c = record("t", "q", 5, t0 + ms(2));
    backend
        .enqueue(vec![a.clone(), b.clone(), c.clone()])
        .await
        .expect("enqueue");
    claim(&backend, "q", 2, "w1").await;
    claim(&backend, "q", 1, "w2").await;
    backend.cancel(b.id, Utc::now()).await.expect("cancel");
    let lease = Utc::now() + chrono::Duration::seconds(90);
    let statuses = backend
        .heartbeat(
            "w1",
            &[
                (a.id, 1),
                (b.id, 1),
                (c.id, 1),
                (a.id, 2),
                (TaskId::now_v7(), 1),
            ],
            lease,
        )
        .await
        .expect("heartbeat");
    assert_eq!(
        statuses,
        vec![
            LeaseStatus::Held,
            LeaseStatus::CancelRequested,
            LeaseStatus::Lost,
            LeaseStatus::Lost,
            LeaseStatus::Lost
        ]
    );
    assert_eq!(get(&backend, a.id).await.lease_until, Some(lease));
    assert_ne!(get(&backend, c.id).await.lease_until, Some(lease));
    assert!(
        backend
            .heartbeat("w1", &[], lease)
            .await
            .expect("empty")
            .is_empty()
    );
    // Many tasks in one call (more than one statement's worth).
    let many: Vec<TaskRecord> = (0..900)
        .map(|i| record("t", "many", 5, t0 + us(i)))
        .collect();
    backend.enqueue(many.clone()).await.expect("enqueue");
    claim(&backend, "many", 1000, "w3").await;
    let held: Vec<(TaskId, u32)> = many.iter().map(|r| (r.id, 1)).collect();
    let statuses = backend.heartbeat("w3", &held, lease).await.expect("hb");
    assert_eq!(statuses.len(), 900);
    assert!(statuses.iter().all(|s| *s == LeaseStatus::Held));
}

#[tokio::test]
async fn rescue_sqlite() {
    let backend = fresh_sqlite().await;
    let start = Utc::now() - chrono::Duration::seconds(60);
    let mut spent = record("t", "q", 9, start);
    spent.max_retries = 0;
    let retryable = record("t", "q", 8, start);
    let to_cancel = record("t", "q", 7, start);
    let live = record("t", "q", 6, start);
    backend
        .enqueue(vec![
            spent.clone(),
            retryable.clone(),
            to_cancel.clone(),
            live.clone(),
        ])
        .await
        .expect("enqueue");
    // Leases ending 500.25 ms and 500.5 ms after `start`.
    claim_at(
        &backend,
        "q",
        3,
        "dead",
        start,
        Duration::from_micros(500_250),
    )
    .await;
    claim_at(
        &backend,
        "q",
        1,
        "alive",
        start,
        Duration::from_micros(500_500),
    )
    .await;
    backend
        .cancel(to_cancel.id, Utc::now())
        .await
        .expect("cancel");
    // The lease end itself is not expired yet; a microsecond later it is.
    let none = backend
        .rescue_expired(
            start + us(500_250),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("rescue");
    assert_eq!(none, Default::default());
    let report = backend
        .rescue_expired(
            start + us(500_251),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("rescue");
    assert_eq!(
        (report.requeued, report.failed, report.cancelled),
        (1, 1, 1)
    );
    let failed = get(&backend, spent.id).await;
    assert_eq!(failed.state, TaskState::Failed);
    assert_eq!(
        failed.error,
        Some(failure(
            ErrorKind::LeaseExpired,
            "worker `dead` stopped renewing its lease"
        ))
    );
    assert!(failed.finished_at.is_some() && failed.lease_until.is_none());
    let requeued = get(&backend, retryable.id).await;
    assert_eq!((requeued.state, requeued.attempt), (TaskState::Pending, 1));
    assert_eq!(requeued.scheduled_at, start + us(500_251));
    let cancelled = get(&backend, to_cancel.id).await;
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert!(!cancelled.cancel_requested);
    assert_eq!(get(&backend, live.id).await.state, TaskState::Running);
    let reclaimed = claim(&backend, "q", 10, "w").await;
    assert_eq!(ids(&reclaimed), vec![retryable.id]);
    assert_eq!(reclaimed[0].attempt, 2);
}

#[tokio::test]
async fn rescue_handles_more_than_one_chunk_sqlite() {
    let backend = fresh_sqlite().await;
    let start = Utc::now() - chrono::Duration::seconds(60);
    let tasks: Vec<TaskRecord> = (0..1203)
        .map(|i| record("t", "q", 5, start + us(i)))
        .collect();
    backend.enqueue(tasks).await.expect("enqueue");
    let claimed = claim_at(
        &backend,
        "q",
        2000,
        "dead",
        start + ms(5),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(claimed.len(), 1203);
    let report = backend
        .rescue_expired(Utc::now(), &taskq_core::lifecycle::RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1203);
    assert_eq!(claim(&backend, "q", 2000, "w").await.len(), 1203);
}

/// Two backends (two pools, as two processes would have) on one file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claimers_on_one_file_sqlite() {
    let path = fresh_path();
    let first = Arc::new(SeaBackend::connect(&url(&path)).await.expect("connect"));
    let second = Arc::new(SeaBackend::connect(&url(&path)).await.expect("connect"));
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..2000)
        .map(|i| record("t", "q", (i % 3) as i32, t0 + us(i)))
        .collect();
    first.enqueue(tasks).await.expect("enqueue");
    let mut handles = Vec::new();
    for (n, backend) in [first.clone(), second.clone(), first, second]
        .into_iter()
        .enumerate()
    {
        handles.push(tokio::spawn(async move {
            let worker = format!("w{n}");
            let mut got = Vec::new();
            loop {
                let batch = claim(&*backend, "q", 13, &worker).await;
                if batch.is_empty() {
                    break;
                }
                got.extend(ids(&batch));
            }
            got
        }));
    }
    let mut seen = HashSet::new();
    for handle in handles {
        for id in handle.await.expect("claimer") {
            assert!(seen.insert(id), "task {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 2000);
    remove_db(&path);
}
