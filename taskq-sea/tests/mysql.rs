//! The MySQL / MariaDB backend: the shared conformance suite, then
//! MySQL-specific tests (claims across separate pools, large batches).
//!
//! Reads `TASKQ_TEST_MYSQL_URL` (e.g. `mysql://root@127.0.0.1:3306/test`);
//! when it is unset every test prints that it skipped and returns. Each
//! backend gets a fresh database (`taskq_test_<unix secs>_<pid>_<n>`) on
//! that server; databases an earlier run left behind are dropped once they
//! are an hour old.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::ConnectOptions;
use serde_json::json;
use taskq_core::conformance::record;
use taskq_core::{
    Backend, Broker, ClaimRequest, LeaseStatus, Outcome, Settlement, Store, TaskId, TaskRecord,
    TaskState,
};
use taskq_sea::SeaBackend;
use taskq_sea::scratch::{Scratch, Server};

/// A URL on a fresh database of the test server; `None` when
/// `TASKQ_TEST_MYSQL_URL` is unset.
async fn fresh_database() -> Option<String> {
    let scratch = Scratch::from_env(Server::Mysql)
        .await
        .expect("scratch database")?;
    Some(scratch.url().to_owned())
}

async fn backend_at(url: &str, pool: u32) -> SeaBackend {
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false).max_connections(pool);
    SeaBackend::connect_with(options).await.expect("connect")
}

async fn fresh_mysql() -> Option<SeaBackend> {
    Some(backend_at(&fresh_database().await?, 8).await)
}

taskq_core::conformance_suite!(mysql, || async {
    fresh_mysql()
        .await
        .map(|backend| Arc::new(backend) as Arc<dyn Backend>)
});

async fn claim(backend: &dyn Backend, queue: &str, limit: usize, worker: &str) -> Vec<TaskRecord> {
    backend
        .claim(ClaimRequest {
            queue,
            limit,
            worker_id: worker,
            lease: Duration::from_secs(30),
            now: Utc::now(),
        })
        .await
        .expect("claim")
}

/// Claimers on separate pools (as separate processes would be) never get
/// one task twice, and together drain the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimers_on_separate_pools_mysql() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let first = backend_at(&url, 2).await;
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..1000)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::microseconds(i)))
        .collect();
    first.enqueue(tasks).await.expect("enqueue");
    let mut handles = Vec::new();
    for w in 0..4 {
        let backend = backend_at(&url, 2).await;
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = claim(&backend, "q", 25, &format!("w{w}")).await;
                if batch.is_empty() {
                    break;
                }
                got.extend(batch.into_iter().map(|r| r.id));
            }
            got
        }));
    }
    let mut seen = HashSet::new();
    for handle in handles {
        for id in handle.await.expect("claimer") {
            assert!(seen.insert(id), "task {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 1000);
}

/// Heartbeats and settles of many tasks, with a repeated and a stale
/// settlement (MySQL takes the per-row path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_mysql() {
    let Some(backend) = fresh_mysql().await else {
        return;
    };
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..1200)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::microseconds(i)))
        .collect();
    backend.enqueue(tasks).await.expect("enqueue");
    let claimed = claim(&backend, "q", 2000, "w").await;
    assert_eq!(claimed.len(), 1200);
    let held: Vec<(TaskId, u32)> = claimed.iter().map(|r| (r.id, r.attempt)).collect();
    let lease = Utc::now() + chrono::Duration::seconds(300);
    let statuses = backend
        .heartbeat("w", &held, lease)
        .await
        .expect("heartbeat");
    assert!(statuses.iter().all(|s| *s == LeaseStatus::Held));
    let stale = backend
        .heartbeat("other", &held[..3], lease)
        .await
        .expect("heartbeat");
    assert_eq!(stale, vec![LeaseStatus::Lost; 3]);
    let mut settlements: Vec<Settlement> = claimed
        .iter()
        .enumerate()
        .map(|(i, r)| Settlement {
            id: r.id,
            attempt: r.attempt,
            outcome: Outcome::Finished(json!({ "i": i })),
            at: Utc::now(),
        })
        .collect();
    settlements.push(Settlement {
        id: claimed[0].id,
        attempt: 1,
        outcome: Outcome::Finished(json!("again")),
        at: Utc::now(),
    });
    let applied = backend.settle(settlements).await.expect("settle");
    assert!(applied[..1200].iter().all(|a| *a));
    assert!(!applied[1200]);
    let first = backend
        .get(claimed[0].id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(first.state, TaskState::Finished);
    assert_eq!(first.result, Some(json!({ "i": 0 })));
}
