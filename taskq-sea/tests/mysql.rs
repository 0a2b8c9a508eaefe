//! The MySQL / MariaDB backend: the shared conformance suite, then
//! MySQL-specific tests (claims across separate pools, large batches).
//!
//! Reads `TASKQ_TEST_MYSQL_URL` (e.g. `mysql://root@127.0.0.1:3306/test`);
//! built without it every test is ignored, and with it a server that does
//! not answer fails them. Each
//! backend gets a fresh database (`taskq_test_<unix secs>_<pid>_<n>`) on
//! that server; databases an earlier run left behind are dropped once they
//! are an hour old.

mod common;

use std::sync::Arc;

use common::{
    Server, backend_at, claimers_on_separate_pools, concurrent_migrations, large_batches,
    scratch_url,
};
use taskq_core::Backend;
use taskq_sea::SeaBackend;

async fn fresh_mysql() -> SeaBackend {
    backend_at(&scratch_url(Server::Mysql).await, 8).await
}

/// The shared conformance suite: `cargo test conformance::` runs it alone.
mod conformance {
    #[allow(unused_imports)]
    use super::*;

    taskq_core::conformance_suite!(
        #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
        mysql,
        || async { Arc::new(fresh_mysql().await) as Arc<dyn Backend> }
    );
}

/// Processes starting together against an empty database migrate it
/// once, without failing on each other's `CREATE TABLE`: MySQL's DDL is
/// not transactional, so they take a named lock (`GET_LOCK`) first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
async fn concurrent_migrations_mysql() {
    let url = scratch_url(Server::Mysql).await;
    concurrent_migrations(&url).await;
}

/// Claimers on separate pools (as separate processes would be) never get
/// one task twice, and together drain the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
async fn claimers_on_separate_pools_mysql() {
    let url = scratch_url(Server::Mysql).await;
    claimers_on_separate_pools(&url, 1000).await;
}

/// Heartbeats and settles of many tasks, with a repeated and a stale
/// settlement (MySQL takes the per-row path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
async fn large_batches_mysql() {
    let backend = fresh_mysql().await;
    large_batches(&backend, 1200).await;
}

/// MySQL's claim locks a limited type's row only once it meets a due task
/// of the type (`type_limit::MetLocks`): while another transaction holds
/// the row of a limited type the worker runs, a claim whose due tasks are
/// of another type completes at once, and one that meets a task of the
/// held type waits for the row (never admitting the task unlocked), then
/// takes it once the row is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
async fn limit_type_claim_locks_only_the_types_it_meets_mysql() {
    use std::time::Duration;

    use sea_orm::{ConnectionTrait, TransactionTrait};
    use taskq_core::backend::{Broker, ClaimRequest};
    use taskq_core::conformance::helpers::record;

    let url = scratch_url(Server::Mysql).await;
    let backend = backend_at(&url, 4).await;
    backend
        .set_type_limit("held", Some(1))
        .await
        .expect("type limit");
    let now = chrono::Utc::now();
    backend
        .enqueue(vec![record("free", "q", 0, now)])
        .await
        .expect("enqueue");
    let holder = sea_orm::Database::connect(url.as_str())
        .await
        .expect("connect");
    let txn = holder.begin().await.expect("begin");
    txn.execute_unprepared("SELECT name FROM taskq_task_types WHERE name = 'held' FOR UPDATE")
        .await
        .expect("lock the held type's row");
    let types: &[&str] = &["free", "held"];
    let request = ClaimRequest {
        queue: "q",
        limit: 2,
        worker_id: "w",
        lease: Duration::from_secs(30),
        now,
        task_types: Some(types),
    };
    let claimed = tokio::time::timeout(Duration::from_secs(10), backend.claim(request.clone()))
        .await
        .expect("a claim of another type's task waited for the held type's row")
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].task_type, "free");

    let held = record("held", "q", 0, now);
    let held_id = held.id;
    backend.enqueue(vec![held]).await.expect("enqueue");
    let waiting = tokio::spawn({
        let backend = backend.clone();
        async move {
            let types: &[&str] = &["free", "held"];
            backend
                .claim(ClaimRequest {
                    task_types: Some(types),
                    ..request
                })
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !waiting.is_finished(),
        "the claim took a held type's task without its row"
    );
    txn.rollback().await.expect("rollback");
    let claimed = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the claim goes on once the row is free")
        .expect("join")
        .expect("claim");
    assert_eq!(claimed.iter().map(|t| t.id).collect::<Vec<_>>(), [held_id]);
}
