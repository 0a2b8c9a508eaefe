//! SQL records with Redis delivery (`SqlRedisBackend`) when Redis loses
//! everything: a private `redis-server` is flushed (`FLUSHALL`) under a
//! worker mid-burn-down. The reconciler restores every pending task from
//! SQL: none is lost, none runs twice for one attempt, and the worker
//! resumes by itself within a few seconds.
//!
//! Runs where the other Redis tests run (`TASKQ_TEST_REDIS_URL` set at
//! build time; ignored otherwise) and fails when `redis-server` is not
//! installed; SQLite records always, PostgreSQL records when
//! `TASKQ_TEST_POSTGRES_URL` is set too.
#![cfg(all(feature = "redis", feature = "sqlite"))]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{PrivateRedis, unique};
use taskq::prelude::*;
use taskq::{RedisBackend, RedisConfig, SqlBackend, SqlRedisBackend};

/// How many times each step's handler started, by parameter (each test
/// uses its own range of parameters).
static STARTS: Mutex<Option<HashMap<u32, u32>>> = Mutex::new(None);

fn starts() -> std::sync::MutexGuard<'static, Option<HashMap<u32, u32>>> {
    STARTS.lock().unwrap_or_else(|p| p.into_inner())
}

fn started(range: &std::ops::Range<u32>) -> u32 {
    starts().as_ref().map_or(0, |s| {
        s.iter().filter(|(p, _)| range.contains(p)).count() as u32
    })
}

/// Takes a little time, so the flush lands while tasks run.
#[long_task(retries = 5, retry_delay = 0.1, jitter = 0.0)]
async fn loss_step(p: u32) -> Result<(), TaskError> {
    *starts().get_or_insert_default().entry(p).or_default() += 1;
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(())
}

async fn flush_mid_run(sql: SqlBackend, range: std::ops::Range<u32>) {
    let redis = PrivateRedis::start();
    let mut config = RedisConfig::new(redis.url());
    config.prefix = unique("taskq-data-loss");
    let delivery = RedisBackend::connect_with(config).await.expect("connect");
    let backend = SqlRedisBackend::new(sql, delivery).await.expect("join");
    let client = Client::new(Arc::new(backend)).expect("client");
    // The reconciler runs with its defaults: that is what users get.
    let worker = common::quick_recovery_worker(&client);
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let total = range.len();
    let mut ids = client
        .submit_many(loss_step, range.clone().take(total - 1))
        .await
        .expect("submit");
    let deadline = Instant::now() + Duration::from_secs(20);
    while started(&range) < 30 {
        assert!(Instant::now() < deadline, "the worker never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(redis.flush_all(), "FLUSHALL failed");
    let flushed = Instant::now();
    let done_before = started(&range);
    assert!(
        (done_before as usize) < total - 1,
        "Redis was flushed after all work had started"
    );

    // Work submitted after the loss runs within 5 s, with no help.
    let after = client
        .submit(loss_step, range.end - 1)
        .await
        .expect("submit after the flush");
    loop {
        let record = client.get(after).await.expect("get");
        if record.state == TaskState::Finished {
            break;
        }
        assert!(
            flushed.elapsed() < Duration::from_secs(5),
            "the worker did not resume within 5 s: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resumed = flushed.elapsed();
    ids.push(after);

    // Tasks that were pending when Redis lost them run again within 5 s
    // (the reconciler's check runs every second): well past what the
    // worker held in memory at the flush.
    let before_flush = range.start..range.end - 1;
    while started(&before_flush) < done_before + 20 {
        assert!(
            flushed.elapsed() < Duration::from_secs(5),
            "the pending tasks were not restored within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restored = flushed.elapsed();

    // Nothing accepted is lost: every task finishes.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rerun = 0;
    for id in &ids {
        let record = loop {
            let record = client.get(*id).await.expect("every task is still known");
            if record.state == TaskState::Finished {
                break record;
            }
            assert!(
                Instant::now() < deadline && !record.state.is_terminal(),
                "task did not finish: {record:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if record.attempt > 1 {
            rerun += 1;
        }
    }
    let all_done = flushed.elapsed();
    shutdown.shutdown();
    running.await.expect("join").expect("worker");

    // At least once, and never twice for one attempt: a handler started
    // more often than its task's attempts only if one delivery ran twice.
    let counts = starts().clone().unwrap_or_default();
    let mut twice = 0;
    for (id, p) in ids.iter().zip(range.clone()) {
        let record = client.get(*id).await.expect("get");
        let runs = counts.get(&p).copied().unwrap_or(0);
        assert!(runs >= 1, "task {p} finished without running");
        assert!(
            runs <= record.attempt,
            "task {p} ran {runs} times in {} attempts",
            record.attempt
        );
        twice += u32::from(runs > 1);
    }
    eprintln!(
        "flushed after {done_before} of {total} started; new work ran {resumed:?} \
         after the flush, restored work {restored:?}, all done {all_done:?}; {twice} ran more than once, \
         {rerun} finished on a later attempt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn flushall_mid_run_loses_nothing_redis_sqlite() {
    let path = std::env::temp_dir().join(format!("{}.db", unique("taskq-data-loss")));
    let sql = SqlBackend::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("sqlite");
    flush_mid_run(sql, 0..300).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(taskq_no_redis, taskq_no_postgres),
    ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
)]
async fn flushall_mid_run_loses_nothing_redis_postgres() {
    let scratch = taskq::sea::scratch::Scratch::from_env(taskq::sea::scratch::Server::Postgres)
        .await
        .expect("scratch schema on TASKQ_TEST_POSTGRES_URL");
    let sql = SqlBackend::connect(scratch.url()).await.expect("postgres");
    flush_mid_run(sql, 1000..1300).await;
    scratch.drop_now().await.expect("drop the scratch schema");
}
