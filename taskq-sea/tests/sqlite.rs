//! The SQLite backend: the shared conformance suite, then SQLite-specific
//! tests (durability across reopen, several connections and processes on
//! one file, sub-second timestamps, migrations) and a differential test
//! against the in-memory reference backend.
//!
//! Every test gets its own database file under
//! `$TMPDIR/taskq-sea-tests/`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;
use serde_json::json;
use taskq_core::conformance::helpers::{claim, claim_at, failure, get, ids, record};
use taskq_core::{
    Backend, Broker, ClaimRequest, Error, ErrorKind, LeaseStatus, MemoryBackend, Outcome, Page,
    PageRequest, Position, Progress, Settlement, Store, TaskFilter, TaskId, TaskRecord, TaskState,
};
use taskq_sea::SeaBackend;

/// A fresh database file path (the file does not exist yet). Files the
/// suite's backends leave behind are removed by a later run once they are
/// an hour old.
fn fresh_path() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let dir = std::env::temp_dir().join("taskq-sea-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    SWEEP.call_once(|| {
        let stale = std::time::SystemTime::now() - Duration::from_secs(3600);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let modified = entry.metadata().and_then(|m| m.modified());
            if modified.is_ok_and(|m| m < stale) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    dir.join(format!("{}-{nanos}-{n}.db", std::process::id()))
}

fn url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Removes a database file and its WAL companions.
fn remove_db(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

async fn fresh_sqlite() -> SeaBackend {
    SeaBackend::connect(&url(&fresh_path()))
        .await
        .expect("connect")
}

/// The shared conformance suite: `cargo test conformance::` runs it alone.
mod conformance {
    #[allow(unused_imports)]
    use super::*;

    taskq_core::conformance_suite!(sqlite, || async {
        Arc::new(fresh_sqlite().await) as Arc<dyn Backend>
    });
}

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

fn us(n: i64) -> chrono::Duration {
    chrono::Duration::microseconds(n)
}

/// A time with a whole second (no fractional digits in its stored text).
fn whole_second() -> DateTime<Utc> {
    Utc.timestamp_opt(Utc::now().timestamp() - 100, 0)
        .single()
        .expect("time")
}

#[tokio::test]
async fn claim_order_priority_then_eta_then_fifo_sqlite() {
    let backend = fresh_sqlite().await;
    let t0 = whole_second();
    // ETAs a microsecond apart, one on a whole second: stored as text of
    // different lengths ("…:40+00:00" vs "…:40.000001+00:00").
    let eta_whole = record("t", "q", 5, t0);
    let eta_plus_1us = record("t", "q", 5, t0 + us(1));
    let eta_minus_1us = record("t", "q", 5, t0 - us(1));
    let mut fifo_a = record("t", "q", 5, t0 + ms(500));
    let mut fifo_b = record("t", "q", 5, t0 + ms(500));
    fifo_a.seq = eta_plus_1us.seq + 10;
    fifo_b.seq = fifo_a.seq + 1;
    let high = record("t", "q", 6, t0 + ms(900));
    let low = record("t", "q", -1, t0 - ms(900));
    backend
        .enqueue(vec![
            fifo_b.clone(),
            low.clone(),
            eta_plus_1us.clone(),
            fifo_a.clone(),
            eta_whole.clone(),
            high.clone(),
            eta_minus_1us.clone(),
        ])
        .await
        .expect("enqueue");
    let claimed = claim(&backend, "q", 100, "w").await;
    assert_eq!(
        ids(&claimed),
        vec![
            high.id,
            eta_minus_1us.id,
            eta_whole.id,
            eta_plus_1us.id,
            fifo_a.id,
            fifo_b.id,
            low.id
        ]
    );
    for c in &claimed {
        assert_eq!((c.state, c.attempt), (TaskState::Running, 1));
    }
}

#[tokio::test]
async fn eta_not_claimed_early_sqlite() {
    let backend = fresh_sqlite().await;
    let base = whole_second() + chrono::Duration::seconds(200);
    let on_second = record("t", "q", 5, base);
    let fractional = record("t", "q", 5, base + ms(250));
    backend
        .enqueue(vec![on_second.clone(), fractional.clone()])
        .await
        .expect("enqueue");
    let lease = Duration::from_secs(30);
    assert!(
        claim_at(&backend, "q", 10, "w", base - us(1), lease)
            .await
            .is_empty()
    );
    // Exactly at the ETA is due.
    let at_eta = claim_at(&backend, "q", 10, "w", base, lease).await;
    assert_eq!(ids(&at_eta), vec![on_second.id]);
    assert!(
        claim_at(&backend, "q", 10, "w", base + ms(250) - us(1), lease)
            .await
            .is_empty()
    );
    let later = claim_at(&backend, "q", 10, "w", base + ms(250), lease).await;
    assert_eq!(ids(&later), vec![fractional.id]);
}

#[tokio::test]
async fn file_survives_reopen_sqlite() {
    let path = fresh_path();
    let task = {
        let backend = SeaBackend::connect(&url(&path)).await.expect("connect");
        let mut task = record("t", "q", 5, Utc::now());
        task.params = json!({"keep": "me"});
        backend.enqueue(vec![task.clone()]).await.expect("enqueue");
        backend.connection().clone().close().await.expect("close");
        task
    };
    assert!(path.exists());
    let reopened = SeaBackend::connect(&url(&path)).await.expect("reopen");
    let claimed = claim(&reopened, "q", 10, "w").await;
    assert_eq!(ids(&claimed), vec![task.id]);
    assert_eq!(claimed[0].params, json!({"keep": "me"}));
    reopened.connection().clone().close().await.expect("close");
    remove_db(&path);
}

#[tokio::test]
async fn connection_is_wal_and_durable_sqlite() {
    let backend = fresh_sqlite().await;
    let db = backend.connection();
    let pragma = |name: &'static str| async move {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("PRAGMA {name}"),
            ))
            .await
            .expect("pragma")
            .expect("row");
        row.try_get_by_index::<sea_orm::prelude::Json>(0)
            .map(|v| v.to_string())
            .or_else(|_| row.try_get_by_index::<String>(0))
            .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
            .expect("value")
    };
    assert_eq!(pragma("journal_mode").await.to_lowercase(), "wal");
    assert_eq!(pragma("synchronous").await, "2", "FULL");
    let busy: i64 = pragma("busy_timeout").await.parse().expect("number");
    assert!(busy >= 5000, "busy timeout {busy} ms");
}

#[tokio::test]
async fn settle_fencing_rejects_stale_attempt_sqlite() {
    let backend = fresh_sqlite().await;
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let start = Utc::now();
    claim_at(&backend, "q", 1, "old", start, Duration::from_millis(10)).await;
    backend
        .rescue_expired(
            start + ms(20),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("rescue");
    let second = claim_at(
        &backend,
        "q",
        1,
        "new",
        start + ms(30),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(second[0].attempt, 2);
    let applied = backend
        .settle(vec![
            Settlement {
                id: task.id,
                attempt: 1,
                outcome: Outcome::Finished(json!("stale")),
                at: Utc::now(),
            },
            Settlement {
                id: TaskId::now_v7(),
                attempt: 1,
                outcome: Outcome::Finished(json!("unknown")),
                at: Utc::now(),
            },
            Settlement {
                id: task.id,
                attempt: 2,
                outcome: Outcome::Finished(json!(null)),
                at: Utc::now(),
            },
            Settlement {
                id: task.id,
                attempt: 2,
                outcome: Outcome::Finished(json!("twice")),
                at: Utc::now(),
            },
        ])
        .await
        .expect("settle");
    assert_eq!(applied, vec![false, false, true, false]);
    let done = get(&backend, task.id).await;
    assert_eq!(done.state, TaskState::Finished);
    // A JSON null result is a result, not a missing one.
    assert_eq!(done.result, Some(json!(null)));
    assert_eq!(done.worker_id.as_deref(), Some("new"));
}

#[tokio::test]
async fn heartbeat_statuses_sqlite() {
    let backend = fresh_sqlite().await;
    let t0 = Utc::now() - ms(10);
    let a = record("t", "q", 5, t0);
    let b = record("t", "q", 5, t0 + ms(1));
    let c = record("t", "q", 5, t0 + ms(2));
    backend
        .enqueue(vec![a.clone(), b.clone(), c.clone()])
        .await
        .expect("enqueue");
    claim(&backend, "q", 2, "w1").await;
    claim(&backend, "q", 1, "w2").await;
    backend.cancel(b.id, Utc::now()).await.expect("cancel");
    let lease = Utc::now() + chrono::Duration::seconds(90);
    let statuses = backend
        .heartbeat(
            "w1",
            &[
                (a.id, 1),
                (b.id, 1),
                (c.id, 1),
                (a.id, 2),
                (TaskId::now_v7(), 1),
            ],
            lease,
        )
        .await
        .expect("heartbeat");
    assert_eq!(
        statuses,
        vec![
            LeaseStatus::Held,
            LeaseStatus::CancelRequested,
            LeaseStatus::Lost,
            LeaseStatus::Lost,
            LeaseStatus::Lost
        ]
    );
    assert_eq!(get(&backend, a.id).await.lease_until, Some(lease));
    assert_ne!(get(&backend, c.id).await.lease_until, Some(lease));
    assert!(
        backend
            .heartbeat("w1", &[], lease)
            .await
            .expect("empty")
            .is_empty()
    );
    // Many tasks in one call (more than one statement's worth).
    let many: Vec<TaskRecord> = (0..900)
        .map(|i| record("t", "many", 5, t0 + us(i)))
        .collect();
    backend.enqueue(many.clone()).await.expect("enqueue");
    claim(&backend, "many", 1000, "w3").await;
    let held: Vec<(TaskId, u32)> = many.iter().map(|r| (r.id, 1)).collect();
    let statuses = backend.heartbeat("w3", &held, lease).await.expect("hb");
    assert_eq!(statuses.len(), 900);
    assert!(statuses.iter().all(|s| *s == LeaseStatus::Held));
}

#[tokio::test]
async fn rescue_sqlite() {
    let backend = fresh_sqlite().await;
    let start = Utc::now() - chrono::Duration::seconds(60);
    let mut spent = record("t", "q", 9, start);
    spent.max_retries = 0;
    let retryable = record("t", "q", 8, start);
    let to_cancel = record("t", "q", 7, start);
    let live = record("t", "q", 6, start);
    backend
        .enqueue(vec![
            spent.clone(),
            retryable.clone(),
            to_cancel.clone(),
            live.clone(),
        ])
        .await
        .expect("enqueue");
    // Leases ending 500.25 ms and 500.5 ms after `start`.
    claim_at(
        &backend,
        "q",
        3,
        "dead",
        start,
        Duration::from_micros(500_250),
    )
    .await;
    claim_at(
        &backend,
        "q",
        1,
        "alive",
        start,
        Duration::from_micros(500_500),
    )
    .await;
    backend
        .cancel(to_cancel.id, Utc::now())
        .await
        .expect("cancel");
    // The lease end itself is not expired yet; a microsecond later it is.
    let none = backend
        .rescue_expired(
            start + us(500_250),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("rescue");
    assert_eq!(none, Default::default());
    let report = backend
        .rescue_expired(
            start + us(500_251),
            &taskq_core::lifecycle::RetryPolicy::IMMEDIATE,
        )
        .await
        .expect("rescue");
    assert_eq!(
        (report.requeued, report.failed, report.cancelled),
        (1, 1, 1)
    );
    let failed = get(&backend, spent.id).await;
    assert_eq!(failed.state, TaskState::Failed);
    assert_eq!(
        failed.error,
        Some(failure(
            ErrorKind::LeaseExpired,
            "worker `dead` stopped renewing its lease"
        ))
    );
    assert!(failed.finished_at.is_some() && failed.lease_until.is_none());
    let requeued = get(&backend, retryable.id).await;
    assert_eq!((requeued.state, requeued.attempt), (TaskState::Pending, 1));
    assert_eq!(requeued.scheduled_at, start + us(500_251));
    let cancelled = get(&backend, to_cancel.id).await;
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert!(!cancelled.cancel_requested);
    assert_eq!(get(&backend, live.id).await.state, TaskState::Running);
    let reclaimed = claim(&backend, "q", 10, "w").await;
    assert_eq!(ids(&reclaimed), vec![retryable.id]);
    assert_eq!(reclaimed[0].attempt, 2);
}

#[tokio::test]
async fn rescue_handles_more_than_one_chunk_sqlite() {
    let backend = fresh_sqlite().await;
    let start = Utc::now() - chrono::Duration::seconds(60);
    let tasks: Vec<TaskRecord> = (0..1203)
        .map(|i| record("t", "q", 5, start + us(i)))
        .collect();
    backend.enqueue(tasks).await.expect("enqueue");
    let claimed = claim_at(
        &backend,
        "q",
        2000,
        "dead",
        start + ms(5),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(claimed.len(), 1203);
    let report = backend
        .rescue_expired(Utc::now(), &taskq_core::lifecycle::RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1203);
    assert_eq!(claim(&backend, "q", 2000, "w").await.len(), 1203);
}

/// Two backends (two pools, as two processes would have) on one file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claimers_on_one_file_sqlite() {
    let path = fresh_path();
    let first = Arc::new(SeaBackend::connect(&url(&path)).await.expect("connect"));
    let second = Arc::new(SeaBackend::connect(&url(&path)).await.expect("connect"));
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..2000)
        .map(|i| record("t", "q", (i % 3) as i32, t0 + us(i)))
        .collect();
    first.enqueue(tasks).await.expect("enqueue");
    let mut handles = Vec::new();
    for (n, backend) in [first.clone(), second.clone(), first, second]
        .into_iter()
        .enumerate()
    {
        handles.push(tokio::spawn(async move {
            let worker = format!("w{n}");
            let mut got = Vec::new();
            loop {
                let batch = claim(&*backend, "q", 13, &worker).await;
                if batch.is_empty() {
                    break;
                }
                got.extend(ids(&batch));
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
    remove_db(&path);
}

/// `sqlite::memory:` is one database for the backend's lifetime.
#[tokio::test]
async fn in_memory_database_sqlite() {
    let backend = SeaBackend::connect("sqlite::memory:")
        .await
        .expect("connect");
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    assert_eq!(ids(&claim(&backend, "q", 10, "w").await), vec![task.id]);
}

/// A pool of several connections: writers contend through SQLite's locks
/// (`BEGIN IMMEDIATE` + busy timeout) and still never share a task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_of_several_connections_sqlite() {
    let path = fresh_path();
    let mut options = sea_orm::ConnectOptions::new(url(&path));
    options.max_connections(4).sqlx_logging(false);
    let backend = Arc::new(SeaBackend::connect_with(options).await.expect("connect"));
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..1000).map(|i| record("t", "q", 5, t0 + us(i))).collect();
    backend.enqueue(tasks).await.expect("enqueue");
    let mut handles = Vec::new();
    for n in 0..4 {
        let backend = backend.clone();
        handles.push(tokio::spawn(async move {
            let worker = format!("w{n}");
            let mut got = Vec::new();
            loop {
                let batch = claim(&*backend, "q", 9, &worker).await;
                if batch.is_empty() {
                    break;
                }
                let applied = backend
                    .settle(
                        batch
                            .iter()
                            .map(|r| Settlement {
                                id: r.id,
                                attempt: r.attempt,
                                outcome: Outcome::Finished(json!(n)),
                                at: Utc::now(),
                            })
                            .collect(),
                    )
                    .await
                    .expect("settle");
                assert!(applied.iter().all(|a| *a));
                got.extend(ids(&batch));
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
    let finished = backend
        .list(
            &TaskFilter {
                state: Some(TaskState::Finished),
                ..TaskFilter::default()
            },
            PageRequest::new(1, 1),
        )
        .await
        .expect("list");
    assert_eq!(finished.total, 1000);
    remove_db(&path);
}

const CHILD_DB: &str = "TASKQ_SEA_TEST_CHILD_DB";
const CHILD_OUT: &str = "TASKQ_SEA_TEST_CHILD_OUT";

/// Two worker *processes* (this test binary, re-run) claim from one file.
#[tokio::test]
async fn concurrent_claimer_processes_sqlite() {
    let path = fresh_path();
    let backend = SeaBackend::connect(&url(&path)).await.expect("connect");
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..3000).map(|i| record("t", "q", 5, t0 + us(i))).collect();
    backend.enqueue(tasks).await.expect("enqueue");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<(std::process::Child, PathBuf)> = (0..3)
        .map(|n| {
            let out = path.with_extension(format!("out{n}"));
            let child = std::process::Command::new(&exe)
                .args(["--exact", "claimer_child_process_sqlite", "--ignored"])
                .env(CHILD_DB, &path)
                .env(CHILD_OUT, &out)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn child");
            (child, out)
        })
        .collect();
    let mut seen = HashSet::new();
    let mut per_child = Vec::new();
    for (mut child, out) in children {
        assert!(child.wait().expect("wait").success(), "child failed");
        let text = std::fs::read_to_string(&out).expect("child output");
        let _ = std::fs::remove_file(&out);
        let mut count = 0;
        for line in text.lines() {
            let id: TaskId = line.parse().expect("uuid");
            assert!(seen.insert(id), "task {id} claimed by two processes");
            count += 1;
        }
        per_child.push(count);
    }
    assert_eq!(seen.len(), 3000, "per child: {per_child:?}");
    let stats = backend.queue_stats().await.expect("stats");
    assert_eq!(stats[0].running, 3000);
    remove_db(&path);
}

/// The child side of [`concurrent_claimer_processes_sqlite`]; does nothing
/// when run on its own.
#[tokio::test]
#[ignore = "run by concurrent_claimer_processes_sqlite in a child process"]
async fn claimer_child_process_sqlite() {
    let (Ok(db), Ok(out)) = (std::env::var(CHILD_DB), std::env::var(CHILD_OUT)) else {
        return;
    };
    let backend = SeaBackend::connect(&url(std::path::Path::new(&db)))
        .await
        .expect("connect");
    let worker = format!("pid{}", std::process::id());
    let mut lines = String::new();
    loop {
        let batch = claim(&backend, "q", 17, &worker).await;
        if batch.is_empty() {
            break;
        }
        for record in batch {
            assert_eq!(record.worker_id.as_deref(), Some(worker.as_str()));
            lines.push_str(&format!("{}\n", record.id));
        }
    }
    std::fs::write(out, lines).expect("write output");
}

#[tokio::test]
async fn migrations_are_idempotent_sqlite() {
    let path = fresh_path();
    let backend = SeaBackend::connect(&url(&path)).await.expect("connect");
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    backend.migrate().await.expect("migrate twice");
    taskq_sea::migration::Migrator::up(backend.connection(), None)
        .await
        .expect("migrator up again");
    let status = taskq_sea::migration::Migrator::get_pending_migrations(backend.connection())
        .await
        .expect("status");
    assert!(status.is_empty());

    // A host migrator that spliced taskq's migrations in, run on the same
    // database (its own `seaql_migrations` table): harmless.
    struct HostMigrator;
    #[async_trait::async_trait]
    impl MigratorTrait for HostMigrator {
        fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
            taskq_sea::migration::migrations()
        }
    }
    HostMigrator::up(backend.connection(), None)
        .await
        .expect("host migrator");
    backend.connection().clone().close().await.expect("close");

    // Down and up again on a scratch database.
    let scratch = fresh_path();
    let db = sea_orm::Database::connect(format!("{}?mode=rwc", url(&scratch)))
        .await
        .expect("connect");
    taskq_sea::migration::Migrator::up(&db, None)
        .await
        .expect("up");
    taskq_sea::migration::Migrator::down(&db, None)
        .await
        .expect("down");
    taskq_sea::migration::Migrator::up(&db, None)
        .await
        .expect("up again");
    db.close().await.expect("close");
    remove_db(&scratch);

    // Reopening migrates again (nothing to do) and keeps the data.
    let reopened = SeaBackend::connect(&url(&path)).await.expect("reopen");
    assert_eq!(get(&reopened, task.id).await.id, task.id);
    reopened.connection().clone().close().await.expect("close");
    remove_db(&path);
}

#[tokio::test]
async fn from_connection_does_not_migrate_sqlite() {
    let path = fresh_path();
    let db = sea_orm::Database::connect(format!("{}?mode=rwc", url(&path)))
        .await
        .expect("connect");
    let backend = SeaBackend::from_connection(db);
    assert!(
        matches!(backend.get(TaskId::now_v7()).await, Err(Error::Backend(_))),
        "no tables before migrate"
    );
    backend.migrate().await.expect("migrate");
    assert!(backend.get(TaskId::now_v7()).await.expect("get").is_none());
    remove_db(&path);
}

#[tokio::test]
async fn purge_compares_sub_second_times_sqlite() {
    let backend = fresh_sqlite().await;
    let t0 = Utc::now() - chrono::Duration::seconds(10);
    let tasks: Vec<TaskRecord> = (0..3).map(|i| record("t", "q", 5, t0 + us(i))).collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    claim(&backend, "q", 3, "w").await;
    let whole = whole_second();
    let finished = [whole, whole + us(1), whole + ms(500)];
    backend
        .settle(
            tasks
                .iter()
                .zip(finished)
                .map(|(t, at)| Settlement {
                    id: t.id,
                    attempt: 1,
                    outcome: Outcome::Finished(json!(1)),
                    at,
                })
                .collect(),
        )
        .await
        .expect("settle");
    let purge = |before| {
        let backend = &backend;
        async move {
            backend
                .purge(&[TaskState::Finished], before)
                .await
                .expect("purge")
        }
    };
    assert_eq!(purge(whole).await, 0, "strictly before");
    assert_eq!(purge(whole + us(1)).await, 1);
    assert_eq!(purge(whole + ms(500)).await, 1);
    assert_eq!(
        purge(whole + ms(500) + chrono::Duration::nanoseconds(1)).await,
        1
    );
    assert!(backend.purge(&[], Utc::now()).await.is_ok_and(|n| n == 0));
}

#[tokio::test]
async fn purge_more_than_one_chunk_sqlite() {
    let backend = fresh_sqlite().await;
    let t0 = Utc::now() - chrono::Duration::seconds(10);
    let tasks: Vec<TaskRecord> = (0..4500).map(|i| record("t", "q", 5, t0 + us(i))).collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    claim(&backend, "q", 5000, "w").await;
    let at = Utc::now() - chrono::Duration::seconds(1);
    backend
        .settle(
            tasks
                .iter()
                .map(|t| Settlement {
                    id: t.id,
                    attempt: 1,
                    outcome: Outcome::Failed(failure(ErrorKind::Permanent, "x")),
                    at,
                })
                .collect(),
        )
        .await
        .expect("settle");
    let purged = backend
        .purge(&[TaskState::Finished, TaskState::Failed], Utc::now())
        .await
        .expect("purge");
    assert_eq!(purged, 4500);
}

#[tokio::test]
async fn list_created_range_sub_millisecond_sqlite() {
    let backend = fresh_sqlite().await;
    let base = whole_second();
    let mut all = Vec::new();
    for i in 0..6 {
        let mut r = record("t", "q", 5, base);
        // 0, 1 µs, 2 µs, … apart, starting on a whole second.
        r.created_at = base + us(i);
        all.push(r);
    }
    backend.enqueue(all.clone()).await.expect("enqueue");
    let window = backend
        .list(
            &TaskFilter {
                created_after: Some(base),
                created_before: Some(base + us(3)),
                ..TaskFilter::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .expect("list");
    assert_eq!(
        ids(&window.items),
        vec![all[2].id, all[1].id, all[0].id],
        "newest first, after inclusive, before exclusive"
    );
    assert_eq!(window.total, 3);
    let after = backend
        .list(
            &TaskFilter {
                created_after: Some(base + us(4)),
                ..TaskFilter::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .expect("list");
    assert_eq!(ids(&after.items), vec![all[5].id, all[4].id]);
}

#[tokio::test]
async fn queue_stats_sqlite() {
    let backend = fresh_sqlite().await;
    let now = Utc::now();
    backend
        .enqueue(vec![
            record("t", "a", 5, now - ms(5)),
            record("t", "a", 5, now - ms(4)),
            record("t", "a", 5, now + chrono::Duration::seconds(3600)),
            record("t", "b", 5, now - ms(3)),
        ])
        .await
        .expect("enqueue");
    let claimed = claim(&backend, "b", 1, "w").await;
    backend
        .settle(vec![Settlement {
            id: claimed[0].id,
            attempt: 1,
            outcome: Outcome::Finished(json!(null)),
            at: Utc::now(),
        }])
        .await
        .expect("settle");
    backend.set_queue_paused("c", true).await.expect("pause");
    backend
        .set_queue_paused("c", true)
        .await
        .expect("pause twice");
    let stats = backend.queue_stats().await.expect("stats");
    let summary: Vec<(&str, u64, u64, u64, bool)> = stats
        .iter()
        .map(|s| {
            (
                s.queue.as_str(),
                s.pending,
                s.scheduled,
                s.running,
                s.paused,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("a", 2, 1, 0, false),
            ("b", 0, 0, 0, false),
            ("c", 0, 0, 0, true)
        ]
    );
    backend.set_queue_paused("c", false).await.expect("resume");
    let stats = backend.queue_stats().await.expect("stats");
    assert!(stats.iter().all(|s| s.queue != "c"), "{stats:?}");
}

#[tokio::test]
async fn records_keep_every_field_sqlite() {
    let backend = fresh_sqlite().await;
    let mut task = record("rt", "q", 5, Utc::now());
    task.created_at = Utc::now() - chrono::Duration::nanoseconds(123_456_789);
    task.timeout = None;
    task.soft_timeout = Some(Duration::from_millis(250));
    task.max_retries = u32::MAX;
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let stored = get(&backend, task.id).await;
    let mut expected = task.clone();
    expected.max_retries = i32::MAX as u32;
    assert_eq!(stored, expected);

    let claimed = claim(&backend, "q", 1, "w").await;
    backend
        .record_progress(
            task.id,
            1,
            Progress {
                fraction: 0.25,
                message: "a quarter".into(),
            },
        )
        .await
        .expect("progress");
    let running = get(&backend, task.id).await;
    assert_eq!(running, {
        let mut r = claimed[0].clone();
        r.progress = Some(Progress {
            fraction: 0.25,
            message: "a quarter".into(),
        });
        r
    });
}

#[tokio::test]
async fn not_found_and_invalid_transitions_change_nothing_sqlite() {
    let backend = fresh_sqlite().await;
    let missing = TaskId::now_v7();
    assert!(matches!(
        backend.retry(missing, Utc::now()).await,
        Err(Error::NotFound(id)) if id == missing
    ));
    assert!(matches!(
        backend.reorder(missing, Position::Front).await,
        Err(Error::NotFound(id)) if id == missing
    ));
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let before = get(&backend, task.id).await;
    assert!(matches!(
        backend.retry(task.id, Utc::now()).await,
        Err(Error::InvalidTransition {
            state: TaskState::Pending,
            action: "retry",
            ..
        })
    ));
    assert!(matches!(
        backend.reorder(task.id, Position::Before(task.id)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(get(&backend, task.id).await, before);
    claim(&backend, "q", 1, "w").await;
    assert!(matches!(
        backend.reorder(task.id, Position::Back).await,
        Err(Error::InvalidTransition {
            state: TaskState::Running,
            action: "reorder",
            ..
        })
    ));
    let duplicate = backend.enqueue(vec![task.clone()]).await;
    assert!(
        matches!(&duplicate, Err(Error::InvalidArgument(m)) if m.contains(&task.id.to_string())),
        "{duplicate:?}"
    );
    let fresh = record("t", "q", 5, Utc::now());
    let repeated = backend.enqueue(vec![fresh.clone(), fresh.clone()]).await;
    assert!(
        matches!(repeated, Err(Error::InvalidArgument(_))),
        "{repeated:?}"
    );
    assert!(backend.get(fresh.id).await.expect("get").is_none());
}

#[tokio::test]
async fn large_batches_sqlite() {
    let backend = fresh_sqlite().await;
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..5000)
        .map(|i| record("t", "q", (i % 7) as i32, t0 + us(i)))
        .collect();
    let mut expected = tasks.clone();
    expected.sort_by_key(|r| (std::cmp::Reverse(r.priority), r.seq, r.id));
    backend.enqueue(tasks).await.expect("enqueue");
    let claimed = claim(&backend, "q", 5000, "w").await;
    assert_eq!(ids(&claimed), ids(&expected));
    let applied = backend
        .settle(
            claimed
                .iter()
                .map(|r| Settlement {
                    id: r.id,
                    attempt: 1,
                    outcome: Outcome::Finished(json!(null)),
                    at: Utc::now(),
                })
                .collect(),
        )
        .await
        .expect("settle");
    assert!(applied.iter().all(|a| *a));
}

#[tokio::test]
async fn work_signal_fires_on_enqueue_sqlite() {
    let backend = fresh_sqlite().await;
    let signal = backend.work_signal().expect("signal");
    let notified = signal.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    backend
        .enqueue(vec![record("t", "q", 5, Utc::now())])
        .await
        .expect("enqueue");
    tokio::time::timeout(Duration::from_secs(1), notified)
        .await
        .expect("signalled");
}

// ---------------------------------------------------------------------------
// Differential test: the same random operations on MemoryBackend and on
// SQLite give the same answers and leave the same records.

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// An error reduced to what the contract fixes.
fn shape<T: std::fmt::Debug>(result: &Result<T, Error>) -> String {
    match result {
        Ok(value) => format!("Ok({value:?})"),
        Err(Error::NotFound(id)) => format!("NotFound({id})"),
        Err(Error::InvalidTransition { id, state, action }) => {
            format!("InvalidTransition({id}, {state}, {action})")
        }
        Err(Error::InvalidArgument(_)) => "InvalidArgument".into(),
        Err(other) => panic!("unexpected error {other}"),
    }
}

async fn all_records(backend: &dyn Backend) -> Vec<TaskRecord> {
    let mut out = Vec::new();
    for page in 1.. {
        let Page { items, .. } = backend
            .list(&TaskFilter::default(), PageRequest::new(page, 100))
            .await
            .expect("list");
        if items.is_empty() {
            break;
        }
        out.extend(items);
    }
    out
}

#[tokio::test]
async fn same_behaviour_as_memory_backend_sqlite() {
    for seed in [1_u64, 7, 42, 1234] {
        differential(seed, 400).await;
    }
}

async fn differential(seed: u64, steps: usize) {
    let memory = MemoryBackend::new();
    let sqlite = fresh_sqlite().await;
    let backends: [&dyn Backend; 2] = [&memory, &sqlite];
    let mut rng = Lcg(seed);
    // A synthetic clock a little ahead of the real one, advancing in
    // sub-second steps.
    let mut clock = Utc::now() + chrono::Duration::seconds(5);
    let queues = ["a", "b"];
    let workers = ["w1", "w2"];
    let mut known: Vec<TaskId> = Vec::new();
    for step in 0..steps {
        clock += us(rng.below(300_000) as i64);
        let op = rng.below(14);
        let pick = |rng: &mut Lcg, known: &[TaskId]| {
            if known.is_empty() || rng.below(20) == 0 {
                TaskId::now_v7()
            } else {
                known[rng.below(known.len() as u64) as usize]
            }
        };
        // Running tasks (from the reference), with their attempt and worker.
        let running: Vec<TaskRecord> = memory
            .list(
                &TaskFilter {
                    state: Some(TaskState::Running),
                    ..TaskFilter::default()
                },
                PageRequest::new(1, 100),
            )
            .await
            .expect("list")
            .items;
        // Mostly a running attempt, sometimes anything.
        let pick_running = |rng: &mut Lcg, known: &[TaskId]| -> (TaskId, u32, &'static str) {
            if running.is_empty() || rng.below(4) == 0 {
                (
                    pick(rng, known),
                    1 + rng.below(2) as u32,
                    workers[rng.below(2) as usize],
                )
            } else {
                let r = &running[rng.below(running.len() as u64) as usize];
                let worker = if r.worker_id.as_deref() == Some("w1") {
                    "w1"
                } else {
                    "w2"
                };
                (r.id, r.attempt, worker)
            }
        };
        let results: Vec<String> = match op {
            0 | 1 => {
                let n = 1 + rng.below(4);
                let batch: Vec<TaskRecord> = (0..n)
                    .map(|_| {
                        let queue = queues[rng.below(2) as usize];
                        let eta = clock + ms(rng.below(2000) as i64) - ms(1000);
                        let mut r = record("t", queue, rng.below(3) as i32, eta);
                        r.created_at = clock;
                        r.max_retries = rng.below(3) as u32;
                        if rng.below(3) == 0 {
                            r.seq = known.len() as i64;
                        }
                        r
                    })
                    .collect();
                known.extend(batch.iter().map(|r| r.id));
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.enqueue(batch.clone()).await));
                }
                out
            }
            2 | 3 => {
                let queue = queues[rng.below(2) as usize];
                let worker = workers[rng.below(2) as usize];
                let limit = rng.below(4) as usize;
                let lease = Duration::from_millis(200 + rng.below(2000));
                let mut out = Vec::new();
                for b in backends {
                    let claimed = b
                        .claim(ClaimRequest {
                            queue,
                            limit,
                            worker_id: worker,
                            lease,
                            now: clock,
                        })
                        .await;
                    out.push(shape(&claimed));
                }
                out
            }
            4 | 5 => {
                let (id, attempt, _) = pick_running(&mut rng, &known);
                let outcome = match rng.below(4) {
                    0 => Outcome::Finished(json!({ "step": step })),
                    1 => Outcome::Failed(failure(ErrorKind::Permanent, "no")),
                    2 => Outcome::Cancelled(failure(ErrorKind::Cancelled, "stop")),
                    _ => Outcome::Retry {
                        error: failure(ErrorKind::Retryable, "again"),
                        run_at: clock + ms(rng.below(1500) as i64),
                    },
                };
                let settlement = Settlement {
                    id,
                    attempt,
                    outcome,
                    at: clock,
                };
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.settle(vec![settlement.clone()]).await));
                }
                out
            }
            6 => {
                let (first, attempt, worker) = pick_running(&mut rng, &known);
                let mut held = vec![(first, attempt)];
                for _ in 0..rng.below(3) {
                    let (id, attempt, _) = pick_running(&mut rng, &known);
                    held.push((id, attempt));
                }
                let until = clock + ms(1500);
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.heartbeat(worker, &held, until).await));
                }
                out
            }
            7 => {
                let id = pick(&mut rng, &known);
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.cancel(id, clock).await));
                }
                out
            }
            8 => {
                let id = pick(&mut rng, &known);
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.retry(id, clock).await));
                }
                out
            }
            9 => {
                let id = pick(&mut rng, &known);
                let position = match rng.below(3) {
                    0 => Position::Front,
                    1 => Position::Back,
                    _ => Position::Before(pick(&mut rng, &known)),
                };
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.reorder(id, position).await));
                }
                out
            }
            10 => {
                let queue = queues[rng.below(2) as usize];
                let paused = rng.below(2) == 0;
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.set_queue_paused(queue, paused).await));
                }
                out
            }
            11 => {
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(
                        &b.rescue_expired(clock, &taskq_core::lifecycle::RetryPolicy::IMMEDIATE)
                            .await,
                    ));
                }
                out
            }
            12 => {
                let (id, attempt, worker) = pick_running(&mut rng, &known);
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.release(worker, &[(id, attempt)], clock).await));
                }
                out
            }
            _ => {
                let (id, attempt, _) = pick_running(&mut rng, &known);
                let progress = Progress {
                    fraction: rng.below(100) as f64 / 100.0,
                    message: format!("step {step}"),
                };
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(
                        &b.record_progress(id, attempt, progress.clone()).await,
                    ));
                }
                out
            }
        };
        assert_eq!(
            results[0], results[1],
            "seed {seed}, step {step}, op {op}: memory vs sqlite"
        );
    }
    assert_eq!(
        all_records(&memory).await,
        all_records(&sqlite).await,
        "seed {seed}: final records"
    );
    assert_eq!(
        memory.queue_stats().await.expect("stats"),
        sqlite.queue_stats().await.expect("stats"),
        "seed {seed}: queue stats"
    );
}

#[tokio::test]
async fn extreme_limits_and_pages_sqlite() {
    let backend = fresh_sqlite().await;
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let page = backend
        .list(
            &TaskFilter::default(),
            PageRequest {
                page: u64::MAX,
                page_size: PageRequest::MAX_PAGE_SIZE,
            },
        )
        .await
        .expect("list");
    assert_eq!((page.items.len(), page.total), (0, 1));
    let claimed = claim(&backend, "q", usize::MAX, "w").await;
    assert_eq!(ids(&claimed), vec![task.id]);
}

/// The schedules table comes with its migration, next to the first one.
#[tokio::test]
async fn sqlite_schedule_migration_creates_the_due_index() {
    let backend = fresh_sqlite().await;
    let rows = backend
        .connection()
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'taskq_schedules'",
        ))
        .await
        .expect("query");
    let names: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "name").expect("name"))
        .collect();
    assert!(
        names.iter().any(|n| n == "idx_taskq_schedules_due"),
        "{names:?}"
    );
    // The due query reads that index.
    let plan = backend
        .connection()
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "EXPLAIN QUERY PLAN SELECT * FROM taskq_schedules WHERE enabled = 1 \
             AND next_run_at <= '2030-01-01' ORDER BY next_run_at LIMIT 10",
        ))
        .await
        .expect("plan");
    let detail: Vec<String> = plan
        .iter()
        .map(|r| r.try_get::<String>("", "detail").expect("detail"))
        .collect();
    assert!(
        detail.iter().any(|d| d.contains("idx_taskq_schedules_due")),
        "{detail:?}"
    );
}
