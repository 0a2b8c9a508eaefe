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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;
use taskq_core::conformance::record;
use taskq_core::{
    Backend, Broker, ClaimRequest, LeaseStatus, Outcome, Settlement, Store, TaskId, TaskRecord,
    TaskState,
};
use taskq_sea::SeaBackend;

const URL_VAR: &str = "TASKQ_TEST_POSTGRES_URL";

/// The server's URL, or `None` (after saying so) when the variable is unset.
fn server_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: {URL_VAR} is not set (no PostgreSQL to test against)");
            None
        }
    }
}

async fn admin(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false).max_connections(1);
    Database::connect(options)
        .await
        .expect("connect to PostgreSQL")
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// Creates a fresh schema and returns its name.
async fn fresh_schema(url: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let db = admin(url).await;
    let now = Utc::now().timestamp();
    let mut sweep = false;
    SWEEP.call_once(|| sweep = true);
    if sweep {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'taskq\\_test\\_%'",
            ))
            .await
            .expect("list schemas");
        for row in rows {
            let name: String = row.try_get("", "nspname").expect("name");
            let created = name
                .split('_')
                .nth(2)
                .and_then(|secs| secs.parse::<i64>().ok());
            if created.is_some_and(|secs| now - secs > 3600) {
                // Another run may be dropping it too: ignore failures.
                let _ = db
                    .execute_raw(Statement::from_string(
                        db.get_database_backend(),
                        format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"),
                    ))
                    .await;
            }
        }
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let schema = format!("taskq_test_{now}_{}_{n}", std::process::id());
    exec(&db, &format!("CREATE SCHEMA \"{schema}\"")).await;
    db.close().await.expect("close");
    schema
}

/// A backend on a fresh schema, with `pool` connections.
async fn backend_in(url: &str, schema: &str, pool: u32) -> SeaBackend {
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        .max_connections(pool)
        .set_schema_search_path(schema);
    SeaBackend::connect_with(options).await.expect("connect")
}

async fn fresh_postgres() -> Option<SeaBackend> {
    let url = server_url()?;
    let schema = fresh_schema(&url).await;
    Some(backend_in(&url, &schema, 8).await)
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
    let Some(url) = server_url() else { return };
    let schema = fresh_schema(&url).await;
    let first = backend_in(&url, &schema, 2).await;
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..2000)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::microseconds(i)))
        .collect();
    first.enqueue(tasks).await.expect("enqueue");
    let mut handles = Vec::new();
    for w in 0..4 {
        let backend = backend_in(&url, &schema, 2).await;
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
    let Some(url) = server_url() else { return };
    let schema = fresh_schema(&url).await;
    let mut handles = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        let schema = schema.clone();
        handles.push(tokio::spawn(async move {
            let mut options = ConnectOptions::new(url);
            options
                .sqlx_logging(false)
                .max_connections(1)
                .set_schema_search_path(schema);
            SeaBackend::connect_with(options).await.map(|_| ())
        }));
    }
    for handle in handles {
        handle.await.expect("task").expect("migrate");
    }
    let backend = backend_in(&url, &schema, 1).await;
    let task = record("t", "q", 0, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    assert!(backend.get(task.id).await.expect("get").is_some());
}

/// An enqueue through one backend (another process, as far as the
/// second is concerned) wakes the second's idle workers through
/// `LISTEN/NOTIFY`, without waiting for a poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_wakes_other_processes_postgres() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema(&url).await;
    let submitter = backend_in(&url, &schema, 2).await;
    let worker_side = backend_in(&url, &schema, 2).await;
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
