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

const URL_VAR: &str = "TASKQ_TEST_MYSQL_URL";

/// The server's URL, or `None` (after saying so) when the variable is unset.
fn server_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: {URL_VAR} is not set (no MySQL to test against)");
            None
        }
    }
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    // `mysql://user@host:port/db`: the database follows the third slash.
    let authority_end = base
        .match_indices('/')
        .nth(2)
        .map_or(base.len(), |(i, _)| i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

async fn admin(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false).max_connections(1);
    Database::connect(options).await.expect("connect to MySQL")
}

/// Creates a fresh database and returns a URL that uses it.
async fn fresh_database(url: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let db = admin(url).await;
    let backend = db.get_database_backend();
    let now = Utc::now().timestamp();
    let mut sweep = false;
    SWEEP.call_once(|| sweep = true);
    if sweep {
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT schema_name AS name FROM information_schema.schemata \
                 WHERE schema_name LIKE 'taskq\\_test\\_%'",
            ))
            .await
            .expect("list databases");
        for row in rows {
            let name: String = row.try_get("", "name").expect("name");
            let created = name
                .split('_')
                .nth(2)
                .and_then(|secs| secs.parse::<i64>().ok());
            if created.is_some_and(|secs| now - secs > 3600) {
                // Another run may be dropping it too: ignore failures.
                let _ = db
                    .execute_raw(Statement::from_string(
                        backend,
                        format!("DROP DATABASE IF EXISTS `{name}`"),
                    ))
                    .await;
            }
        }
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("taskq_test_{now}_{}_{n}", std::process::id());
    db.execute_raw(Statement::from_string(
        backend,
        format!("CREATE DATABASE `{name}`"),
    ))
    .await
    .expect("create database");
    db.close().await.expect("close");
    with_database(url, &name)
}

async fn backend_at(url: &str, pool: u32) -> SeaBackend {
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false).max_connections(pool);
    SeaBackend::connect_with(options).await.expect("connect")
}

async fn fresh_mysql() -> Option<SeaBackend> {
    let url = fresh_database(&server_url()?).await;
    Some(backend_at(&url, 8).await)
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

#[test]
fn replaces_the_database_in_urls_mysql() {
    assert_eq!(
        with_database("mysql://root@127.0.0.1:3306/test", "x"),
        "mysql://root@127.0.0.1:3306/x"
    );
    assert_eq!(
        with_database("mysql://u:p@h/test?ssl-mode=disabled", "x"),
        "mysql://u:p@h/x?ssl-mode=disabled"
    );
    assert_eq!(with_database("mysql://h:1", "x"), "mysql://h:1/x");
}

/// Claimers on separate pools (as separate processes would be) never get
/// one task twice, and together drain the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimers_on_separate_pools_mysql() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server).await;
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
