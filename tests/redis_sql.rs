//! SQL records with Redis delivery (`SqlRedisBackend`) across processes:
//! two handles on one pair of stores (each with its own SQL pool and
//! Redis connections, as two hosts have), a worker on the first, an
//! operator or the host application on the second. The worker neither
//! polls nor renews its leases within a test's time and its reconciler
//! does not sweep in it: whatever reaches it in time came through Redis.
//!
//! - A cancel of a running task reaches its worker at once (pub/sub).
//! - Tasks enqueued in the host's own SQL transaction run promptly once
//!   the host delivers them after the commit; a rolled-back transaction
//!   delivers nothing.
//!
//! Needs `TASKQ_TEST_REDIS_URL`; SQLite records always, PostgreSQL and
//! MySQL records when their URL variables are set too.
#![cfg(all(feature = "redis", feature = "sqlite"))]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use taskq::SqlRedisBackend;
use taskq::backend::{Backend, Store};
use taskq::prelude::*;
use taskq::sea::sea_orm::{ConnectionTrait, Statement, TransactionTrait};

use common::marks::{marked, marks_start, time_cancel_of_running, wait_mark};

type Handles = (Arc<SqlRedisBackend>, Arc<SqlRedisBackend>);

/// A worker on `backend` that would see a cancel only at a heartbeat a
/// minute away, and work only at a poll a minute away.
fn slow_worker(
    backend: &Arc<SqlRedisBackend>,
) -> (taskq::ShutdownHandle, tokio::task::JoinHandle<()>) {
    let client = Client::new(backend.clone() as Arc<dyn Backend>).expect("client");
    let worker = Worker::builder(&client)
        .queue("default", 4)
        .poll_interval(Duration::from_secs(60))
        .heartbeat_interval(Duration::from_secs(60))
        .lease(Duration::from_secs(300))
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(async move { worker.run().await.expect("worker") });
    (shutdown, running)
}

/// A cancel requested through one handle stops the task running on a
/// worker of the other within a second, not at its next heartbeat.
async fn cancel_reaches_running_worker_promptly((worker_host, operator_host): Handles) {
    let (shutdown, running) = slow_worker(&worker_host);
    let operator = Client::new(operator_host as Arc<dyn Backend>).expect("client");
    let key = common::unique("redis-sql-cancel");
    let (id, stopped) = time_cancel_of_running(&operator, &key, Duration::from_secs(5)).await;
    assert!(
        stopped < Duration::from_secs(1),
        "the cancel took {stopped:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let record = operator.get(id).await.expect("get");
        if record.state == TaskState::Cancelled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled as cancelled: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.shutdown();
    running.await.expect("join");
}

async fn exec(db: &impl ConnectionTrait, sql: &str) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// The host's signup on the second handle: its own row and a task in one
/// transaction. Committed and delivered, the task runs on the first
/// handle's worker within a second; rolled back, it never appears, not
/// even after a full sweep.
async fn transactional_enqueue_delivers_after_commit((worker_host, host): Handles) {
    let (shutdown, running) = slow_worker(&worker_host);
    let client = Client::new(host.clone() as Arc<dyn Backend>).expect("client");
    let db = host.sql().connection().clone();
    exec(&db, "CREATE TABLE host_users (id BIGINT PRIMARY KEY)").await;

    let key = common::unique("redis-sql-txn-committed");
    let txn = db.begin().await.expect("begin");
    exec(&txn, "INSERT INTO host_users (id) VALUES (1)").await;
    let record = client
        .submit(marks_start, key.clone())
        .into_record()
        .expect("record");
    let committed = record.id;
    let after_commit = host
        .enqueue_in(&txn, vec![record])
        .await
        .expect("enqueue in txn");
    assert_eq!(after_commit.ids(), [committed]);
    txn.commit().await.expect("commit");
    let delivered_at = Instant::now();
    assert_eq!(after_commit.deliver().await.expect("deliver"), 1);
    let started = wait_mark(&key, Duration::from_secs(5))
        .await
        .duration_since(delivered_at);
    assert!(
        started < Duration::from_secs(1),
        "the committed task started after {started:?}"
    );

    let key = common::unique("redis-sql-txn-rolled-back");
    let txn = db.begin().await.expect("begin");
    exec(&txn, "INSERT INTO host_users (id) VALUES (2)").await;
    let record = client
        .submit(marks_start, key.clone())
        .into_record()
        .expect("record");
    let rolled_back = record.id;
    let after_commit = host
        .enqueue_in(&txn, vec![record])
        .await
        .expect("enqueue in txn");
    txn.rollback().await.expect("rollback");
    // A host that delivers regardless delivers nothing.
    assert_eq!(after_commit.deliver().await.expect("deliver"), 0);
    let sweep = worker_host.reconcile_pass(true).await.expect("sweep");
    assert_eq!(sweep.restored, 0, "a sweep found the rolled-back task");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(marked(&key).is_none(), "the rolled-back task ran");
    assert!(matches!(
        client.get(rolled_back).await,
        Err(Error::NotFound(id)) if id == rolled_back
    ));
    let stats = worker_host.redis().queue_stats().await.expect("stats");
    // (The committed task may still count as running there until its
    // acknowledgement, sent in the background, arrives.)
    assert!(
        stats.iter().all(|s| s.pending == 0 && s.scheduled == 0),
        "Redis holds a pending task: {stats:?}"
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    while client.get(committed).await.expect("get").state != TaskState::Finished {
        assert!(
            Instant::now() < deadline,
            "the committed task did not finish"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.shutdown();
    running.await.expect("join");
}

async fn sqlite_handles() -> Handles {
    let label = "taskq-redis-sql";
    common::redis_sql_pair(label, &common::sqlite_url(label)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn redis_sqlite_cancel_reaches_running_worker_promptly() {
    let handles = sqlite_handles().await;
    cancel_reaches_running_worker_promptly(handles).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn redis_sqlite_transactional_enqueue_delivers_after_commit() {
    let handles = sqlite_handles().await;
    transactional_enqueue_delivers_after_commit(handles).await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use taskq::sea::scratch::Server;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        any(taskq_no_redis, taskq_no_postgres),
        ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
    )]
    async fn redis_postgres_cancel_reaches_running_worker_promptly() {
        let handles = common::redis_sql_server_pair("taskq-redis-sql", Server::Postgres).await;
        cancel_reaches_running_worker_promptly(handles).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        any(taskq_no_redis, taskq_no_postgres),
        ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
    )]
    async fn redis_postgres_transactional_enqueue_delivers_after_commit() {
        let handles = common::redis_sql_server_pair("taskq-redis-sql", Server::Postgres).await;
        transactional_enqueue_delivers_after_commit(handles).await;
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;
    use taskq::sea::scratch::Server;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        any(taskq_no_redis, taskq_no_mysql),
        ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_MYSQL_URL is not set"
    )]
    async fn redis_mysql_cancel_reaches_running_worker_promptly() {
        let handles = common::redis_sql_server_pair("taskq-redis-sql", Server::Mysql).await;
        cancel_reaches_running_worker_promptly(handles).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        any(taskq_no_redis, taskq_no_mysql),
        ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_MYSQL_URL is not set"
    )]
    async fn redis_mysql_transactional_enqueue_delivers_after_commit() {
        let handles = common::redis_sql_server_pair("taskq-redis-sql", Server::Mysql).await;
        transactional_enqueue_delivers_after_commit(handles).await;
    }
}
