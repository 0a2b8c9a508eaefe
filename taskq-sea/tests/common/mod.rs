//! What the PostgreSQL and MySQL test files share: scratch databases,
//! backends on separate pools, and the test bodies both servers run.

use std::collections::HashSet;
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
use taskq_sea::scratch::Scratch;
pub use taskq_sea::scratch::Server;

/// A URL on a fresh schema / database of the test server; panics when its
/// variable is unset or the server does not answer.
pub async fn scratch_url(server: Server) -> String {
    let scratch = Scratch::from_env(server)
        .await
        .unwrap_or_else(|err| panic!("scratch on {}: {err}", server.env_var()));
    scratch.url().to_owned()
}

/// A backend on `url` with `pool` connections, as one process would have.
pub async fn backend_at(url: &str, pool: u32) -> SeaBackend {
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false).max_connections(pool);
    SeaBackend::connect_with(options).await.expect("connect")
}

/// Four processes (one connection each) start together on the empty
/// schema / database at `url`: each migration succeeds, and the schema
/// works afterwards.
pub async fn concurrent_migrations(url: &str) {
    let mut handles = Vec::new();
    for _ in 0..4 {
        let url = url.to_owned();
        handles.push(tokio::spawn(async move {
            let mut options = ConnectOptions::new(url);
            options.sqlx_logging(false).max_connections(1);
            SeaBackend::connect_with(options).await.map(|_| ())
        }));
    }
    for handle in handles {
        handle.await.expect("task").expect("migrate");
    }
    let backend = backend_at(url, 1).await;
    let task = record("t", "q", 0, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    assert!(backend.get(task.id).await.expect("get").is_some());
}

pub async fn claim(
    backend: &dyn Backend,
    queue: &str,
    limit: usize,
    worker: &str,
) -> Vec<TaskRecord> {
    backend
        .claim(ClaimRequest {
            queue,
            limit,
            worker_id: worker,
            lease: Duration::from_secs(30),
            now: Utc::now(),
            task_types: None,
        })
        .await
        .expect("claim")
}

fn due_tasks(n: i64) -> Vec<TaskRecord> {
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    (0..n)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::microseconds(i)))
        .collect()
}

/// Four claimers on separate pools (as separate processes would be) never
/// get one of `n` tasks twice, and together drain the queue.
pub async fn claimers_on_separate_pools(url: &str, n: i64) {
    backend_at(url, 2)
        .await
        .enqueue(due_tasks(n))
        .await
        .expect("enqueue");
    let mut handles = Vec::new();
    for w in 0..4 {
        let backend = backend_at(url, 2).await;
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
    assert_eq!(seen.len() as i64, n);
}

/// Heartbeats and settles of `n` tasks in one call each, with a repeated
/// and a stale settlement at the end.
pub async fn large_batches(backend: &SeaBackend, n: usize) {
    backend.enqueue(due_tasks(n as i64)).await.expect("enqueue");
    let claimed = claim(backend, "q", n + 500, "w").await;
    assert_eq!(claimed.len(), n);
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
    assert_eq!(applied.len(), n + 2);
    assert!(applied[..n].iter().all(|a| *a));
    assert_eq!(&applied[n..], &[false, false]);
    let first = backend
        .get(claimed[0].id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(first.state, TaskState::Finished);
    assert_eq!(first.result, Some(json!({ "i": 0 })));
    assert!(first.lease_until.is_none());
}
