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

mod claims;
mod differential;
mod files;
mod store;
mod support;

use support::*;

/// The shared conformance suite: `cargo test conformance::` runs it alone.
mod conformance {
    #[allow(unused_imports)]
    use super::*;

    taskq_core::conformance_suite!(sqlite, || async {
        Arc::new(fresh_sqlite().await) as Arc<dyn Backend>
    });
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
