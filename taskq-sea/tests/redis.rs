//! SQL records with Redis delivery (`SeaRedisBackend`): the shared
//! conformance suite on SQLite, PostgreSQL and MySQL records, then what is
//! particular to two stores — restoring Redis after it lost its data,
//! refusing copies SQL does not agree with.
//!
//! Needs `TASKQ_TEST_REDIS_URL`; the PostgreSQL variants also need
//! `TASKQ_TEST_POSTGRES_URL`, the MySQL ones `TASKQ_TEST_MYSQL_URL`.
//! Built without them the tests are ignored. The `redis_cluster_sqlite`
//! variants deliver through a private three-master Redis Cluster of the
//! binary's own instead (run when `TASKQ_TEST_REDIS_CLUSTER=1`; they fail
//! without `redis-server`). Each
//! backend gets its own key prefix (deleted on drop) and its own SQLite
//! file, PostgreSQL schema or MySQL database.

#[path = "../../tests/common/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use taskq_core::conformance::record;
use taskq_core::redis::{RedisBackend, RedisConfig};
use taskq_core::{
    Backend, Broker, ClaimRequest, LeaseStatus, Outcome, Settlement, Store, TaskRecord, TaskState,
};
use taskq_sea::SeaBackend;
use taskq_sea::SeaRedisBackend;
use taskq_sea::scratch::{Scratch, Server};

/// `TASKQ_TEST_REDIS_URL`; panics when unset (the tests that need it are
/// ignored then, see `build.rs`).
fn redis_url() -> String {
    match std::env::var("TASKQ_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("TASKQ_TEST_REDIS_URL is not set: this test needs a Redis server"),
    }
}

/// A key prefix and SQLite file name no other test (or run) uses.
fn unique(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "taskq-test-{what}-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn redis_side(url: &str) -> RedisBackend {
    let mut config = RedisConfig::new(url);
    config.prefix = unique("sea-redis");
    config.delete_keys_on_drop = true;
    RedisBackend::connect_with(config)
        .await
        .unwrap_or_else(|err| panic!("no Redis server answers at {url}: {err}"))
}

/// SQLite records in a fresh file (left for the SQLite tests' sweep of
/// hour-old files).
async fn sqlite_side() -> SeaBackend {
    let dir = std::env::temp_dir().join("taskq-sea-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}.db", unique("redis")));
    SeaBackend::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect to SQLite")
}

/// Records in a fresh schema (PostgreSQL) or database (MySQL / MariaDB)
/// of the test server, as the SQL suites make them.
async fn server_side(server: Server) -> SeaBackend {
    let scratch = Scratch::from_env(server)
        .await
        .unwrap_or_else(|err| panic!("scratch on {}: {err}", server.env_var()));
    let mut options = sea_orm::ConnectOptions::new(scratch.url());
    options.sqlx_logging(false).max_connections(8);
    SeaBackend::connect_with(options)
        .await
        .expect("connect to the SQL server")
}

async fn fresh_sqlite() -> SeaRedisBackend {
    let redis = redis_side(&redis_url()).await;
    SeaRedisBackend::new(sqlite_side().await, redis)
        .await
        .expect("join")
}

/// SQLite records delivered through this binary's private Redis Cluster.
async fn fresh_cluster_sqlite() -> SeaRedisBackend {
    let cluster = redis_server::PrivateRedisCluster::shared();
    let redis = redis_side(&cluster.url()).await;
    SeaRedisBackend::new(sqlite_side().await, redis)
        .await
        .expect("join")
}

async fn fresh_postgres() -> SeaRedisBackend {
    let url = redis_url();
    let sql = server_side(Server::Postgres).await;
    SeaRedisBackend::new(sql, redis_side(&url).await)
        .await
        .expect("join")
}

async fn fresh_mysql() -> SeaRedisBackend {
    let url = redis_url();
    let sql = server_side(Server::Mysql).await;
    SeaRedisBackend::new(sql, redis_side(&url).await)
        .await
        .expect("join")
}

/// The shared conformance suite: `cargo test conformance::` runs it alone.
mod conformance {
    #[allow(unused_imports)]
    use super::*;

    taskq_core::conformance_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis_sqlite,
        || async { Arc::new(fresh_sqlite().await) as Arc<dyn Backend> }
    );

    taskq_core::conformance_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster_sqlite,
        || async { Arc::new(fresh_cluster_sqlite().await) as Arc<dyn Backend> }
    );

    taskq_core::conformance_suite!(
        #[cfg_attr(
            any(taskq_no_redis, taskq_no_postgres),
            ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
        )]
        redis_postgres,
        || async { Arc::new(fresh_postgres().await) as Arc<dyn Backend> }
    );

    taskq_core::conformance_suite!(
        #[cfg_attr(
            any(taskq_no_redis, taskq_no_mysql),
            ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_MYSQL_URL is not set"
        )]
        redis_mysql,
        || async { Arc::new(fresh_mysql().await) as Arc<dyn Backend> }
    );
}

fn claim_request(limit: usize) -> ClaimRequest<'static> {
    ClaimRequest {
        queue: "q",
        limit,
        worker_id: "w",
        lease: Duration::from_secs(30),
        now: Utc::now(),
    }
}

fn due(n: usize) -> Vec<TaskRecord> {
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    (0..n)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::microseconds(i as i64)))
        .collect()
}

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

/// Claims `n` due tasks at `start` with a 100 ms lease.
async fn claim_briefly(
    backend: &SeaRedisBackend,
    n: usize,
    start: chrono::DateTime<Utc>,
) -> Vec<TaskRecord> {
    backend
        .claim(ClaimRequest {
            lease: Duration::from_millis(100),
            now: start,
            ..claim_request(n)
        })
        .await
        .expect("claim")
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
