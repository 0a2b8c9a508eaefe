//! Throughput and latency per backend, printed as figures (speed is
//! measured here, never asserted in tests).
//!
//! ```text
//! cargo bench --bench throughput                 # every embedded backend
//! cargo bench --bench throughput -- sqlite -n 100000
//! TASKQ_BENCH_REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo bench --features redis --bench throughput -- redis
//! ```
//!
//! Redis runs under a fresh key prefix whose keys are deleted at the end.
//!
//! For each backend: the submit rate (batches of 1,000), the burn-down of
//! N no-op tasks by one worker (records kept, every outcome stored), and the
//! idle submit→start latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskq::prelude::*;
use taskq::{Backend, PageRequest};
use tokio::sync::{Notify, mpsc};

static DONE: AtomicUsize = AtomicUsize::new(0);
static ALL_DONE: Notify = Notify::const_new();
static TARGET: AtomicUsize = AtomicUsize::new(usize::MAX);
static STARTED: std::sync::Mutex<Option<mpsc::UnboundedSender<Instant>>> =
    std::sync::Mutex::new(None);

/// Does nothing but count.
#[long_task(retries = 0)]
async fn bench_noop(_p: ()) -> Result<(), TaskError> {
    if DONE.fetch_add(1, Ordering::Relaxed) + 1 == TARGET.load(Ordering::Relaxed) {
        ALL_DONE.notify_one();
    }
    Ok(())
}

/// Reports when it started, for latency.
#[long_task(retries = 0)]
async fn bench_ping(_p: ()) -> Result<(), TaskError> {
    let now = Instant::now();
    if let Some(tx) = STARTED.lock().map_err(TaskError::permanent)?.as_ref() {
        let _ = tx.send(now);
    }
    Ok(())
}

const CONCURRENCY: usize = 512;

struct Settings {
    backends: Vec<String>,
    n: Option<usize>,
}

fn settings() -> Settings {
    let mut settings = Settings {
        backends: Vec::new(),
        n: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-n" => settings.n = args.next().and_then(|n| n.parse().ok()),
            "memory" | "sqlite" | "redis" => settings.backends.push(arg),
            _ => {} // `--bench` and other harness flags
        }
    }
    if settings.backends.is_empty() {
        settings.backends = vec!["memory".into(), "sqlite".into()];
    }
    settings
}

async fn backend(name: &str) -> Arc<dyn Backend> {
    match name {
        "memory" => Arc::new(taskq::MemoryBackend::new()),
        "redis" => redis_backend().await,
        _ => {
            let path = std::env::temp_dir().join(format!("taskq-bench-{}.db", std::process::id()));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            let url = format!("sqlite://{}", path.display());
            Arc::new(taskq::SqlBackend::connect(&url).await.expect("sqlite"))
        }
    }
}

#[cfg(feature = "redis")]
async fn redis_backend() -> Arc<dyn Backend> {
    let url = std::env::var("TASKQ_BENCH_REDIS_URL")
        .or_else(|_| std::env::var("TASKQ_TEST_REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut config = taskq::RedisConfig::new(url);
    config.prefix = format!(
        "taskq-bench-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros())
    );
    config.delete_keys_on_drop = true;
    Arc::new(
        taskq::RedisBackend::connect_with(config)
            .await
            .expect("redis"),
    )
}

#[cfg(not(feature = "redis"))]
async fn redis_backend() -> Arc<dyn Backend> {
    panic!("the redis benchmark needs `--features redis`")
}

async fn burn_down(name: &str, n: usize) {
    let client = Client::new(backend(name).await).expect("client");
    let started = Instant::now();
    let mut submitted = 0;
    while submitted < n {
        let batch = (n - submitted).min(1000);
        client
            .submit_many(bench_noop, std::iter::repeat_n((), batch))
            .await
            .expect("submit");
        submitted += batch;
    }
    let submit_secs = started.elapsed().as_secs_f64();

    DONE.store(0, Ordering::Relaxed);
    TARGET.store(n, Ordering::Relaxed);
    let worker = Worker::builder(&client)
        .queue("default", CONCURRENCY)
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let started = Instant::now();
    let running = tokio::spawn(worker.run());
    ALL_DONE.notified().await;
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    let drain_secs = started.elapsed().as_secs_f64();

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
    assert_eq!(finished as usize, n, "every task finished and was recorded");
    println!(
        "{name:<7} submit     {n:>8} tasks in {submit_secs:>6.2} s = {:>9.0} tasks/s",
        n as f64 / submit_secs
    );
    println!(
        "{name:<7} burn-down  {n:>8} tasks in {drain_secs:>6.2} s = {:>9.0} jobs/s",
        n as f64 / drain_secs
    );
}

async fn latency(name: &str, samples: usize) {
    let client = Client::new(backend(name).await).expect("client");
    let (tx, mut rx) = mpsc::unbounded_channel();
    *STARTED.lock().expect("lock") = Some(tx);
    let worker = Worker::builder(&client)
        .queue("default", 4)
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        // Let the worker go idle, waiting for a signal or its poll.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let submitted = Instant::now();
        client.submit(bench_ping, ()).await.expect("submit");
        let started = rx.recv().await.expect("started");
        latencies.push(started.duration_since(submitted));
    }
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "{name:<7} idle submit→start latency over {samples}: p50 {:?}, p99 {:?}",
        pct(0.5),
        pct(0.99)
    );
}

fn main() {
    let settings = settings();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for name in &settings.backends {
            let n = settings
                .n
                .unwrap_or(if name == "memory" { 500_000 } else { 100_000 });
            burn_down(name, n).await;
            latency(name, 200).await;
        }
    });
}
