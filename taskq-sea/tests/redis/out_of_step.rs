//! Redis and SQL out of step: refused copies, settlements one side missed, retries, acks.

use super::*;

/// A copy Redis delivers that SQL does not agree with never runs: a task
/// cancelled in SQL alone is dropped at claim; a task pending in SQL at
/// another attempt is pushed again with SQL's values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn claim_refuses_copies_sql_disagrees_with_redis_sqlite() {
    let backend = fresh_sqlite().await;
    let tasks = due(2);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    // Out of step: cancelled in SQL only; the Redis copy is still pending.
    backend
        .sql()
        .cancel(tasks[0].id, Utc::now())
        .await
        .expect("cancel in SQL");
    let claimed = backend.claim(claim_request(10)).await.expect("claim");
    let ids: Vec<_> = claimed.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![tasks[1].id]);
    let cancelled = backend
        .get(tasks[0].id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert!(
        backend
            .claim(claim_request(10))
            .await
            .expect("claim")
            .is_empty(),
        "the refused copy came back"
    );

    // Out of step the other way: released in SQL only, so Redis's copy
    // runs one attempt ahead. Its claim is refused and SQL's record pushed.
    backend
        .sql()
        .release("w", &[(tasks[1].id, 1)], Utc::now())
        .await
        .expect("release in SQL");
    backend
        .redis()
        .rescue_expired(
            Utc::now() + chrono::Duration::seconds(60),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("expire in Redis");
    assert!(
        backend
            .claim(claim_request(10))
            .await
            .expect("claim")
            .is_empty(),
        "a copy at the wrong attempt ran"
    );
    let again = backend.claim(claim_request(10)).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempt), (tasks[1].id, 1));
    let running = backend
        .get(tasks[1].id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((running.state, running.attempt), (TaskState::Running, 1));
}

/// SQL stores `settlements` of attempts claimed at `start`, Redis never
/// hears of them; Redis requeues the attempts when their leases expire,
/// and two claims a moment later both come back empty (`what` names the
/// failure): the SQL fence refuses the copies and they do not return.
async fn settled_in_sql_only_then_refused(
    backend: &SeaRedisBackend,
    settlements: Vec<Settlement>,
    start: chrono::DateTime<Utc>,
    what: &str,
) {
    let n = settlements.len();
    let applied = backend
        .sql()
        .settle(settlements)
        .await
        .expect("settle in SQL");
    assert_eq!(applied, vec![true; n]);
    let expired = backend
        .redis()
        .rescue_expired(
            start + chrono::Duration::seconds(1),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("expire in Redis");
    assert_eq!(
        expired.requeued, n as u64,
        "Redis requeues what it holds running"
    );
    let later = ClaimRequest {
        now: start + chrono::Duration::seconds(2),
        ..claim_request(10)
    };
    assert!(
        backend
            .claim(later.clone())
            .await
            .expect("claim")
            .is_empty(),
        "{what}"
    );
    assert!(
        backend.claim(later).await.expect("claim").is_empty(),
        "{what} (a refused copy came back)"
    );
}

/// Settled in SQL, never acknowledged in Redis (the acknowledgement was
/// lost, or the process died before sending it): Redis requeues the
/// tasks when their leases expire, the claim's SQL fence refuses them,
/// and they never run again.
async fn settled_without_ack_never_runs_again(backend: SeaRedisBackend) {
    let tasks = due(2);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let start = Utc::now();
    let claimed = claim_briefly(&backend, 10, start).await;
    assert_eq!(claimed.len(), 2);
    let outcomes = claimed
        .iter()
        .map(|t| Settlement {
            id: t.id,
            attempt: t.attempt,
            outcome: Outcome::Finished(json!("done")),
            at: start,
        })
        .collect();
    settled_in_sql_only_then_refused(&backend, outcomes, start, "a settled task ran again").await;
    for task in &tasks {
        let record = backend.get(task.id).await.expect("get").expect("exists");
        assert_eq!(
            (record.state, record.attempt, record.result),
            (TaskState::Finished, 1, Some(json!("done")))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn settled_without_ack_never_runs_again_redis_sqlite() {
    let backend = fresh_sqlite().await;
    settled_without_ack_never_runs_again(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_postgres),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
)]
async fn settled_without_ack_never_runs_again_redis_postgres() {
    let backend = fresh_postgres().await;
    settled_without_ack_never_runs_again(backend).await;
}

/// A retry SQL stored but Redis never heard of (its push was lost): Redis
/// requeues the attempt when its lease expires, due at once, but the
/// claim's SQL fence refuses it before its run time and SQL's copy, with
/// that time, goes back to Redis; it runs at its time, once.
async fn retry_without_redis_waits_for_its_time(backend: SeaRedisBackend) {
    let tasks = due(1);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let start = Utc::now();
    let claimed = claim_briefly(&backend, 10, start).await;
    assert_eq!(claimed.len(), 1);
    let run_at = start + chrono::Duration::seconds(60);
    let retry = Settlement {
        id: claimed[0].id,
        attempt: claimed[0].attempt,
        outcome: Outcome::Retry {
            error: taskq_core::TaskFailure {
                kind: taskq_core::ErrorKind::Retryable,
                message: "try later".into(),
            },
            run_at,
        },
        at: start,
    };
    settled_in_sql_only_then_refused(
        &backend,
        vec![retry],
        start,
        "the retry ran before its time",
    )
    .await;
    let record = backend
        .get(tasks[0].id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((record.state, record.attempt), (TaskState::Pending, 1));
    let on_time = ClaimRequest {
        now: run_at + chrono::Duration::seconds(1),
        ..claim_request(10)
    };
    let ran = backend.claim(on_time.clone()).await.expect("claim");
    assert_eq!(
        ran.iter().map(|t| (t.id, t.attempt)).collect::<Vec<_>>(),
        vec![(tasks[0].id, 2)],
        "the retry runs at its time"
    );
    assert!(backend.claim(on_time).await.expect("claim").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn retry_without_redis_waits_for_its_time_redis_sqlite() {
    let backend = fresh_sqlite().await;
    retry_without_redis_waits_for_its_time(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_postgres),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
)]
async fn retry_without_redis_waits_for_its_time_redis_postgres() {
    let backend = fresh_postgres().await;
    retry_without_redis_waits_for_its_time(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_mysql),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_MYSQL_URL is not set"
)]
async fn retry_without_redis_waits_for_its_time_redis_mysql() {
    let backend = fresh_mysql().await;
    retry_without_redis_waits_for_its_time(backend).await;
}

/// A settle returns once SQL committed. A retry is pending again in Redis
/// by then (claimable at once); the ended tasks leave Redis's running set
/// in the background, soon after, so Redis never requeues them.
async fn settle_acknowledges_in_redis(backend: SeaRedisBackend) {
    backend.enqueue(due(3)).await.expect("enqueue");
    let start = Utc::now();
    let claimed = claim_briefly(&backend, 10, start).await;
    assert_eq!(claimed.len(), 3);
    let failure = taskq_core::TaskFailure {
        kind: taskq_core::ErrorKind::Retryable,
        message: "boom".into(),
    };
    let outcomes = vec![
        Outcome::Finished(json!(1)),
        Outcome::Failed(failure.clone()),
        Outcome::Retry {
            error: failure,
            run_at: start,
        },
    ];
    let settlements = claimed
        .iter()
        .zip(outcomes)
        .map(|(t, outcome)| Settlement {
            id: t.id,
            attempt: t.attempt,
            outcome,
            at: start,
        })
        .collect();
    let applied = backend.settle(settlements).await.expect("settle");
    assert_eq!(applied, vec![true, true, true]);
    let retried = backend
        .claim(ClaimRequest {
            now: start + chrono::Duration::milliseconds(10),
            ..claim_request(10)
        })
        .await
        .expect("claim the retry");
    let got: Vec<_> = retried.iter().map(|t| (t.id, t.attempt)).collect();
    assert_eq!(got, vec![(claimed[2].id, 2)]);

    let mut ended = Vec::new();
    for _ in 0..100 {
        ended.clear();
        for task in &claimed[..2] {
            let copy = backend.redis().get(task.id).await.expect("get copy");
            ended.extend(copy.map(|c| c.state).filter(|s| s.is_terminal()));
        }
        if ended.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        ended,
        vec![TaskState::Finished, TaskState::Failed],
        "Redis was not acknowledged"
    );
    // The retry's new lease is 30 s: nothing of Redis's has expired.
    let expired = backend
        .redis()
        .rescue_expired(
            start + chrono::Duration::seconds(1),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("rescue in Redis");
    assert_eq!((expired.requeued, expired.failed), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn settle_acknowledges_in_redis_redis_sqlite() {
    let backend = fresh_sqlite().await;
    settle_acknowledges_in_redis(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_postgres),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
)]
async fn settle_acknowledges_in_redis_redis_postgres() {
    let backend = fresh_postgres().await;
    settle_acknowledges_in_redis(backend).await;
}

/// Redis's rescue takes an attempt back by its lease while SQL's lease
/// (renewed there, not in Redis) still runs; the next claim finds SQL's
/// row running at the old attempt, its lease over by then, and takes it.
/// SQL's rescuer never saw that attempt end, so the claim records it: the
/// history keeps every attempt, the lost one with its worker and error.
async fn history_lost_attempt_reclaimed_is_recorded(backend: SeaRedisBackend) {
    let tasks = due(1);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let start = Utc::now();
    let first = claim_briefly(&backend, 1, start).await;
    assert_eq!(first.len(), 1);
    // SQL's lease outlives Redis's 100 ms by 10 s.
    let statuses = backend
        .sql()
        .heartbeat(
            "w",
            &[(first[0].id, 1)],
            start + chrono::Duration::seconds(10),
        )
        .await
        .expect("heartbeat in SQL");
    assert_eq!(statuses, vec![LeaseStatus::Held]);
    let rescued = backend
        .redis()
        .rescue_expired(
            start + chrono::Duration::seconds(1),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("rescue in Redis");
    assert_eq!(rescued.requeued, 1);
    let again = backend
        .claim(ClaimRequest {
            now: start + chrono::Duration::seconds(20),
            worker_id: "w2",
            ..claim_request(1)
        })
        .await
        .expect("claim");
    assert_eq!(again.iter().map(|t| t.attempt).collect::<Vec<_>>(), [2]);
    let record = backend
        .sql()
        .get(tasks[0].id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((record.state, record.attempt), (TaskState::Running, 2));
    let history: Vec<_> = record
        .attempts
        .iter()
        .map(|a| {
            (
                a.attempt,
                a.outcome,
                a.worker_id.as_deref(),
                a.error.as_ref().map(|e| e.kind),
            )
        })
        .collect();
    assert_eq!(
        history,
        [(
            1,
            taskq_core::AttemptOutcome::Retried,
            Some("w"),
            Some(taskq_core::ErrorKind::LeaseExpired)
        )],
        "the lost attempt is in SQL's history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn history_lost_attempt_reclaimed_is_recorded_redis_sqlite() {
    history_lost_attempt_reclaimed_is_recorded(fresh_sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_postgres),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
)]
async fn history_lost_attempt_reclaimed_is_recorded_redis_postgres() {
    history_lost_attempt_reclaimed_is_recorded(fresh_postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_mysql),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_MYSQL_URL is not set"
)]
async fn history_lost_attempt_reclaimed_is_recorded_redis_mysql() {
    history_lost_attempt_reclaimed_is_recorded(fresh_mysql().await).await;
}
