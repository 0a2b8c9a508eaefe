//! The PostgreSQL backend: the shared conformance suite, then
//! PostgreSQL-specific tests (claims across separate pools, batch
//! statements past one chunk, concurrent migration).
//!
//! Reads `TASKQ_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); when it is unset every test
//! prints that it skipped and returns. Each backend gets a fresh schema
//! (`taskq_test_<unix secs>_<pid>_<n>`) through the connection's
//! `search_path`; schemas an earlier run left behind are dropped once they
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

/// A URL on a fresh schema of the test server; `None` when
/// `TASKQ_TEST_POSTGRES_URL` is unset.
async fn fresh_schema() -> Option<String> {
    let scratch = Scratch::from_env(Server::Postgres)
        .await
        .expect("scratch schema")?;
    Some(scratch.url().to_owned())
}

/// A backend on `url` with `pool` connections.
async fn backend_in(url: &str, pool: u32) -> SeaBackend {
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false).max_connections(pool);
    SeaBackend::connect_with(options).await.expect("connect")
}

async fn fresh_postgres() -> Option<SeaBackend> {
    Some(backend_in(&fresh_schema().await?, 8).await)
}

taskq_core::conformance_suite!(postgres, || async {
    fresh_postgres()
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
/// one task twice, and together drain the queue: `SKIP LOCKED` makes them
/// pass each other's locked rows instead of waiting or failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimers_on_separate_pools_postgres() {
    let Some(url) = fresh_schema().await else {
        return;
    };
    let first = backend_in(&url, 2).await;
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..2000)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::microseconds(i)))
        .collect();
    first.enqueue(tasks).await.expect("enqueue");
    let mut handles = Vec::new();
    for w in 0..4 {
        let backend = backend_in(&url, 2).await;
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
    assert_eq!(seen.len(), 2000);
}

/// Settles and heartbeats of more than one statement's worth (the batch
/// statements are chunked), with a repeated and a stale settlement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_postgres() {
    let Some(backend) = fresh_postgres().await else {
        return;
    };
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..2500)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::microseconds(i)))
        .collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let claimed = claim(&backend, "q", 3000, "w").await;
    assert_eq!(claimed.len(), 2500);
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
    settlements.push(Settlement {
        id: claimed[1].id,
        attempt: 7,
        outcome: Outcome::Finished(json!("stale")),
        at: Utc::now(),
    });
    let applied = backend.settle(settlements).await.expect("settle");
    assert_eq!(applied.len(), 2502);
    assert!(applied[..2500].iter().all(|a| *a));
    assert_eq!(&applied[2500..], &[false, false]);
    let first = backend
        .get(claimed[0].id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(first.state, TaskState::Finished);
    assert_eq!(first.result, Some(json!({ "i": 0 })));
    assert!(first.lease_until.is_none());
}

/// Processes starting together against an empty schema migrate it once,
/// without failing on each other's `CREATE TABLE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_postgres() {
    let Some(url) = fresh_schema().await else {
        return;
    };
    let mut handles = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        handles.push(tokio::spawn(async move {
            let mut options = ConnectOptions::new(url);
            options.sqlx_logging(false).max_connections(1);
            SeaBackend::connect_with(options).await.map(|_| ())
        }));
    }
    for handle in handles {
        handle.await.expect("task").expect("migrate");
    }
    let backend = backend_in(&url, 1).await;
    let task = record("t", "q", 0, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    assert!(backend.get(task.id).await.expect("get").is_some());
}

/// An enqueue through one backend (another process, as far as the
/// second is concerned) wakes the second's idle workers through
/// `LISTEN/NOTIFY`, without waiting for a poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_wakes_other_processes_postgres() {
    let Some(url) = fresh_schema().await else {
        return;
    };
    let submitter = backend_in(&url, 2).await;
    let worker_side = backend_in(&url, 2).await;
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
