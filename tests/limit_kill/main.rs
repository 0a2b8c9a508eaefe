//! A queue limit across processes, proven with SIGKILL: three worker
//! processes (this test binary, re-run as `limit_worker_child`) with 4
//! slots each serve one queue whose limit is 2. Every execution logs its
//! start and end, with the time, to its process's file. The test SIGKILLs
//! a worker while it runs a task of the queue (its slot stays taken until
//! the lease expires and the rescue requeues the task), then checks that
//! the executions never overlapped more than the limit allows, that the
//! limit was reached (the test could fail), and that every task finished:
//! the dead worker's slot came back.
//!
//! The same fleet proves a rate limit (`limit_kill_rate_*`): no queue
//! limit, 12 slots, but at most `RATE` starts per second. The starts,
//! as logged, never exceed the token bucket's bound in any window (with
//! a slack for the time between a claim and its log line), the bucket's
//! burst is reached, and every task finishes after the SIGKILL: nothing
//! a dead worker leaves holds the bucket.
//!
//! And a key limit (`limit_kill_key_*`): each task gets one of `KEYS`
//! concurrency keys, at most `LIMIT` of a key run at once (12 slots):
//! the most that ever overlapped, per key, stays within it, some key
//! reaches it, and every task finishes after the SIGKILL.
//!
//! And a fair queue (`limit_kill_fair_*`): `FAIR_BIG` tasks of one key,
//! then, after the SIGKILL, one task each of `KEYS` other keys: every
//! task ran to its end exactly once (the killed one's first attempt cut
//! short, none ended twice), and each late key's task started before the
//! big key's backlog ended, though submitted behind all of it.
//!
//! And a task type limit over two queues (`limit_kill_type_*`): the
//! type's tasks alternate between `limited` and `OTHER_QUEUE`, whose
//! workers' slots (12 each) are far more than the type's limit of
//! `LIMIT`: its executions in both queues together never overlap more
//! than the limit, the limit is reached, and every task finishes after
//! the SIGKILL (on Redis the dead worker's permit comes back with its
//! lease, `redis/permits.rs`).
//!
//! `cargo test limit_kill` runs it on SQLite and, when
//! `TASKQ_TEST_POSTGRES_URL` / `TASKQ_TEST_MYSQL_URL` is set at build
//! time, on PostgreSQL (a fresh schema) and MySQL (a fresh database); the
//! fair and type runs also on Redis (a fresh key prefix, feature `redis`).
//!
//! The runner ([`run`]) and the checks of its logs ([`checks`]) know no
//! backend: a backend's entry points below make its place (a URL worker
//! processes can reach, and a backend on it) and hand it over.

mod checks;
#[path = "../common/mod.rs"]
mod common;
mod run;

use std::sync::Arc;
use std::time::Duration;

use taskq::MaintenanceConfig;
use taskq::prelude::*;

use run::{CHILD_LOG, CHILD_URL, CONCURRENCY, LEASE, Limited, OTHER_QUEUE, limited_run};

/// The worker process: serves queue `limited` until killed (or, should the
/// parent die, for two minutes at most). Does nothing when run on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the limit_kill tests in child processes"]
async fn limit_worker_child() {
    let (Ok(url), Ok(_)) = (std::env::var(CHILD_URL), std::env::var(CHILD_LOG)) else {
        return;
    };
    let client = Client::new(common::child_backend(&url).await).expect("client");
    let worker = Worker::builder(&client)
        .queue("limited", CONCURRENCY)
        .queue(OTHER_QUEUE, CONCURRENCY)
        .lease(LEASE)
        .heartbeat_interval(LEASE / 4)
        .poll_interval(Duration::from_millis(50))
        .maintenance(MaintenanceConfig {
            rescue_interval: Duration::from_millis(250),
            ..MaintenanceConfig::default()
        })
        .build()
        .expect("worker");
    worker
        .run_until(tokio::time::sleep(Duration::from_secs(120)))
        .await
        .expect("worker run");
}

/// A run on a fresh SQLite file.
#[cfg(feature = "sqlite")]
async fn on_sqlite(name: &str, limited: Limited) {
    let path = std::env::temp_dir().join(format!("taskq-limit-{name}-{}.db", std::process::id()));
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    remove();
    let url = format!("sqlite://{}", path.display());
    let backend = taskq::SqlBackend::connect(&url).await.expect("sqlite");
    limited_run(name, url, Arc::new(backend), limited).await;
    remove();
}

/// A run on a fresh schema (PostgreSQL) or database (MySQL) of the test
/// server.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn on_server(server: taskq::sea::scratch::Server, name: &str, limited: Limited) {
    let scratch = taskq::sea::scratch::Scratch::from_env(server)
        .await
        .expect("scratch schema or database on the server's test URL");
    let url = scratch.url().to_owned();
    let backend = taskq::SqlBackend::connect(&url).await.expect("connect");
    limited_run(name, url, Arc::new(backend), limited).await;
    let _ = scratch.drop_now().await;
}

#[cfg(feature = "postgres")]
async fn on_postgres(name: &str, limited: Limited) {
    on_server(taskq::sea::scratch::Server::Postgres, name, limited).await;
}

#[cfg(feature = "mysql")]
async fn on_mysql(name: &str, limited: Limited) {
    on_server(taskq::sea::scratch::Server::Mysql, name, limited).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_kill_rate_sqlite() {
    on_sqlite("sqlite-rate", Limited::Rate).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn limit_kill_rate_postgres() {
    on_postgres("postgres-rate", Limited::Rate).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
async fn limit_kill_rate_mysql() {
    on_mysql("mysql-rate", Limited::Rate).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_kill_sqlite() {
    on_sqlite("sqlite", Limited::Running).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn limit_kill_postgres() {
    on_postgres("postgres", Limited::Running).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
async fn limit_kill_mysql() {
    on_mysql("mysql", Limited::Running).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_kill_key_sqlite() {
    on_sqlite("sqlite-key", Limited::Key).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn limit_kill_key_postgres() {
    on_postgres("postgres-key", Limited::Key).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
async fn limit_kill_key_mysql() {
    on_mysql("mysql-key", Limited::Key).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_kill_fair_sqlite() {
    on_sqlite("sqlite-fair", Limited::Fair).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn limit_kill_fair_postgres() {
    on_postgres("postgres-fair", Limited::Fair).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
async fn limit_kill_fair_mysql() {
    on_mysql("mysql-fair", Limited::Fair).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn limit_kill_fair_redis() {
    let (url, backend) = common::redis_place("taskq-limit-fair").await;
    limited_run("redis-fair", url, backend, Limited::Fair).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_kill_type_sqlite() {
    on_sqlite("sqlite-type", Limited::Type).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn limit_kill_type_redis() {
    let (url, backend) = common::redis_place("taskq-limit-type").await;
    limited_run("redis-type", url, backend, Limited::Type).await;
}
