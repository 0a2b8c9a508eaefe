//! Purge, lists, stats, round trips, refusals, large batches and the work signal.

use super::*;

#[tokio::test]
async fn purge_compares_sub_second_times_sqlite() {
    let backend = fresh_sqlite().await;
    let t0 = Utc::now() - chrono::Duration::seconds(10);
    let tasks: Vec<TaskRecord> = (0..3).map(|i| record("t", "q", 5, t0 + us(i))).collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    claim(&backend, "q", 3, "w").await;
    let whole = whole_second();
    let finished = [whole, whole + us(1), whole + ms(500)];
    backend
        .settle(
            tasks
                .iter()
                .zip(finished)
                .map(|(t, at)| Settlement {
                    id: t.id,
                    attempt: 1,
                    outcome: Outcome::Finished(json!(1)),
                    at,
                })
                .collect(),
        )
        .await
        .expect("settle");
    let purge = |before| {
        let backend = &backend;
        async move {
            backend
                .purge(&[TaskState::Finished], before)
                .await
                .expect("purge")
        }
    };
    assert_eq!(purge(whole).await, 0, "strictly before");
    assert_eq!(purge(whole + us(1)).await, 1);
    assert_eq!(purge(whole + ms(500)).await, 1);
    assert_eq!(
        purge(whole + ms(500) + chrono::Duration::nanoseconds(1)).await,
        1
    );
    assert!(backend.purge(&[], Utc::now()).await.is_ok_and(|n| n == 0));
}

#[tokio::test]
async fn purge_more_than_one_chunk_sqlite() {
    let backend = fresh_sqlite().await;
    let t0 = Utc::now() - chrono::Duration::seconds(10);
    let tasks: Vec<TaskRecord> = (0..4500).map(|i| record("t", "q", 5, t0 + us(i))).collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    claim(&backend, "q", 5000, "w").await;
    let at = Utc::now() - chrono::Duration::seconds(1);
    backend
        .settle(
            tasks
                .iter()
                .map(|t| Settlement {
                    id: t.id,
                    attempt: 1,
                    outcome: Outcome::Failed(failure(ErrorKind::Permanent, "x")),
                    at,
                })
                .collect(),
        )
        .await
        .expect("settle");
    let purged = backend
        .purge(&[TaskState::Finished, TaskState::Failed], Utc::now())
        .await
        .expect("purge");
    assert_eq!(purged, 4500);
}

#[tokio::test]
async fn list_created_range_sub_millisecond_sqlite() {
    let backend = fresh_sqlite().await;
    let base = whole_second();
    let mut all = Vec::new();
    for i in 0..6 {
        let mut r = record("t", "q", 5, base);
        // 0, 1 µs, 2 µs, … apart, starting on a whole second.
        r.created_at = base + us(i);
        all.push(r);
    }
    backend.enqueue(all.clone()).await.expect("enqueue");
    let window = backend
        .list(
            &TaskFilter {
                created_after: Some(base),
                created_before: Some(base + us(3)),
                ..TaskFilter::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .expect("list");
    assert_eq!(
        ids(&window.items),
        vec![all[2].id, all[1].id, all[0].id],
        "newest first, after inclusive, before exclusive"
    );
    assert_eq!(window.total, 3);
    let after = backend
        .list(
            &TaskFilter {
                created_after: Some(base + us(4)),
                ..TaskFilter::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .expect("list");
    assert_eq!(ids(&after.items), vec![all[5].id, all[4].id]);
}

#[tokio::test]
async fn queue_stats_sqlite() {
    let backend = fresh_sqlite().await;
    let now = Utc::now();
    backend
        .enqueue(vec![
            record("t", "a", 5, now - ms(5)),
            record("t", "a", 5, now - ms(4)),
            record("t", "a", 5, now + chrono::Duration::seconds(3600)),
            record("t", "b", 5, now - ms(3)),
        ])
        .await
        .expect("enqueue");
    let claimed = claim(&backend, "b", 1, "w").await;
    backend
        .settle(vec![Settlement {
            id: claimed[0].id,
            attempt: 1,
            outcome: Outcome::Finished(json!(null)),
            at: Utc::now(),
        }])
        .await
        .expect("settle");
    backend.set_queue_paused("c", true).await.expect("pause");
    backend
        .set_queue_paused("c", true)
        .await
        .expect("pause twice");
    let stats = backend.queue_stats().await.expect("stats");
    let summary: Vec<(&str, u64, u64, u64, bool)> = stats
        .iter()
        .map(|s| {
            (
                s.queue.as_str(),
                s.pending,
                s.scheduled,
                s.running,
                s.paused,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("a", 2, 1, 0, false),
            ("b", 0, 0, 0, false),
            ("c", 0, 0, 0, true)
        ]
    );
    backend.set_queue_paused("c", false).await.expect("resume");
    let stats = backend.queue_stats().await.expect("stats");
    assert!(stats.iter().all(|s| s.queue != "c"), "{stats:?}");
}

#[tokio::test]
async fn records_keep_every_field_sqlite() {
    let backend = fresh_sqlite().await;
    let mut task = record("rt", "q", 5, Utc::now());
    task.created_at = Utc::now() - chrono::Duration::nanoseconds(123_456_789);
    task.timeout = None;
    task.soft_timeout = Some(Duration::from_millis(250));
    task.max_retries = u32::MAX;
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let stored = get(&backend, task.id).await;
    let mut expected = task.clone();
    expected.max_retries = i32::MAX as u32;
    assert_eq!(stored, expected);

    let claimed = claim(&backend, "q", 1, "w").await;
    backend
        .record_progress(
            task.id,
            1,
            Progress {
                fraction: 0.25,
                message: "a quarter".into(),
            },
        )
        .await
        .expect("progress");
    let running = get(&backend, task.id).await;
    assert_eq!(running, {
        let mut r = claimed[0].clone();
        r.progress = Some(Progress {
            fraction: 0.25,
            message: "a quarter".into(),
        });
        r
    });
}

#[tokio::test]
async fn not_found_and_invalid_transitions_change_nothing_sqlite() {
    let backend = fresh_sqlite().await;
    let missing = TaskId::now_v7();
    assert!(matches!(
        backend.retry(missing, Utc::now()).await,
        Err(Error::NotFound(id)) if id == missing
    ));
    assert!(matches!(
        backend.reorder(missing, Position::Front).await,
        Err(Error::NotFound(id)) if id == missing
    ));
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let before = get(&backend, task.id).await;
    assert!(matches!(
        backend.retry(task.id, Utc::now()).await,
        Err(Error::InvalidTransition {
            state: TaskState::Pending,
            action: "retry",
            ..
        })
    ));
    assert!(matches!(
        backend.reorder(task.id, Position::Before(task.id)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(get(&backend, task.id).await, before);
    claim(&backend, "q", 1, "w").await;
    assert!(matches!(
        backend.reorder(task.id, Position::Back).await,
        Err(Error::InvalidTransition {
            state: TaskState::Running,
            action: "reorder",
            ..
        })
    ));
    let duplicate = backend.enqueue(vec![task.clone()]).await;
    assert!(
        matches!(&duplicate, Err(Error::TaskExists(id)) if *id == task.id),
        "{duplicate:?}"
    );
    let fresh = record("t", "q", 5, Utc::now());
    let repeated = backend.enqueue(vec![fresh.clone(), fresh.clone()]).await;
    assert!(
        matches!(repeated, Err(Error::InvalidArgument(_))),
        "{repeated:?}"
    );
    assert!(backend.get(fresh.id).await.expect("get").is_none());
}

#[tokio::test]
async fn large_batches_sqlite() {
    let backend = fresh_sqlite().await;
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..5000)
        .map(|i| record("t", "q", (i % 7) as i32, t0 + us(i)))
        .collect();
    let mut expected = tasks.clone();
    expected.sort_by_key(|r| (std::cmp::Reverse(r.priority), r.seq, r.id));
    backend.enqueue(tasks).await.expect("enqueue");
    let claimed = claim(&backend, "q", 5000, "w").await;
    assert_eq!(ids(&claimed), ids(&expected));
    let applied = backend
        .settle(
            claimed
                .iter()
                .map(|r| Settlement {
                    id: r.id,
                    attempt: 1,
                    outcome: Outcome::Finished(json!(null)),
                    at: Utc::now(),
                })
                .collect(),
        )
        .await
        .expect("settle");
    assert!(applied.iter().all(|a| *a));
}

#[tokio::test]
async fn work_signal_fires_on_enqueue_sqlite() {
    let backend = fresh_sqlite().await;
    let signal = backend.work_signal().expect("signal");
    let notified = signal.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    backend
        .enqueue(vec![record("t", "q", 5, Utc::now())])
        .await
        .expect("enqueue");
    tokio::time::timeout(Duration::from_secs(1), notified)
        .await
        .expect("signalled");
}

#[tokio::test]
async fn extreme_limits_and_pages_sqlite() {
    let backend = fresh_sqlite().await;
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let page = backend
        .list(
            &TaskFilter::default(),
            PageRequest {
                page: u64::MAX,
                page_size: PageRequest::MAX_PAGE_SIZE,
            },
        )
        .await
        .expect("list");
    assert_eq!((page.items.len(), page.total), (0, 1));
    let claimed = claim(&backend, "q", usize::MAX, "w").await;
    assert_eq!(ids(&claimed), vec![task.id]);
}
