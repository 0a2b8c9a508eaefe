//! A queue limit across processes, proven with SIGKILL: three worker
//! processes (this test binary, re-run as `limit_worker_child`) with 4
//! slots each serve one queue whose limit is 2. Every execution logs its
//! start and end, with the time, to its process's file. The test SIGKILLs
//! a worker while it runs a task of the queue (its slot stays taken until
//! the lease expires and the rescue requeues the task), then checks that
//! the executions never overlapped more than the limit allows, that the
//! limit was reached (the test could fail), and that every task finished:
//! the dead worker's slot came back.
//!
//! The same fleet proves a rate limit (`limit_kill_rate_*`): no queue
//! limit, 12 slots, but at most `RATE` starts per second. The starts,
//! as logged, never exceed the token bucket's bound in any window (with
//! a slack for the time between a claim and its log line), the bucket's
//! burst is reached, and every task finishes after the SIGKILL: nothing
//! a dead worker leaves holds the bucket.
//!
//! And a key limit (`limit_kill_key_*`): each task gets one of `KEYS`
//! concurrency keys, at most `LIMIT` of a key run at once (12 slots):
//! the most that ever overlapped, per key, stays within it, some key
//! reaches it, and every task finishes after the SIGKILL.
//!
//! And a fair queue (`limit_kill_fair_*`): `FAIR_BIG` tasks of one key,
//! then, after the SIGKILL, one task each of `KEYS` other keys: every
//! task ran to its end exactly once (the killed one's first attempt cut
//! short, none ended twice), and each late key's task started before the
//! big key's backlog ended, though submitted behind all of it.
//!
//! And a task type limit over two queues (`limit_kill_type_*`): the
//! type's tasks alternate between `limited` and `OTHER_QUEUE`, whose
//! workers' slots (12 each) are far more than the type's limit of
//! `LIMIT`: its executions in both queues together never overlap more
//! than the limit, the limit is reached, and every task finishes after
//! the SIGKILL (on Redis the dead worker's permit comes back with its
//! lease, `redis/permits.rs`).
//!
//! `cargo test limit_kill` runs it on SQLite and, when
//! `TASKQ_TEST_POSTGRES_URL` is set, on PostgreSQL (a fresh schema); the
//! fair and type runs also on Redis (a fresh key prefix, feature `redis`).

#[path = "limit_kill_parts/checks.rs"]
mod checks;
mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use taskq::backend::Backend;
use taskq::prelude::*;
use taskq::{MaintenanceConfig, PageRequest};

use checks::{check_fair, check_rate, overlap};

/// Tasks submitted per run.
const TASKS: usize = 60;
/// Worker processes.
const WORKERS: usize = 3;
/// Slots per worker process: together far more than the limit.
const CONCURRENCY: usize = 4;
/// The queue's limit.
const LIMIT: u32 = 2;
/// Concurrency keys of the key runs.
const KEYS: usize = 3;
/// The big key's tasks in the fair runs.
const FAIR_BIG: usize = 240;
/// How many of the big key's tasks, at least, start after a late key's
/// task in a fair run (FIFO would start none).
const FAIR_AFTER: usize = 20;
/// The rate limit of the rate runs: this many starts per second.
const RATE: u32 = 10;
/// How late a start may be logged after its claim, at most (a loaded
/// machine's scheduling; the bound is on the claims' times).
const LOG_SLACK_US: u128 = 500_000;
/// A killed worker's task comes back after this (plus a rescue interval);
/// long enough that a live worker starved of CPU keeps its leases (a lost
/// lease would let a task run twice at once, honestly beyond the limit).
const LEASE: Duration = Duration::from_secs(4);

/// The second queue of the type runs.
const OTHER_QUEUE: &str = "limited-b";

const CHILD_URL: &str = "TASKQ_LIMIT_CHILD_URL";
const CHILD_LOG: &str = "TASKQ_LIMIT_CHILD_LOG";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Work {
    /// How long the task runs.
    ms: u64,
}

fn micros_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros()
}

/// Appends one whole line to this process's log: one `write`, so a SIGKILL
/// cannot lose a line that was written.
fn log_line(kind: &str, ctx: &TaskContext) -> Result<(), TaskError> {
    let path = std::env::var(CHILD_LOG).map_err(TaskError::permanent)?;
    let line = format!(
        "{kind} {} {} {} {}\n",
        ctx.id(),
        ctx.attempt(),
        std::process::id(),
        micros_now()
    );
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(TaskError::permanent)
}

/// Logs its start, works, logs its end (before it settles, so its slot is
/// still taken while it logs).
#[long_task(queue = "limited", retries = 20, retry_delay = 0.01)]
async fn limit_logged(ctx: TaskContext, p: Work) -> Result<(), TaskError> {
    log_line("start", &ctx)?;
    tokio::time::sleep(Duration::from_millis(p.ms)).await;
    log_line("end", &ctx)
}

/// The worker process: serves queue `limited` until killed (or, should the
/// parent die, for two minutes at most). Does nothing when run on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the limit_kill tests in child processes"]
async fn limit_worker_child() {
    let (Ok(url), Ok(_)) = (std::env::var(CHILD_URL), std::env::var(CHILD_LOG)) else {
        return;
    };
    let client = Client::new(common::child_backend(&url).await).expect("client");
    let worker = Worker::builder(&client)
        .queue("limited", CONCURRENCY)
        .queue(OTHER_QUEUE, CONCURRENCY)
        .lease(LEASE)
        .heartbeat_interval(LEASE / 4)
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

/// One logged start or end.
struct Mark {
    start: bool,
    id: TaskId,
    attempt: u32,
    pid: u32,
    at: u128,
}

fn read_marks(dir: &Path) -> Vec<Mark> {
    let mut marks = Vec::new();
    for entry in std::fs::read_dir(dir).expect("log dir").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("log");
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let [kind, id, attempt, pid, at] = fields[..] else {
                panic!("malformed log line {line:?}");
            };
            marks.push(Mark {
                start: kind == "start",
                id: id.parse().expect("task id"),
                attempt: attempt.parse().expect("attempt"),
                pid: pid.parse().expect("pid"),
                at: at.parse().expect("time"),
            });
        }
    }
    marks
}

/// The pid of a worker that has started a task and not ended it, if any.
fn busy_worker(dir: &Path) -> Option<u32> {
    let mut open: HashMap<(TaskId, u32), u32> = HashMap::new();
    for mark in read_marks(dir) {
        if mark.start {
            open.insert((mark.id, mark.attempt), mark.pid);
        } else {
            open.remove(&(mark.id, mark.attempt));
        }
    }
    open.into_values().next()
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

struct Fleet {
    children: Vec<Child>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a run limits: the queue's running tasks, or its starts per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limited {
    Running,
    Rate,
    Key,
    Fair,
    /// The task type's limit, its tasks spread over two queues.
    Type,
}

/// The run on the database at `url` (already migrated by `backend`).
async fn limited_run(name: &str, url: String, backend: Arc<dyn Backend>, limited: Limited) {
    let client = Client::new(backend.clone()).expect("client");
    let dir: PathBuf =
        std::env::temp_dir().join(format!("taskq-limit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("log dir");
    match limited {
        Limited::Running => client
            .set_queue_limit("limited", Some(LIMIT))
            .await
            .expect("limit"),
        Limited::Rate => client
            .set_queue_rate_limit(
                "limited",
                Some(taskq::RateLimit::new(RATE, Duration::from_secs(1))),
            )
            .await
            .expect("rate limit"),
        Limited::Key => client
            .set_key_limit("limit_logged", Some(LIMIT))
            .await
            .expect("key limit"),
        Limited::Fair => client.set_queue_fair("limited", true).await.expect("fair"),
        Limited::Type => client
            .set_type_limit("limit_logged", Some(LIMIT))
            .await
            .expect("type limit"),
    }
    let params: Vec<Work> = (0..TASKS)
        .map(|i| Work {
            ms: 60 + (i as u64 * 37) % 90,
        })
        .collect();
    let mut keys: HashMap<TaskId, usize> = HashMap::new();
    let mut ids = if limited == Limited::Fair {
        let big: Vec<Work> = (0..FAIR_BIG).map(|_| Work { ms: 40 }).collect();
        let mut ids = Vec::with_capacity(FAIR_BIG);
        for p in big {
            let id = client
                .submit(limit_logged, p)
                .concurrency_key("big")
                .await
                .expect("submit");
            ids.push(id);
        }
        ids
    } else if limited == Limited::Key {
        let mut ids = Vec::with_capacity(TASKS);
        for (i, p) in params.into_iter().enumerate() {
            let id = client
                .submit(limit_logged, p)
                .concurrency_key(format!("k{}", i % KEYS))
                .await
                .expect("submit");
            keys.insert(id, i % KEYS);
            ids.push(id);
        }
        ids
    } else if limited == Limited::Type {
        let mut ids = Vec::with_capacity(TASKS);
        for (i, p) in params.into_iter().enumerate() {
            let queue = if i % 2 == 0 { "limited" } else { OTHER_QUEUE };
            let id = client
                .submit(limit_logged, p)
                .queue(queue)
                .await
                .expect("submit");
            ids.push(id);
        }
        ids
    } else {
        client
            .submit_many(limit_logged, params)
            .await
            .expect("submit")
    };

    let mut fleet = Fleet {
        children: (0..WORKERS)
            .map(|i| {
                Command::new(std::env::current_exe().expect("test binary"))
                    .args(["--exact", "limit_worker_child", "--ignored", "--nocapture"])
                    .env(CHILD_URL, &url)
                    .env(CHILD_LOG, dir.join(format!("worker-{i}.log")))
                    .env("RUST_LOG", "off")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn worker")
            })
            .collect(),
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(90);

    // Kill a worker while it runs a task of the queue.
    let (victim, killed_at) = loop {
        assert!(Instant::now() < deadline, "no worker ever ran a task");
        if let Some(pid) = busy_worker(&dir) {
            let child = fleet
                .children
                .iter_mut()
                .find(|c| c.id() == pid)
                .expect("a busy worker is one of ours");
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            break (pid, micros_now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut late = Vec::new();
    if limited == Limited::Fair {
        for k in 0..KEYS {
            let id = client
                .submit(limit_logged, Work { ms: 40 })
                .concurrency_key(format!("late{k}"))
                .await
                .expect("submit late");
            late.push(id);
        }
        ids.extend(&late);
    }
    loop {
        let finished = count(&*backend, TaskState::Finished).await;
        if finished == ids.len() as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {finished} of {} finished after {:?}: a slot leaked?",
            ids.len(),
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    drop(fleet);

    for state in [TaskState::Pending, TaskState::Running, TaskState::Failed] {
        assert_eq!(count(&*backend, state).await, 0, "{state} tasks remain");
    }
    let stats = client.queue_stats().await.expect("stats");
    let queue = stats.iter().find(|q| q.queue == "limited").expect("listed");
    assert_eq!(queue.running, 0);
    let marks = read_marks(&dir);
    if limited == Limited::Rate {
        check_rate(name, &marks, elapsed);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    if limited == Limited::Fair {
        check_fair(name, &marks, &ids, &late, elapsed);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let (most, executions, cut_short) = if limited == Limited::Key {
        let per_key: Vec<i32> = (0..KEYS)
            .map(|k| overlap(&marks, victim, killed_at, |id| keys.get(&id) == Some(&k)).0)
            .collect();
        let (_, executions, cut_short) = overlap(&marks, victim, killed_at, |_| true);
        eprintln!(
            "limit_kill_key {name}: {TASKS} tasks over {KEYS} keys, key limit {LIMIT}, \
             {WORKERS}×{CONCURRENCY} slots: at most {per_key:?} ran at once per key; \
             {executions} executions, {cut_short} cut short by the SIGKILL; all finished in \
             {elapsed:?}"
        );
        (
            per_key.into_iter().max().unwrap_or(0),
            executions,
            cut_short,
        )
    } else {
        if limited == Limited::Running {
            assert_eq!(queue.limit, Some(LIMIT));
        }
        let (most, executions, cut_short) = overlap(&marks, victim, killed_at, |_| true);
        eprintln!(
            "limit_kill {name} ({limited:?}): {TASKS} tasks, limit {LIMIT}, \
             {WORKERS}×{CONCURRENCY} slots a queue: \
             at most {most} ran at once; {executions} executions, {cut_short} cut short by the \
             SIGKILL; all finished in {elapsed:?}"
        );
        (most, executions, cut_short)
    };
    assert!(executions >= TASKS);
    assert!(
        most <= LIMIT as i32,
        "{most} ran at once over a limit of {LIMIT}"
    );
    assert_eq!(most, LIMIT as i32, "the limit was reached");
    assert!(cut_short >= 1, "the SIGKILL landed mid-task");
    for id in &ids {
        assert_eq!(
            client.get(*id).await.expect("get").state,
            TaskState::Finished
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run on a fresh SQLite file.
#[cfg(feature = "sqlite")]
async fn on_sqlite(name: &str, limited: Limited) {
    let path = std::env::temp_dir().join(format!("taskq-limit-{name}-{}.db", std::process::id()));
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    remove();
    let url = format!("sqlite://{}", path.display());
    let backend = taskq::SqlBackend::connect(&url).await.expect("sqlite");
    limited_run(name, url, Arc::new(backend), limited).await;
    remove();
}

/// A run on a fresh schema of `TASKQ_TEST_POSTGRES_URL`.
#[cfg(feature = "postgres")]
async fn on_postgres(name: &str, limited: Limited) {
    use taskq::sea::scratch::{Scratch, Server};
    let scratch = Scratch::from_env(Server::Postgres)
        .await
        .expect("scratch schema on TASKQ_TEST_POSTGRES_URL");
    let url = scratch.url().to_owned();
    let backend = taskq::SqlBackend::connect(&url).await.expect("postgres");
    limited_run(name, url, Arc::new(backend), limited).await;
    let _ = scratch.drop_now().await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_kill_rate_sqlite() {
    on_sqlite("sqlite-rate", Limited::Rate).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn limit_kill_rate_postgres() {
    on_postgres("postgres-rate", Limited::Rate).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_kill_sqlite() {
    on_sqlite("sqlite", Limited::Running).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn limit_kill_postgres() {
    on_postgres("postgres", Limited::Running).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_kill_key_sqlite() {
    on_sqlite("sqlite-key", Limited::Key).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn limit_kill_key_postgres() {
    on_postgres("postgres-key", Limited::Key).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_kill_fair_sqlite() {
    on_sqlite("sqlite-fair", Limited::Fair).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn limit_kill_fair_postgres() {
    on_postgres("postgres-fair", Limited::Fair).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn limit_kill_fair_redis() {
    let (url, backend) = common::redis_place("taskq-limit-fair").await;
    limited_run("redis-fair", url, backend, Limited::Fair).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_kill_type_sqlite() {
    on_sqlite("sqlite-type", Limited::Type).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn limit_kill_type_redis() {
    let (url, backend) = common::redis_place("taskq-limit-type").await;
    limited_run("redis-type", url, backend, Limited::Type).await;
}
