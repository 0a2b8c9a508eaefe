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

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::PrivatePostgres;
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
    let server = PrivatePostgres::start();
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
