//! Retention, pruning, settling from another handle, rescue, stats, key cleanup and refused duplicates.

use super::*;

/// Finished records expire after the retention; purge then drops what is
/// left of them (their index entries).
pub(super) async fn retention_expires_finished_records(target: Target) {
    let url = target.url.clone();
    let mut config = test_config(&url);
    config.retention = Some(Duration::from_secs(1));
    let prefix = config.prefix.clone();
    let backend = RedisBackend::connect_with(config).await.expect("connect");
    let (done, waiting) = finish_one_of_two(&backend).await;
    assert!(backend.get(done.id).await.expect("get").is_some());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        backend.get(done.id).await.expect("get").is_none(),
        "the finished record outlived its retention"
    );
    assert!(
        backend.get(waiting.id).await.expect("get").is_some(),
        "a pending record expired"
    );
    let purged = backend
        .purge(&taskq::TaskState::TERMINAL, Utc::now())
        .await
        .expect("purge");
    assert_eq!(purged, 0, "the record had already expired");
    let listed = backend
        .list(&Default::default(), Default::default())
        .await
        .expect("list");
    assert_eq!(listed.total, 1, "the index no longer counts it");
    // The list indexes lost it too: by state, by type, by both.
    for (state, task_type) in [
        (Some(taskq::TaskState::Finished), None),
        (None, Some("t")),
        (Some(taskq::TaskState::Finished), Some("t")),
    ] {
        let filter = taskq::TaskFilter {
            state,
            task_type: task_type.map(str::to_owned),
            ..Default::default()
        };
        let listed = backend
            .list(&filter, Default::default())
            .await
            .expect("list");
        let expected = if state.is_some() { 0 } else { 1 };
        assert_eq!(listed.total, expected, "{filter:?}");
    }
    let finished_indexes = keys_matching(&target, &format!("*{prefix}*FINISHED*")).await;
    assert!(
        finished_indexes.is_empty(),
        "index keys left: {finished_indexes:?}"
    );
    let task_keys = keys_matching(&target, &format!("*{}*", done.id)).await;
    assert!(
        task_keys.is_empty(),
        "keys left for the task: {task_keys:?}"
    );
}

/// By default a finished record gets no TTL: the pruner's purge deletes
/// it, with its done-set, list-index and id-index entries, in one pass.
pub(super) async fn pruner_deletes_finished_records_by_default(target: Target) {
    let config = test_config(&target.url);
    assert_eq!(
        config.retention, None,
        "the default leaves expiry to the pruner"
    );
    let prefix = config.prefix.clone();
    let backend = RedisBackend::connect_with(config).await.expect("connect");
    let (done, waiting) = finish_one_of_two(&backend).await;
    let task_keys = keys_matching(&target, &format!("*{}*", done.id)).await;
    assert_eq!(
        task_keys.len(),
        2,
        "the record and its id index: {task_keys:?}"
    );
    for (url, keys) in target.nodes.iter().zip(keys_per_node(&target, "*").await) {
        let node = Builder::from_config(Config::from_url(url).expect("url"))
            .build()
            .expect("client");
        node.init().await.expect("connect");
        for key in keys.iter().filter(|k| task_keys.contains(k)) {
            let ttl: i64 = node.ttl(key.as_str()).await.expect("ttl");
            assert_eq!(ttl, -1, "{key} got a TTL");
        }
        let _ = node.quit().await;
    }

    let purged = backend
        .purge(
            &taskq::TaskState::TERMINAL,
            Utc::now() + chrono::Duration::seconds(1),
        )
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    assert!(backend.get(done.id).await.expect("get").is_none());
    assert!(backend.get(waiting.id).await.expect("get").is_some());
    for (state, expected) in [(None, 1), (Some(taskq::TaskState::Finished), 0)] {
        let filter = taskq::TaskFilter {
            state,
            task_type: Some("t".into()),
            ..Default::default()
        };
        let listed = backend
            .list(&filter, Default::default())
            .await
            .expect("list");
        assert_eq!(listed.total, expected, "{filter:?}");
    }
    let left = keys_matching(&target, &format!("*{prefix}*FINISHED*")).await;
    assert!(left.is_empty(), "index keys left: {left:?}");
    let left = keys_matching(&target, &format!("*{}*", done.id)).await;
    assert!(left.is_empty(), "keys left for the task: {left:?}");
}

/// A handle that did not claim a task settles it too: the settle script
/// reads the type and creation time the handle lacks, and the fence
/// refuses a stale attempt from either handle.
pub(super) async fn settle_from_another_handle_reads_what_it_lacks(target: Target) {
    let (claimer, other) = two_hosts(&target.url).await;
    let first = record("t", "q", 5, Utc::now());
    let second = record("t", "q", 5, Utc::now());
    claimer
        .enqueue(vec![first.clone(), second.clone()])
        .await
        .expect("enqueue");
    let claimed = claimer
        .claim(ClaimRequest {
            limit: 2,
            ..claim_request("q", "w")
        })
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let settle = |id, attempt, outcome| Settlement {
        id,
        attempt,
        outcome,
        at: Utc::now(),
    };
    let failed = || {
        Outcome::Failed(taskq::TaskFailure {
            kind: taskq::ErrorKind::Permanent,
            message: "no".into(),
        })
    };
    let applied = other
        .settle(vec![
            settle(first.id, 1, Outcome::Finished(json!(1))),
            settle(second.id, 2, Outcome::Finished(json!(2))),
        ])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true, false], "attempt 2 never ran");
    let applied = other
        .settle(vec![settle(second.id, 1, failed())])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true]);
    // The claimer still remembers both; its late settlements are stale.
    let applied = claimer
        .settle(vec![
            settle(first.id, 1, Outcome::Finished(json!(3))),
            settle(second.id, 1, Outcome::Finished(json!(4))),
        ])
        .await
        .expect("settle");
    assert_eq!(applied, vec![false, false]);

    let done = claimer.get(first.id).await.expect("get").expect("record");
    assert_eq!(
        (done.state, done.result, done.lease_until),
        (taskq::TaskState::Finished, Some(json!(1)), None)
    );
    for (state, expected) in [
        (taskq::TaskState::Finished, 1),
        (taskq::TaskState::Failed, 1),
        (taskq::TaskState::Running, 0),
        (taskq::TaskState::Pending, 0),
    ] {
        let filter = taskq::TaskFilter {
            state: Some(state),
            task_type: Some("t".into()),
            ..Default::default()
        };
        let listed = other.list(&filter, Default::default()).await.expect("list");
        assert_eq!(listed.total, expected, "{state:?}");
    }
}

/// A settlement by the process that claimed a first attempt writes the
/// history entry without reading the record (`SETTLE`'s docs): the entry
/// is the one a settlement from another handle, which reads the worker
/// and start, writes; a second attempt's appends after it.
pub(super) async fn redis_history_of_an_unread_settle_matches_a_read_one(target: Target) {
    let (claimer, other) = two_hosts(&target.url).await;
    let mine = record("t", "q", 5, Utc::now());
    let theirs = record("t", "q", 5, Utc::now());
    claimer
        .enqueue(vec![mine.clone(), theirs.clone()])
        .await
        .expect("enqueue");
    let claimed = claimer
        .claim(ClaimRequest {
            limit: 2,
            ..claim_request("q", "w")
        })
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let at = Utc::now();
    let retry = |id| Settlement {
        id,
        attempt: 1,
        outcome: Outcome::Retry {
            error: taskq::TaskFailure {
                kind: taskq::ErrorKind::Retryable,
                message: "again \"now\"".into(),
            },
            run_at: at,
        },
        at,
    };
    let applied = claimer.settle(vec![retry(mine.id)]).await.expect("settle");
    assert_eq!(applied, vec![true]);
    let applied = other.settle(vec![retry(theirs.id)]).await.expect("settle");
    assert_eq!(applied, vec![true]);
    let started = |id| {
        claimed
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| t.started_at)
    };
    let history = |record: TaskRecord| {
        record
            .attempts
            .into_iter()
            .map(|a| {
                let error = a.error.map(|e| e.message);
                (
                    a.attempt,
                    a.worker_id,
                    a.started_at,
                    a.ended_at,
                    a.outcome,
                    error,
                    a.ordinal,
                )
            })
            .collect::<Vec<_>>()
    };
    let mine_now = get_record(&other, mine.id).await;
    let theirs_now = get_record(&other, theirs.id).await;
    assert!(started(mine.id).is_some());
    assert_eq!(mine_now.attempts[0].started_at, started(mine.id));
    assert_eq!(mine_now.attempts[0].worker_id.as_deref(), Some("w"));
    // One claim started both at the same time.
    assert_eq!(started(mine.id), started(theirs.id));
    assert_eq!(
        history(mine_now),
        history(theirs_now),
        "the same entry, read or not"
    );

    // The second attempt's end (a record with history: read) appends.
    let again = claimer
        .claim(ClaimRequest {
            limit: 2,
            ..claim_request("q", "w")
        })
        .await
        .expect("claim");
    assert_eq!(again.len(), 2);
    let finished = |id| Settlement {
        id,
        attempt: 2,
        outcome: Outcome::Finished(json!(null)),
        at: Utc::now(),
    };
    let applied = claimer
        .settle(vec![finished(mine.id), finished(theirs.id)])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true, true]);
    for id in [mine.id, theirs.id] {
        let done = get_record(&other, id).await;
        let places: Vec<(u32, u32)> = done
            .attempts
            .iter()
            .map(|a| (a.attempt, a.ordinal))
            .collect();
        assert_eq!(places, vec![(1, 1), (2, 2)]);
        assert_eq!(
            done.attempts[0].error.as_ref().map(|e| e.message.as_str()),
            Some("again \"now\"")
        );
    }
}

/// A record as `backend` reads it.
async fn get_record(backend: &RedisBackend, id: taskq::TaskId) -> TaskRecord {
    backend.get(id).await.expect("get").expect("record")
}

/// A running-set member that is a bare id (as versions before attempts
/// were part of members wrote it) is rescued like any expired lease.
pub(super) async fn rescue_takes_bare_id_running_members(target: Target) {
    let config = test_config(&target.url);
    let prefix = config.prefix.clone();
    let backend = RedisBackend::connect_with(config).await.expect("connect");
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let claimed = backend.claim(claim_request("q", "w")).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let running = backend.get(task.id).await.expect("get").expect("record");
    assert!(
        running.lease_until.is_some(),
        "a running task has its lease"
    );

    // Rewrite its member the old way, with a lease long expired.
    let pattern = format!("*{prefix}*:running");
    let mut rewritten = 0;
    for (url, keys) in target
        .nodes
        .iter()
        .zip(keys_per_node(&target, &pattern).await)
    {
        let node = Builder::from_config(Config::from_url(url).expect("url"))
            .build()
            .expect("client");
        node.init().await.expect("connect");
        for key in keys {
            let removed: i64 = node
                .zrem(key.as_str(), format!("{}:1", task.id))
                .await
                .expect("zrem");
            assert_eq!(removed, 1, "the member is `<id>:<attempt>`");
            let _: i64 = node
                .zadd(
                    key.as_str(),
                    None,
                    None,
                    false,
                    false,
                    (1.0, task.id.to_string()),
                )
                .await
                .expect("zadd");
            rewritten += 1;
        }
        let _: () = node.quit().await.expect("quit");
    }
    assert_eq!(rewritten, 1);

    let report = backend
        .rescue_expired(Utc::now(), &taskq_core::lifecycle::RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1);
    let requeued = backend.get(task.id).await.expect("get").expect("record");
    assert_eq!(
        (requeued.state, requeued.lease_until),
        (taskq::TaskState::Pending, None)
    );
    let again = backend.claim(claim_request("q", "w")).await.expect("claim");
    assert_eq!(again.iter().map(|t| t.attempt).collect::<Vec<_>>(), vec![2]);
}

/// Stats separate due, scheduled and running work, and see pauses.
pub(super) async fn queue_stats_count_each_kind(target: Target) {
    let url = target.url.clone();
    let backend = fresh(&url).await;
    let now = Utc::now();
    let tasks = vec![
        record("t", "q", 5, now),
        record("t", "q", 5, now),
        record("t", "q", 5, now),
        record("t", "q", 5, now + chrono::Duration::seconds(60)),
    ];
    backend.enqueue(tasks).await.expect("enqueue");
    backend
        .claim(ClaimRequest {
            limit: 1,
            ..claim_request("q", "w")
        })
        .await
        .expect("claim");
    backend.set_queue_paused("idle", true).await.expect("pause");
    let stats = backend.queue_stats().await.expect("stats");
    let q = stats.iter().find(|s| s.queue == "q").expect("q listed");
    assert_eq!(
        (q.pending, q.scheduled, q.running, q.paused),
        (2, 1, 1, false)
    );
    let idle = stats
        .iter()
        .find(|s| s.queue == "idle")
        .expect("idle listed");
    assert!(idle.paused);
}

/// `delete_keys_on_drop` leaves nothing behind; a bad URL is a typed error.
pub(super) async fn keys_are_deleted_on_drop(target: Target) {
    let url = target.url.clone();
    let config = test_config(&url);
    let pattern = format!("*{}*", config.prefix);
    let backend = RedisBackend::connect_with(config).await.expect("connect");
    backend
        .enqueue(vec![record("t", "q", 5, Utc::now())])
        .await
        .expect("enqueue");
    assert!(!keys_matching(&target, &pattern).await.is_empty());
    drop(backend);
    assert!(keys_matching(&target, &pattern).await.is_empty());

    assert!(matches!(
        RedisBackend::connect("not a url").await,
        Err(taskq::Error::InvalidArgument(_))
    ));
}

/// An id that exists in one queue cannot be enqueued again in another;
/// the failed batch leaves nothing behind.
pub(super) async fn duplicate_id_across_queues_changes_nothing(target: Target) {
    let url = target.url.clone();
    let backend = fresh(&url).await;
    let first = record("t", "a", 5, Utc::now());
    backend.enqueue(vec![first.clone()]).await.expect("enqueue");
    let mut copy = first.clone();
    copy.queue = "b".into();
    let fresh_task = record("t", "b", 5, Utc::now());
    assert!(matches!(
        backend.enqueue(vec![fresh_task.clone(), copy]).await,
        Err(taskq::Error::TaskExists(id)) if id == first.id
    ));
    assert_eq!(
        backend.get(first.id).await.expect("get").map(|r| r.queue),
        Some("a".to_owned())
    );
    assert!(backend.get(fresh_task.id).await.expect("get").is_none());
    assert!(
        backend
            .claim(claim_request("b", "w"))
            .await
            .expect("claim")
            .is_empty()
    );
    // The fresh task's id was not used up by the failed batch.
    backend
        .enqueue(vec![fresh_task.clone()])
        .await
        .expect("enqueue again");
}
