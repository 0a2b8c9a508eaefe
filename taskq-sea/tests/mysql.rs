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
