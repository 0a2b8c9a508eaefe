//! Crash recovery, proven with SIGKILL: real worker processes (this test
//! binary, re-run as `kill_worker_child`) share one database; the test
//! submits 5,000 tasks that log every execution to a file per process,
//! SIGKILLs a worker at least ten times mid-run while the others go on
//! (and restarts it), then checks that every task finished, none was lost
//! or left RUNNING, and that a task ran more than once only when a worker
//! that ran it was killed.
//!
//! `chord` does the same to a workflow: a 1,000-step chord whose callback
//! must run exactly once with every result (`kill_chord_*`, on SQLite,
//! PostgreSQL and Redis).
//!
//! `cargo test kill` runs it on SQLite and, when `TASKQ_TEST_POSTGRES_URL`
//! is set, on PostgreSQL (a fresh schema); with feature `redis` and
//! `TASKQ_TEST_REDIS_URL` set, on Redis (a fresh key prefix).

#[path = "kill_parts/chord.rs"]
mod chord;
mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use taskq::backend::Backend;
use taskq::prelude::*;
use taskq::{MaintenanceConfig, PageRequest};

/// Tasks submitted per run.
const TASKS: usize = 5000;
/// Worker processes running at once.
const WORKERS: usize = 3;
/// Slots per worker process.
const CONCURRENCY: usize = 6;
/// SIGKILLs per run (at least).
const KILLS: usize = 10;
/// A killed worker's tasks come back after this (plus a rescue interval).
/// Long enough (heartbeats every quarter of it) that a live worker starved
/// of CPU on a loaded 2-core CI machine keeps its leases: the test asserts
/// that only killed workers' tasks run twice.
const LEASE: Duration = Duration::from_secs(4);

const CHILD_URL: &str = "TASKQ_KILL_CHILD_URL";
const CHILD_LOG: &str = "TASKQ_KILL_CHILD_LOG";
const CHILD_LEASE_MS: &str = "TASKQ_KILL_CHILD_LEASE_MS";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Work {
    /// How long the task runs.
    ms: u64,
}

/// Logs its execution (`<task id> <attempt> <pid>`) to this process's log,
/// then works for a few milliseconds.
#[long_task(queue = "kill", retries = 50, retry_delay = 0.01)]
async fn kill_logged(ctx: TaskContext, p: Work) -> Result<(), TaskError> {
    let path = std::env::var(CHILD_LOG).map_err(TaskError::permanent)?;
    let line = format!("{} {} {}\n", ctx.id(), ctx.attempt(), std::process::id());
    // One `write` of a whole line in append mode: it reaches the kernel
    // before the handler goes on, so a SIGKILL cannot lose it.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(TaskError::permanent)?;
    tokio::time::sleep(Duration::from_millis(p.ms)).await;
    Ok(())
}

/// The worker process: serves queues `kill` and `kill-callback` until killed (or, should the
/// parent die, for two minutes at most). Does nothing when run on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the kill tests in child processes"]
async fn kill_worker_child() {
    let (Ok(url), Ok(_)) = (std::env::var(CHILD_URL), std::env::var(CHILD_LOG)) else {
        return;
    };
    let lease = std::env::var(CHILD_LEASE_MS)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(LEASE, Duration::from_millis);
    let client = Client::new(common::child_backend(&url).await).expect("client");
    let worker = Worker::builder(&client)
        .queue("kill", CONCURRENCY)
        .queue(chord::CALLBACK_QUEUE, 1)
        .lease(lease)
        .heartbeat_interval(lease / 4)
        .poll_interval(Duration::from_millis(50))
        .maintenance(MaintenanceConfig {
            rescue_interval: Duration::from_millis(250),
            ..MaintenanceConfig::default()
        })
        .build()
        .expect("worker");
    worker
        .run_until(tokio::time::sleep(Duration::from_secs(120)))
        .await
        .expect("worker run");
}

/// A small deterministic generator (no dependency for a test's dice).
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

struct Fleet {
    url: String,
    dir: PathBuf,
    children: Vec<Child>,
    spawned: usize,
}

impl Fleet {
    fn spawn(&mut self) -> Child {
        self.spawned += 1;
        let log = self.dir.join(format!("worker-{}.log", self.spawned));
        Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "kill_worker_child", "--ignored", "--nocapture"])
            .env(CHILD_URL, &self.url)
            .env(CHILD_LOG, &log)
            .env(CHILD_LEASE_MS, LEASE.as_millis().to_string())
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn worker")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One execution from the logs.
struct Run {
    attempt: u32,
    pid: u32,
}

fn read_runs(dir: &Path) -> HashMap<TaskId, Vec<Run>> {
    let mut runs: HashMap<TaskId, Vec<Run>> = HashMap::new();
    for entry in std::fs::read_dir(dir).expect("log dir").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("log");
        for line in text.lines() {
            let mut fields = line.split(' ');
            let (Some(id), Some(attempt), Some(pid)) =
                (fields.next(), fields.next(), fields.next())
            else {
                panic!("malformed log line {line:?}");
            };
            runs.entry(id.parse().expect("task id"))
                .or_default()
                .push(Run {
                    attempt: attempt.parse().expect("attempt"),
                    pid: pid.parse().expect("pid"),
                });
        }
    }
    runs
}

async fn count(backend: &dyn Backend, state: TaskState) -> u64 {
    let filter = TaskFilter {
        state: Some(state),
        ..TaskFilter::default()
    };
    backend
        .list(&filter, PageRequest::new(1, 1))
        .await
        .expect("list")
        .total
}

/// The crash test on the database at `url` (already migrated by `backend`).
async fn crash_run(name: &str, url: String, backend: Arc<dyn Backend>) {
    let client = Client::new(backend.clone()).expect("client");
    let dir = std::env::temp_dir().join(format!("taskq-kill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("log dir");
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let params: Vec<Work> = (0..TASKS)
        .map(|_| Work {
            ms: 10 + dice.below(30),
        })
        .collect();
    let ids = client
        .submit_many(kill_logged, params)
        .await
        .expect("submit");
    assert_eq!(ids.len(), TASKS);

    let mut fleet = Fleet {
        url,
        dir: dir.clone(),
        children: Vec::new(),
        spawned: 0,
    };
    for _ in 0..WORKERS {
        let child = fleet.spawn();
        fleet.children.push(child);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(100);
    let mut killed: HashSet<u32> = HashSet::new();
    // Kill while at least a fifth of the work remains, so every kill
    // lands mid-run; then let the survivors finish.
    while killed.len() < KILLS {
        tokio::time::sleep(Duration::from_millis(300 + dice.below(400))).await;
        let finished = count(&*backend, TaskState::Finished).await;
        assert!(
            finished < (TASKS as u64) * 4 / 5 || killed.len() >= KILLS,
            "the run got ahead of the kills: {finished} finished after {} kills; \
             slow the tasks down",
            killed.len()
        );
        let victim = dice.below(WORKERS as u64) as usize;
        let child = &mut fleet.children[victim];
        let pid = child.id();
        child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        child.wait().expect("reap");
        killed.insert(pid);
        let replacement = fleet.spawn();
        fleet.children[victim] = replacement;
    }
    loop {
        let finished = count(&*backend, TaskState::Finished).await;
        if finished == TASKS as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {finished} of {TASKS} finished after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();
    drop(fleet);

    // Every task terminal and finished: none lost, none stuck.
    for state in [
        TaskState::Pending,
        TaskState::Running,
        TaskState::Failed,
        TaskState::Cancelled,
    ] {
        assert_eq!(count(&*backend, state).await, 0, "{state} tasks remain");
    }
    let runs = read_runs(&dir);
    let mut duplicated = 0;
    let mut executions = 0;
    for id in &ids {
        let runs = runs
            .get(id)
            .unwrap_or_else(|| panic!("task {id} finished without running"));
        executions += runs.len();
        let record = client.get(*id).await.expect("get");
        assert_eq!(record.state, TaskState::Finished);
        // Attempts are distinct: no two executions of one attempt.
        let attempts: HashSet<u32> = runs.iter().map(|r| r.attempt).collect();
        assert_eq!(attempts.len(), runs.len(), "task {id} ran an attempt twice");
        let last = runs.iter().map(|r| r.attempt).max().unwrap_or_default();
        assert_eq!(
            record.attempt, last,
            "task {id}: the record is the last run"
        );
        if runs.len() > 1 {
            duplicated += 1;
            for run in runs.iter().filter(|r| r.attempt != last) {
                assert!(
                    killed.contains(&run.pid),
                    "task {id} attempt {} by pid {} was repeated, but that worker was never killed",
                    run.attempt,
                    run.pid
                );
            }
        }
    }
    eprintln!(
        "kill {name}: {TASKS} tasks finished in {elapsed:?} with {} SIGKILLs; \
         {executions} executions, {duplicated} tasks ran more than once (all by killed workers)",
        killed.len()
    );
    assert!(killed.len() >= KILLS);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh SQLite file for one run, removed (with its WAL) when dropped.
#[cfg(feature = "sqlite")]
struct SqliteFile(PathBuf);

#[cfg(feature = "sqlite")]
impl SqliteFile {
    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

#[cfg(feature = "sqlite")]
impl Drop for SqliteFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A run's SQLite file, its URL and a backend on it.
#[cfg(feature = "sqlite")]
async fn sqlite_place(label: &str) -> (SqliteFile, String, Arc<dyn Backend>) {
    let file = SqliteFile(std::env::temp_dir().join(format!("{label}-{}.db", std::process::id())));
    file.remove();
    let url = format!("sqlite://{}", file.0.display());
    let backend = taskq::SqlBackend::connect(&url).await.expect("sqlite");
    (file, url, Arc::new(backend))
}

/// A run's PostgreSQL scratch schema (drop it when done), its URL and a
/// backend on it.
#[cfg(feature = "postgres")]
async fn postgres_place() -> (taskq::sea::scratch::Scratch, String, Arc<dyn Backend>) {
    use taskq::sea::scratch::{Scratch, Server};
    let scratch = Scratch::from_env(Server::Postgres)
        .await
        .expect("scratch schema on TASKQ_TEST_POSTGRES_URL");
    let url = scratch.url().to_owned();
    let backend = taskq::SqlBackend::connect(&url).await.expect("postgres");
    (scratch, url, Arc::new(backend))
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_sqlite() {
    let (_file, url, backend) = sqlite_place("taskq-kill").await;
    crash_run("sqlite", url, backend).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn kill_postgres() {
    let (scratch, url, backend) = postgres_place().await;
    crash_run("postgres", url, backend).await;
    // Nothing of the run is needed any more.
    let _ = scratch.drop_now().await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn kill_redis() {
    let (url, backend) = common::redis_place("taskq-kill-test").await;
    crash_run("redis", url, backend).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_chord_workflow_sqlite() {
    let (_file, url, backend) = sqlite_place("taskq-kill-chord").await;
    chord::chord_crash_run("sqlite", url, backend, false).await;
}

/// On Redis a member's end reaches a callback of its own queue in the
/// script that settles it: a kill falls before or after both.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn kill_chord_workflow_redis() {
    let (url, backend) = common::redis_place("taskq-kill-chord").await;
    chord::chord_crash_run("redis", url, backend, false).await;
}

/// A callback in another queue (another slot on a cluster) hears of a
/// member's end through the member's queue's outbox: a kill between the
/// settle and the carrying leaves the entry to another worker's
/// reconciler.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn kill_chord_workflow_across_queues_redis() {
    let (url, backend) = common::redis_place("taskq-kill-chord-across").await;
    chord::chord_crash_run("redis-across", url, backend, true).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn kill_chord_workflow_postgres() {
    let (scratch, url, backend) = postgres_place().await;
    chord::chord_crash_run("postgres", url, backend, false).await;
    let _ = scratch.drop_now().await;
}
