//! The PostgreSQL backend: the shared conformance suite, then
//! PostgreSQL-specific tests (claims across separate pools, batch
//! statements past one chunk, concurrent migration).
//!
//! Reads `TASKQ_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); built without it every test
//! is ignored, and with it a server that does not answer fails them. Each backend gets a fresh schema
//! (`taskq_test_<unix secs>_<pid>_<n>`) through the connection's
//! `search_path`; schemas an earlier run left behind are dropped once they
//! are an hour old.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::{
    Server, backend_at, claimers_on_separate_pools, concurrent_migrations, large_batches,
    scratch_url,
};
use taskq_core::conformance::record;
use taskq_core::{Backend, Broker};
use taskq_sea::SeaBackend;

async fn fresh_schema() -> String {
    scratch_url(Server::Postgres).await
}

async fn fresh_postgres() -> SeaBackend {
    backend_at(&fresh_schema().await, 8).await
}

/// The shared conformance suite: `cargo test conformance::` runs it alone.
mod conformance {
    #[allow(unused_imports)]
    use super::*;

    taskq_core::conformance_suite!(
        #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
        postgres,
        || async { Arc::new(fresh_postgres().await) as Arc<dyn Backend> }
    );
}

/// Claimers on separate pools (as separate processes would be) never get
/// one task twice, and together drain the queue: `SKIP LOCKED` makes them
/// pass each other's locked rows instead of waiting or failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn claimers_on_separate_pools_postgres() {
    let url = fresh_schema().await;
    claimers_on_separate_pools(&url, 2000).await;
}

/// Settles and heartbeats of more than one statement's worth (the batch
/// statements are chunked), with a repeated and a stale settlement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn large_batches_postgres() {
    let backend = fresh_postgres().await;
    large_batches(&backend, 2500).await;
}

/// Processes starting together against an empty schema migrate it once,
/// without failing on each other's `CREATE TABLE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn concurrent_migrations_postgres() {
    let url = fresh_schema().await;
    concurrent_migrations(&url).await;
}

/// An enqueue through one backend (another process, as far as the
/// second is concerned) wakes the second's idle workers through
/// `LISTEN/NOTIFY`, without waiting for a poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn notify_wakes_other_processes_postgres() {
    let url = fresh_schema().await;
    let submitter = backend_at(&url, 2).await;
    let worker_side = backend_at(&url, 2).await;
    let signal = worker_side.work_signal().expect("a work signal");
    // The listener starts in the background: retry until it hears one.
    let mut woken = false;
    for _ in 0..20 {
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        submitter
            .enqueue(vec![record("t", "q", 0, Utc::now())])
            .await
            .expect("enqueue");
        if tokio::time::timeout(Duration::from_millis(500), notified)
            .await
            .is_ok()
        {
            woken = true;
            break;
        }
    }
    assert!(woken, "no wake-up from another backend's enqueue");
    // A paused queue's resume wakes too.
    submitter.set_queue_paused("q", true).await.expect("pause");
    let notified = signal.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    submitter
        .set_queue_paused("q", false)
        .await
        .expect("resume");
    tokio::time::timeout(Duration::from_secs(2), notified)
        .await
        .expect("resume wakes other processes");
}
