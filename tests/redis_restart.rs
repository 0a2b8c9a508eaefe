//! Redis restarts under a running worker: a private `redis-server` with
//! AOF on (`appendfsync always`) is killed with SIGKILL mid-run and started
//! again on the same files; no accepted task is lost and the worker
//! resumes by itself within 5 s.
//!
//! Runs where the other Redis tests run (`TASKQ_TEST_REDIS_URL` set) and
//! `redis-server` is installed; the private server gets a free port and a
//! temporary directory, both gone at the end.
#![cfg(feature = "redis")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskq::prelude::*;
use taskq::{MaintenanceConfig, PageRequest, RedisBackend, RedisConfig};

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Takes a little time, so the restart lands while tasks run.
#[long_task(retries = 5, retry_delay = 0.1, jitter = 0.0)]
async fn restart_step(_p: u32) -> Result<(), TaskError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    RUNS.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// A `redis-server` of this test's own; stopped and removed on drop.
struct PrivateRedis {
    port: u16,
    dir: PathBuf,
}

impl PrivateRedis {
    fn start() -> Option<PrivateRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let dir =
            std::env::temp_dir().join(format!("taskq-redis-restart-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let redis = PrivateRedis { port, dir };
        redis.launch().then_some(redis)
    }

    fn launch(&self) -> bool {
        let started = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(["--daemonize", "yes", "--dir"])
            .arg(&self.dir)
            .arg("--pidfile")
            .arg(self.pidfile())
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .status()
            .is_ok_and(|s| s.success());
        // Wait until it answers.
        let deadline = Instant::now() + Duration::from_secs(5);
        while started && Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn pidfile(&self) -> PathBuf {
        self.dir.join("redis.pid")
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no shutdown, no final save — only what AOF already has.
    fn kill(&self) {
        if let Some(pid) = read_pid(&self.pidfile()) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_file(self.pidfile());
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_loses_nothing_and_workers_resume() {
    if std::env::var("TASKQ_TEST_REDIS_URL").is_err() {
        eprintln!("skipped: set TASKQ_TEST_REDIS_URL to run the Redis restart test");
        return;
    }
    let Some(redis) = PrivateRedis::start() else {
        eprintln!("skipped: could not start a private redis-server");
        return;
    };
    let mut config = RedisConfig::new(redis.url());
    config.prefix = "restart".into();
    let backend = Arc::new(RedisBackend::connect_with(config).await.expect("connect"));
    let client = Client::new(backend).expect("client");
    let worker = Worker::builder(&client)
        .queue("default", 8)
        .poll_interval(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(200))
        .lease(Duration::from_secs(2))
        .maintenance(MaintenanceConfig {
            rescue_interval: Duration::from_millis(200),
            ..MaintenanceConfig::default()
        })
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let mut ids = client
        .submit_many(restart_step, 0..200)
        .await
        .expect("submit");
    // Let the worker get going, then take Redis down under it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while RUNS.load(Ordering::Relaxed) < 20 {
        assert!(Instant::now() < deadline, "the worker never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    redis.kill();
    let done_before_kill = RUNS.load(Ordering::Relaxed);
    assert!(
        done_before_kill < 200,
        "Redis went down after all work was done"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(redis.launch(), "redis-server did not come back");
    let restarted = Instant::now();

    // Work submitted after the restart runs within 5 s, with no help.
    let after = client
        .submit(restart_step, 999)
        .await
        .expect("submit after the restart");
    loop {
        let record = client.get(after).await.expect("get");
        if record.state == TaskState::Finished {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "the worker did not resume within 5 s: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ids.push(after);

    // Nothing accepted is lost: every task finishes.
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &ids {
        loop {
            let record = client.get(*id).await.expect("every task is still known");
            if record.state == TaskState::Finished {
                break;
            }
            assert!(
                Instant::now() < deadline && !record.state.is_terminal(),
                "task did not finish: {record:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let finished = client
        .list(
            &TaskFilter {
                state: Some(TaskState::Finished),
                ..Default::default()
            },
            PageRequest::new(1, 1),
        )
        .await
        .expect("list")
        .total;
    assert_eq!(finished, 201);
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
}
