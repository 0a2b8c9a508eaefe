//! Two real worker binaries on one database, one of them built without the
//! tasks' crate (issue 18's linking trap): the bare worker must leave
//! `fixture_shout` tasks pending — visibly, in queue stats — and the
//! linked worker must then run them on their first attempt.
//!
//! The workers are the examples `linking_worker_bare` and
//! `linking_worker_linked` (`tests/linking/worker_*.rs`), which
//! `cargo test` builds next to this test (`target/<profile>/examples/`);
//! `cargo test --test linking` alone does not build examples, so run
//! `cargo build --examples --features sqlite` first in that case.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use taskq::prelude::*;
use taskq::{QueueStats, TaskRecord};
// The test submits `fixture_shout` by name, so its own client knows it.
use taskq_fixture_tasks as _;

#[path = "tasks.rs"]
mod tasks;

/// A worker process, stopped (gracefully, by closing its stdin) when
/// dropped, so a failing test leaves no process behind.
struct WorkerProcess {
    name: &'static str,
    child: Child,
}

impl WorkerProcess {
    fn start(example: &'static str, url: &str, id: &str) -> WorkerProcess {
        let path = example_path(example);
        let child = Command::new(&path)
            .args([url, id])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", path.display()));
        WorkerProcess {
            name: example,
            child,
        }
    }

    /// Closes its stdin and waits for a clean exit.
    async fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "{} exited with {status}", self.name);
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not stop",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `target/<profile>/examples/<name>`, next to this test's own
/// `target/<profile>/deps/linking-…`.
fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds it; after `cargo test --test linking` alone, \
         run `cargo build --examples --features sqlite`",
        path.display()
    );
    path
}

async fn wait_until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn records(client: &Client, ids: &[TaskId]) -> Vec<TaskRecord> {
    let mut out = Vec::new();
    for id in ids {
        out.push(client.get(*id).await.expect("get"));
    }
    out
}

fn default_queue(stats: &[QueueStats]) -> QueueStats {
    stats
        .iter()
        .find(|s| s.queue == "default")
        .cloned()
        .unwrap_or_default()
}

/// The scenario, on the database at `url` (fresh, shared by the test and
/// both worker processes).
async fn bare_worker_leaves_tasks_for_the_linked_one(url: &str) {
    let client = Client::new(Arc::new(
        taskq::SqlBackend::connect(url).await.expect("database"),
    ))
    .expect("registry");

    let bare = WorkerProcess::start("linking_worker_bare", url, "bare");
    let reported = wait_until("the bare worker registers", async || {
        client.worker("bare").await.ok()
    })
    .await;
    assert_eq!(
        reported.task_types,
        ["linking_ping"],
        "the bare binary does not link the fixture crate"
    );

    let shouts: Vec<TaskId> = {
        let mut ids = Vec::new();
        for text in ["one", "two", "three"] {
            let id = client
                .submit_json("fixture_shout", json!({ "text": text }))
                .await
                .expect("submit");
            ids.push(id);
        }
        ids
    };
    // The bare worker is claiming from `default`: it runs its own task...
    let ping = client
        .submit(tasks::linking_ping, ())
        .await
        .expect("submit ping");
    let ping = wait_until("the bare worker runs linking_ping", async || {
        let record = client.get(ping).await.expect("get");
        record.state.is_terminal().then_some(record)
    })
    .await;
    assert_eq!(ping.state, TaskState::Finished, "{ping:?}");
    assert_eq!(ping.worker_id.as_deref(), Some("bare"));
    // ...and, a few polls later still, leaves the others alone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for record in records(&client, &shouts).await {
        assert_eq!(record.state, TaskState::Pending, "{record:?}");
        assert_eq!(record.attempt, 0, "no attempt spent: {record:?}");
    }

    // Visibly: queue stats count them, by type, as work no live worker
    // can take.
    let stats = default_queue(&client.queue_stats().await.expect("stats"));
    assert_eq!(stats.pending, 3, "{stats:?}");
    assert_eq!(stats.live_workers, 1, "{stats:?}");
    assert_eq!(stats.unclaimable, 3, "{stats:?}");
    assert_eq!(
        stats.unclaimable_types,
        [taskq::TypeCount {
            task_type: "fixture_shout".to_owned(),
            count: 3
        }]
    );

    // The linked worker takes them, each on its first attempt.
    let linked = WorkerProcess::start("linking_worker_linked", url, "linked");
    let done = wait_until("the linked worker runs them", async || {
        let all = records(&client, &shouts).await;
        all.iter().all(|r| r.state.is_terminal()).then_some(all)
    })
    .await;
    for (record, text) in done.iter().zip(["ONE", "TWO", "THREE"]) {
        assert_eq!(record.state, TaskState::Finished, "{record:?}");
        assert_eq!(record.attempt, 1, "{record:?}");
        assert_eq!(record.worker_id.as_deref(), Some("linked"));
        assert_eq!(
            record.result_as::<String>().expect("result").as_deref(),
            Some(text)
        );
    }
    let stats = default_queue(&client.queue_stats().await.expect("stats"));
    assert_eq!((stats.pending, stats.unclaimable), (0, 0), "{stats:?}");
    assert!(stats.unclaimable_types.is_empty(), "{stats:?}");

    bare.stop().await;
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_linking_bare_worker_leaves_tasks_for_the_linked_one() {
    let path = std::env::temp_dir().join(format!(
        "taskq-linking-{}-{}.db",
        std::process::id(),
        uuid::Uuid::now_v7()
    ));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    bare_worker_leaves_tasks_for_the_linked_one(&url).await;
    let _ = std::fs::remove_file(&path);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn postgres_linking_bare_worker_leaves_tasks_for_the_linked_one() {
    let scratch = taskq::sea::scratch::Scratch::from_env(taskq::sea::scratch::Server::Postgres)
        .await
        .expect("scratch schema");
    bare_worker_leaves_tasks_for_the_linked_one(scratch.url()).await;
}
