//! Redis restarts under a running worker: a private `redis-server` with
//! AOF on (`appendfsync always`) is killed with SIGKILL mid-run and started
//! again on the same files; no accepted task is lost and the worker
//! resumes by itself within 5 s.
//!
//! Runs where the other Redis tests run (`TASKQ_TEST_REDIS_URL` set at
//! build time; ignored otherwise) and fails when `redis-server` is not
//! installed; the private server gets a free port and a temporary
//! directory, both gone at the end.
#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::PrivateRedis;
use taskq::prelude::*;
use taskq::{PageRequest, RedisBackend, RedisConfig};

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Takes a little time, so the restart lands while tasks run.
#[long_task(retries = 5, retry_delay = 0.1, jitter = 0.0)]
async fn restart_step(_p: u32) -> Result<(), TaskError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    RUNS.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn redis_restart_loses_nothing_and_workers_resume() {
    let redis = PrivateRedis::start();
    let mut config = RedisConfig::new(redis.url());
    config.prefix = "restart".into();
    let backend = Arc::new(RedisBackend::connect_with(config).await.expect("connect"));
    let client = Client::new(backend).expect("client");
    let worker = common::quick_recovery_worker(&client);
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
