//! Connection loss: a worker whose PostgreSQL goes away (stopped with
//! `pg_ctl stop -m immediate`, every connection cut) keeps retrying with
//! backoff and resumes by itself when the server is back; every task
//! still finishes and none is left RUNNING.
//!
//! The test runs its own PostgreSQL (initdb into a temporary directory, a
//! free port) so that stopping it disturbs nobody. It runs when
//! `TASKQ_TEST_POSTGRES_URL` is set at build time (PostgreSQL is
//! installed: CI), and is ignored otherwise; run, it fails when the server
//! binaries are not found.

#![cfg(feature = "postgres")]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use taskq::backend::Backend;
use taskq::prelude::*;
use taskq::{MaintenanceConfig, PageRequest};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Nap {
    ms: u64,
}

/// Sleeps a little.
#[long_task(queue = "loss", retries = 20, retry_delay = 0.05)]
async fn loss_nap(p: Nap) -> Result<(), TaskError> {
    tokio::time::sleep(Duration::from_millis(p.ms)).await;
    Ok(())
}

/// The directory of `initdb` and `pg_ctl`, if installed.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// A private PostgreSQL server, stopped and deleted on drop.
struct PrivateServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl PrivateServer {
    /// Runs a server tool, as `postgres` when we are root (the server
    /// refuses to run as root).
    fn tool(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        command.args(args).output().expect("run a PostgreSQL tool")
    }

    fn start(bin: PathBuf) -> PrivateServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("taskq-pgloss-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("server dir");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown the server dir");
        }
        let server = PrivateServer { bin, dir, port };
        let data = server.data();
        let out = server.tool("initdb", &["-D", &data, "-A", "trust", "-U", "postgres"]);
        assert!(out.status.success(), "initdb: {out:?}");
        server.up();
        server
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        let out = self.tool(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
        assert!(out.status.success(), "pg_ctl start: {out:?}");
    }

    /// Stops at once: every connection is cut, as in a crash.
    fn down(&self) {
        let out = self.tool(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        assert!(out.status.success(), "pg_ctl stop: {out:?}");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.tool(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

async fn count(backend: &dyn Backend, state: TaskState) -> Result<u64, Error> {
    let filter = TaskFilter {
        state: Some(state),
        ..TaskFilter::default()
    };
    Ok(backend.list(&filter, PageRequest::new(1, 1)).await?.total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn connection_loss_postgres() {
    let bin = server_bin().expect("PostgreSQL server binaries under /usr/lib/postgresql");
    let server = PrivateServer::start(bin);
    let backend = Arc::new(
        taskq::SqlBackend::connect(&server.url())
            .await
            .expect("connect"),
    );
    let client = Client::new(backend.clone() as Arc<dyn Backend>).expect("client");
    let tasks = 300;
    client
        .submit_many(loss_nap, (0..tasks).map(|_| Nap { ms: 20 }))
        .await
        .expect("submit");
    let worker = Worker::builder(&client)
        .queue("loss", 4)
        .lease(Duration::from_secs(2))
        .heartbeat_interval(Duration::from_millis(400))
        .poll_interval(Duration::from_millis(100))
        .maintenance(MaintenanceConfig {
            rescue_interval: Duration::from_millis(300),
            ..MaintenanceConfig::default()
        })
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    // Let some work finish, then cut the server away mid-run.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&*backend, TaskState::Finished).await.unwrap_or(0) < 40 {
        assert!(Instant::now() < deadline, "no progress before the outage");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.down();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !running.is_finished(),
        "the worker gave up during the outage"
    );
    server.up();
    let back = Instant::now();

    // The same worker, never restarted, finishes everything.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if count(&*backend, TaskState::Finished).await.unwrap_or(0) == tasks {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the outage only {:?} of {tasks} finished",
            count(&*backend, TaskState::Finished).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for state in [TaskState::Pending, TaskState::Running, TaskState::Failed] {
        assert_eq!(count(&*backend, state).await.expect("count"), 0, "{state}");
    }
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    eprintln!(
        "connection_loss_postgres: {tasks} tasks finished {:?} after the server came back",
        back.elapsed()
    );
}
