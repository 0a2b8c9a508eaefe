//! Redis lost its data: restore, sweeps and rescue push back what SQL holds.

use super::*;

/// Redis loses everything (its keys deleted, epoch included): the next
/// reconcile pass notices, restores the pending tasks and the pause flag
/// exactly once, and the running task keeps its lease and settles.
async fn restores_after_data_loss(backend: SeaRedisBackend) {
    let tasks = due(30);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let running = backend.claim(claim_request(1)).await.expect("claim");
    assert_eq!(running.len(), 1);
    backend.set_queue_paused("held", true).await.expect("pause");
    backend
        .enqueue(vec![record("t", "held", 5, Utc::now())])
        .await
        .expect("enqueue held");

    // Nothing lost yet: a pass finds nothing to do, a sweep nothing to push.
    let quiet = backend.reconcile_pass(false).await.expect("reconcile");
    assert_eq!((quiet.swept, quiet.restored), (false, 0));
    let sweep = backend.reconcile_pass(true).await.expect("sweep");
    assert_eq!((sweep.swept, sweep.restored), (true, 0));

    backend.redis().delete_all_keys().await.expect("lose Redis");
    assert!(
        backend
            .claim(claim_request(100))
            .await
            .expect("claim")
            .is_empty(),
        "Redis still delivered after losing its data"
    );
    let report = backend.reconcile_pass(false).await.expect("reconcile");
    assert!(report.swept);
    assert_eq!(
        report.restored, 30,
        "29 pending in q, 1 in the paused queue"
    );
    let again = backend.reconcile_pass(true).await.expect("sweep again");
    assert_eq!(again.restored, 0, "a second sweep pushed tasks twice");

    let claimed = backend.claim(claim_request(100)).await.expect("claim");
    assert_eq!(claimed.len(), 29);
    let expected: Vec<_> = tasks[1..].iter().map(|t| t.id).collect();
    let got: Vec<_> = claimed.iter().map(|t| t.id).collect();
    assert_eq!(got, expected, "restored in their order");
    let held = backend
        .claim(ClaimRequest {
            queue: "held",
            ..claim_request(10)
        })
        .await
        .expect("claim");
    assert!(held.is_empty(), "the pause flag was not restored");

    // The task that was running when Redis lost it is still ours.
    let statuses = backend
        .heartbeat(
            "w",
            &[(running[0].id, 1)],
            Utc::now() + chrono::Duration::seconds(30),
        )
        .await
        .expect("heartbeat");
    assert_eq!(statuses, vec![LeaseStatus::Held]);
    let applied = backend
        .settle(vec![Settlement {
            id: running[0].id,
            attempt: 1,
            outcome: Outcome::Finished(json!("done")),
            at: Utc::now(),
        }])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true]);
    let record = backend
        .get(running[0].id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(record.state, TaskState::Finished);
    assert_eq!(record.result, Some(json!("done")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    taskq_no_redis_cluster,
    ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
)]
async fn restores_after_data_loss_redis_cluster_sqlite() {
    let backend = fresh_cluster_sqlite().await;
    restores_after_data_loss(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn restores_after_data_loss_redis_sqlite() {
    let backend = fresh_sqlite().await;
    restores_after_data_loss(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_postgres),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
)]
async fn restores_after_data_loss_redis_postgres() {
    let backend = fresh_postgres().await;
    restores_after_data_loss(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_mysql),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_MYSQL_URL is not set"
)]
async fn restores_after_data_loss_redis_mysql() {
    let backend = fresh_mysql().await;
    restores_after_data_loss(backend).await;
}

/// A sweep without a loss (the periodic one) pushes exactly the pending
/// tasks Redis lacks — here stored in SQL alone, as a host transaction's
/// would be — in any queue, and leaves alone those Redis holds.
async fn sweep_pushes_what_redis_lacks(backend: SeaRedisBackend) {
    let delivered = due(3);
    backend.enqueue(delivered.clone()).await.expect("enqueue");
    let sql_only = due(2);
    backend
        .sql()
        .enqueue(sql_only.clone())
        .await
        .expect("enqueue in SQL alone");
    let other = record("t", "other", 5, Utc::now());
    backend
        .sql()
        .enqueue(vec![other.clone()])
        .await
        .expect("enqueue in SQL alone");
    let claimed = backend.claim(claim_request(1)).await.expect("claim");
    assert_eq!(claimed[0].id, delivered[0].id);

    let sweep = backend.reconcile_pass(true).await.expect("sweep");
    assert_eq!((sweep.swept, sweep.restored), (true, 3));
    let again = backend.reconcile_pass(true).await.expect("sweep again");
    assert_eq!(again.restored, 0, "a second sweep pushed tasks twice");

    let got: Vec<_> = backend
        .claim(claim_request(100))
        .await
        .expect("claim")
        .iter()
        .map(|t| t.id)
        .collect();
    let expected: Vec<_> = delivered[1..]
        .iter()
        .chain(&sql_only)
        .map(|t| t.id)
        .collect();
    assert_eq!(got, expected, "every pending task once, in order");
    let got_other = backend
        .claim(ClaimRequest {
            queue: "other",
            ..claim_request(10)
        })
        .await
        .expect("claim");
    assert_eq!(got_other.len(), 1);
    assert_eq!(got_other[0].id, other.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn sweep_pushes_what_redis_lacks_redis_sqlite() {
    let backend = fresh_sqlite().await;
    sweep_pushes_what_redis_lacks(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_postgres),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
)]
async fn sweep_pushes_what_redis_lacks_redis_postgres() {
    let backend = fresh_postgres().await;
    sweep_pushes_what_redis_lacks(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_mysql),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_MYSQL_URL is not set"
)]
async fn sweep_pushes_what_redis_lacks_redis_mysql() {
    let backend = fresh_mysql().await;
    sweep_pushes_what_redis_lacks(backend).await;
}

/// Sweeps page through more pending tasks than one page holds, most
/// created at the same instant (the page cursor breaks ties by id): the
/// periodic sweep pushes each task Redis lacks once, the sweep after a
/// loss every pending task once.
async fn sweep_pages_through_ties(backend: SeaRedisBackend) {
    let created = Utc::now();
    let tasks: Vec<TaskRecord> = due(1300)
        .into_iter()
        .enumerate()
        .map(|(i, mut task)| {
            if i % 7 != 0 {
                task.created_at = created;
            }
            task
        })
        .collect();
    let (delivered, sql_only) = tasks.split_at(400);
    backend.enqueue(delivered.to_vec()).await.expect("enqueue");
    backend
        .sql()
        .enqueue(sql_only.to_vec())
        .await
        .expect("enqueue in SQL alone");
    let sweep = backend.reconcile_pass(true).await.expect("sweep");
    assert_eq!(sweep.restored, 900);
    assert_eq!(
        backend.reconcile_pass(true).await.expect("sweep").restored,
        0
    );
    backend.redis().delete_all_keys().await.expect("lose Redis");
    let restore = backend.reconcile_pass(false).await.expect("restore");
    assert_eq!(restore.restored, 1300);
    let mut got = Vec::new();
    loop {
        let batch = backend.claim(claim_request(500)).await.expect("claim");
        if batch.is_empty() {
            break;
        }
        got.extend(batch.into_iter().map(|t| t.id));
    }
    let expected: Vec<_> = tasks.iter().map(|t| t.id).collect();
    assert_eq!(got, expected, "every task once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn sweep_pages_through_ties_redis_sqlite() {
    let backend = fresh_sqlite().await;
    sweep_pages_through_ties(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_postgres),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
)]
async fn sweep_pages_through_ties_redis_postgres() {
    let backend = fresh_postgres().await;
    sweep_pages_through_ties(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_mysql),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_MYSQL_URL is not set"
)]
async fn sweep_pages_through_ties_redis_mysql() {
    let backend = fresh_mysql().await;
    sweep_pages_through_ties(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn rescue_pushes_what_redis_lost_redis_sqlite() {
    let backend = fresh_sqlite().await;
    rescue_pushes_what_redis_lost(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    taskq_no_redis_cluster,
    ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
)]
async fn rescue_pushes_what_redis_lost_redis_cluster_sqlite() {
    let backend = fresh_cluster_sqlite().await;
    rescue_pushes_what_redis_lost(backend).await;
}

/// A task whose lease expired while Redis had lost it comes back through
/// SQL's rescue, which pushes it into Redis.
async fn rescue_pushes_what_redis_lost(backend: SeaRedisBackend) {
    let tasks = due(1);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let start = Utc::now();
    backend
        .claim(ClaimRequest {
            lease: Duration::from_millis(100),
            now: start,
            ..claim_request(1)
        })
        .await
        .expect("claim");
    backend.redis().delete_all_keys().await.expect("lose Redis");
    let report = backend
        .rescue_expired(
            start + chrono::Duration::seconds(1),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1);
    let again = backend
        .claim(ClaimRequest {
            now: start + chrono::Duration::seconds(2),
            ..claim_request(1)
        })
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempt), (tasks[0].id, 2));
}
