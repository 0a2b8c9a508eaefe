//! Throughput and latency per backend, printed as figures (speed is
//! measured here, never asserted in tests).
//!
//! ```text
//! cargo bench --bench throughput                 # every embedded backend
//! cargo bench --bench throughput -- sqlite -n 100000
//! TASKQ_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench --bench throughput --features postgres -- postgres
//! TASKQ_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//!   cargo bench --bench throughput --features mysql -- mysql
//! cargo bench --bench throughput --features postgres -- postgres -n 20000 --pending 1000000
//! TASKQ_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo bench --bench throughput --features redis -- redis
//! # SQL records, Redis delivery (both variables set):
//! cargo bench --bench throughput --features postgres,redis -- redis-postgres -n 100000
//! cargo bench --bench throughput --features redis -- redis-sqlite
//! ```
//!
//! For each backend: the submit rate (batches of 1,000), the burn-down of
//! N no-op tasks by one worker (records kept, every outcome stored), the
//! idle submit→start latency, and the wake-up of 1,000 concurrent waiters
//! (`Client::wait_for`, on a second backend for servers) from their task's
//! handler returning. `--only limit` measures instead what a queue limit
//! costs the claims (burn-downs with a limit that never binds against
//! none); `--only unique` the unique submits. `--pending P` first fills the queue with P
//! lower-priority tasks that stay pending, to show how claims scale with the
//! backlog.
//!
//! PostgreSQL and MySQL run in a fresh schema / database (dropped at the
//! end) on the server of `TASKQ_TEST_POSTGRES_URL` / `TASKQ_TEST_MYSQL_URL`;
//! their latency is measured across two backends (two pools, as two
//! processes would be), so a wake-up must come through the server: LISTEN/
//! NOTIFY on PostgreSQL, the worker's poll on MySQL, pub/sub on Redis.
//! Redis runs under a fresh key prefix whose keys are deleted at the end;
//! `redis-postgres` and `redis-sqlite` combine the two places.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskq::PageRequest;
use taskq::backend::Backend;
use taskq::prelude::*;
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

/// Ballast for `--pending`: outranked by every `bench_noop`, never reached.
#[long_task(retries = 0, priority = -100)]
async fn bench_ballast(_p: ()) -> Result<(), TaskError> {
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

/// Never run: the plain side of the unique-submit figures.
#[long_task(retries = 0, queue = "bench-unique")]
async fn bench_plain(n: u64) -> Result<(), TaskError> {
    let _ = n;
    Ok(())
}

/// Never run: unique by its params, while pending or running.
#[long_task(retries = 0, queue = "bench-unique", unique)]
async fn bench_unique(n: u64) -> Result<(), TaskError> {
    let _ = n;
    Ok(())
}

/// When each waited-on task's handler returned, by its index.
static RETURNED: std::sync::Mutex<Vec<Option<Instant>>> = std::sync::Mutex::new(Vec::new());

/// Notes when it returned, for the waiters' wake-up.
#[long_task(retries = 0)]
async fn bench_waited(i: usize) -> Result<(), TaskError> {
    let now = Instant::now();
    let mut returned = RETURNED.lock().map_err(TaskError::permanent)?;
    if let Some(slot) = returned.get_mut(i) {
        *slot = Some(now);
    }
    Ok(())
}

const CONCURRENCY: usize = 512;

struct Settings {
    backends: Vec<String>,
    n: Option<usize>,
    pending: usize,
    /// `--only unique`: the unique-submit figures alone; `--only limit`:
    /// the queue-limit burn-downs alone.
    only: Option<String>,
}

fn settings() -> Settings {
    let mut settings = Settings {
        backends: Vec::new(),
        n: None,
        pending: 0,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-n" => settings.n = args.next().and_then(|n| n.parse().ok()),
            "--pending" => settings.pending = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            "--only" => settings.only = args.next(),
            "memory" | "sqlite" | "postgres" | "mysql" | "redis" | "redis-postgres"
            | "redis-sqlite" => settings.backends.push(arg),
            _ => {} // `--bench` and other harness flags
        }
    }
    if settings.backends.is_empty() {
        settings.backends = vec!["memory".into(), "sqlite".into()];
    }
    settings
}

/// Where a server backend's bench data lives, to open a second backend on
/// it and to drop it afterwards.
struct Place {
    /// The URL of the bench's own schema / database.
    url: String,
    /// The PostgreSQL schema / MySQL database to drop afterwards.
    scratch: Option<taskq::sea::scratch::Scratch>,
    /// For SQL records with Redis delivery: the Redis place
    /// (`redis://…#<prefix>`).
    delivery: Option<String>,
}

/// A fresh schema (PostgreSQL) or database (MySQL) for the bench.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn server_place(name: &str) -> Place {
    use taskq::sea::scratch::{Scratch, Server};
    let server = if name == "postgres" {
        Server::Postgres
    } else {
        Server::Mysql
    };
    // Panics, naming the variable, when it is unset.
    let scratch = Scratch::from_env(server).await.expect("scratch");
    Place {
        url: scratch.url().to_owned(),
        scratch: Some(scratch),
        delivery: None,
    }
}

async fn place(name: &str) -> Place {
    match name {
        "redis-postgres" | "redis-sqlite" => {
            let mut records = Box::pin(place(&name["redis-".len()..])).await;
            records.delivery = Some(Box::pin(place("redis")).await.url);
            records
        }
        "redis" => {
            let server = std::env::var("TASKQ_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let micros = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            // The key prefix rides after the `#`; see `open`.
            Place {
                url: format!("{server}#taskq-bench-{}-{micros}", std::process::id()),
                scratch: None,
                delivery: None,
            }
        }
        "postgres" | "mysql" => {
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            return server_place(name).await;
            #[cfg(not(any(feature = "postgres", feature = "mysql")))]
            panic!("build the bench with --features {name}");
        }
        _ => {
            let path = std::env::temp_dir().join(format!("taskq-bench-{}.db", std::process::id()));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            Place {
                url: format!("sqlite://{}", path.display()),
                scratch: None,
                delivery: None,
            }
        }
    }
}

async fn cleanup(place: &Place) {
    if let Some(scratch) = &place.scratch {
        scratch.clone().drop_now().await.expect("drop bench data");
    }
    if place.url.starts_with("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", &place.url["sqlite://".len()..]));
        }
    }
}

async fn open(name: &str, place: &Place) -> Arc<dyn Backend> {
    if let Some(delivery) = &place.delivery {
        return open_sql_redis(&place.url, delivery).await;
    }
    match name {
        "memory" => Arc::new(taskq::MemoryBackend::new()),
        "redis" => open_redis(&place.url).await,
        _ => Arc::new(
            taskq::SqlBackend::connect(&place.url)
                .await
                .expect("connect"),
        ),
    }
}

/// Settings for `redis://…#<prefix>`, deleting the keys when dropped.
#[cfg(feature = "redis")]
fn redis_config(url: &str) -> taskq::RedisConfig {
    let (server, prefix) = url.split_once('#').expect("redis place");
    let mut config = taskq::RedisConfig::new(server);
    config.prefix = prefix.to_owned();
    config.delete_keys_on_drop = true;
    config
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str) -> Arc<dyn Backend> {
    Arc::new(
        taskq::RedisBackend::connect_with(redis_config(url))
            .await
            .expect("connect"),
    )
}

/// SQL records at `records`, delivery through Redis at `delivery`.
#[cfg(feature = "redis")]
async fn open_sql_redis(records: &str, delivery: &str) -> Arc<dyn Backend> {
    let mut config = redis_config(delivery);
    // Finished tasks' copies live as briefly as `SqlRedisBackend::connect` keeps them.
    config.retention = Some(taskq::sea::redis::DELIVERY_RETENTION_DEFAULT);
    let redis = taskq::RedisBackend::connect_with(config)
        .await
        .expect("connect");
    let sql = taskq::SqlBackend::connect(records).await.expect("connect");
    Arc::new(taskq::SqlRedisBackend::new(sql, redis).await.expect("join"))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(_url: &str) -> Arc<dyn Backend> {
    panic!("build the bench with --features redis")
}

#[cfg(not(feature = "redis"))]
async fn open_sql_redis(_records: &str, _delivery: &str) -> Arc<dyn Backend> {
    panic!("build the bench with --features redis")
}

async fn burn_down(name: &str, place: &Place, n: usize, pending: usize) {
    let client = Client::new(open(name, place).await).expect("client");
    if pending > 0 {
        let started = Instant::now();
        let mut submitted = 0;
        while submitted < pending {
            let batch = (pending - submitted).min(1000);
            client
                .submit_many(bench_ballast, std::iter::repeat_n((), batch))
                .await
                .expect("submit ballast");
            submitted += batch;
        }
        println!(
            "{name:<14} ballast   {pending:>8} pending tasks submitted in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
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
    let drain_secs = started.elapsed().as_secs_f64();
    shutdown.shutdown();
    running.await.expect("join").expect("worker");

    let finished = client
        .list(
            &TaskFilter {
                state: Some(TaskState::Finished),
                task_type: Some("bench_noop".into()),
                ..Default::default()
            },
            PageRequest::new(1, 1),
        )
        .await
        .expect("list")
        .total;
    // (Ballast claimed in the last batches may have run too; not counted.)
    assert_eq!(finished as usize, n, "every task finished and was recorded");
    println!(
        "{name:<14} submit    {n:>8} tasks in {submit_secs:>6.2} s = {:>9.0} tasks/s",
        n as f64 / submit_secs
    );
    println!(
        "{name:<14} burn-down {n:>8} tasks in {drain_secs:>6.2} s = {:>9.0} jobs/s (pending backlog {pending})",
        n as f64 / drain_secs
    );
}

/// Submits `n` no-op tasks, then drains them with one worker of
/// `CONCURRENCY` slots; returns the drain's jobs per second.
async fn drain_noops(client: &Client, n: usize) -> f64 {
    for batch in (0..n).collect::<Vec<_>>().chunks(1000) {
        client
            .submit_many(bench_noop, std::iter::repeat_n((), batch.len()))
            .await
            .expect("submit");
    }
    DONE.store(0, Ordering::Relaxed);
    TARGET.store(n, Ordering::Relaxed);
    let worker = Worker::builder(client)
        .queue("default", CONCURRENCY)
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let started = Instant::now();
    let running = tokio::spawn(worker.run());
    ALL_DONE.notified().await;
    let secs = started.elapsed().as_secs_f64();
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    n as f64 / secs
}

/// What a queue limit costs the claims: burn-downs of the same queue with
/// no limit and with a limit far above the worker's slots (so it never
/// binds, and only its bookkeeping shows), in interleaved rounds.
async fn limited_burn_downs(name: &str, place: &Place, n: usize) {
    let client = Client::new(open(name, place).await).expect("client");
    let rounds = 3;
    let limits = [None, Some(1_000_000)];
    let mut rates: [Vec<f64>; 2] = Default::default();
    for _ in 0..rounds {
        for (limit, rates) in limits.iter().zip(rates.iter_mut()) {
            client
                .set_queue_limit("default", *limit)
                .await
                .expect("limit");
            rates.push(drain_noops(&client, n).await);
        }
    }
    for (limit, mut rates) in limits.into_iter().zip(rates) {
        rates.sort_by(f64::total_cmp);
        let label = limit.map_or_else(|| "no limit".to_owned(), |l| format!("limit {l}"));
        println!(
            "{name:<14} burn-down {n:>8} tasks, {label:<15} {:>9.0} jobs/s (median of {rounds}; min {:.0}, max {:.0}; {CONCURRENCY} slots)",
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        );
    }
}

async fn latency(name: &str, place: &Place, samples: usize) {
    let worker_backend = open(name, place).await;
    // Servers: submit through a second backend (its own pool, as another
    // process would), so the wake-up has to come through the server.
    let submitter = if place.scratch.is_some() || name.starts_with("redis") {
        Client::new(open(name, place).await).expect("client")
    } else {
        Client::new(worker_backend.clone()).expect("client")
    };
    let client = Client::new(worker_backend).expect("client");
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
        submitter.submit(bench_ping, ()).await.expect("submit");
        let started = rx.recv().await.expect("started");
        latencies.push(started.duration_since(submitted));
    }
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "{name:<14} idle submit→start latency over {samples}: p50 {:?}, p99 {:?}",
        pct(0.5),
        pct(0.99)
    );
}

/// `waiters` tasks, each awaited by its own waiter before a worker starts;
/// the time from each handler's return to its waiter's wake-up.
async fn waiters(name: &str, place: &Place, waiters: usize) {
    let worker_backend = open(name, place).await;
    let waiting = if place.scratch.is_some() || name.starts_with("redis") {
        Client::new(open(name, place).await).expect("client")
    } else {
        Client::new(worker_backend.clone()).expect("client")
    };
    let client = Client::new(worker_backend).expect("client");
    *RETURNED.lock().expect("lock") = vec![None; waiters];
    let mut woken = Vec::with_capacity(waiters);
    for i in 0..waiters {
        let id = client.submit(bench_waited, i).await.expect("submit");
        let waiting = waiting.clone();
        woken.push(tokio::spawn(async move {
            let record = waiting.wait_for(id, Duration::from_secs(120)).await;
            (i, Instant::now(), record.is_ok())
        }));
    }
    // Every waiter is listening before the first task can end.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let worker = Worker::builder(&client)
        .queue("default", CONCURRENCY)
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    let mut delays = Vec::with_capacity(waiters);
    for waiter in woken {
        let (i, at, finished) = waiter.await.expect("waiter");
        assert!(finished, "task {i} did not finish");
        let returned = RETURNED.lock().expect("lock")[i].expect("handler ran");
        delays.push(at.saturating_duration_since(returned));
    }
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    delays.sort();
    let pct = |p: f64| delays[((delays.len() - 1) as f64 * p) as usize];
    println!(
        "{name:<14} {waiters} waiters, handler return→wake-up: p50 {:?}, p99 {:?}",
        pct(0.5),
        pct(0.99)
    );
}

/// Submit rates, plain against unique, in interleaved rounds: batches of
/// 1,000 (new keys, then the same keys again: all duplicates), and single
/// submits.
async fn unique_submits(name: &str, place: &Place, n: usize) {
    let client = Client::new(open(name, place).await).expect("client");
    let rounds = 3;
    let per_round = (n / rounds).max(1000) / 1000 * 1000;
    let singles = (per_round / 20).max(50);
    let mut next = 0u64;
    let mut rates: [Vec<f64>; 5] = Default::default();
    let rate = |count: usize, started: Instant| count as f64 / started.elapsed().as_secs_f64();
    for _ in 0..rounds {
        let keys: Vec<u64> = (next..next + per_round as u64).collect();
        next += per_round as u64;
        let started = Instant::now();
        for chunk in keys.chunks(1000) {
            client
                .submit_many(bench_plain, chunk.iter().copied())
                .await
                .expect("plain");
        }
        rates[0].push(rate(per_round, started));
        let started = Instant::now();
        for chunk in keys.chunks(1000) {
            client
                .submit_many(bench_unique, chunk.iter().copied())
                .await
                .expect("unique");
        }
        rates[1].push(rate(per_round, started));
        let started = Instant::now();
        for chunk in keys.chunks(1000) {
            let ids = client
                .submit_many(bench_unique, chunk.iter().copied())
                .await
                .expect("dup");
            assert_eq!(ids.len(), chunk.len());
        }
        rates[2].push(rate(per_round, started));
        let started = Instant::now();
        for key in &keys[..singles] {
            client
                .submit(bench_plain, *key)
                .await
                .expect("plain single");
        }
        rates[3].push(rate(singles, started));
        let started = Instant::now();
        for offset in 0..singles as u64 {
            client
                .submit(bench_unique, next + offset)
                .await
                .expect("unique single");
        }
        next += singles as u64;
        rates[4].push(rate(singles, started));
    }
    let labels = [
        "batch plain",
        "batch unique, new keys",
        "batch unique, held keys",
        "single plain",
        "single unique, new key",
    ];
    for (label, mut rates) in labels.into_iter().zip(rates) {
        rates.sort_by(f64::total_cmp);
        println!(
            "{name:<14} submit {label:<24} {:>9.0} tasks/s (median of {rounds}; min {:.0}, max {:.0})",
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        );
    }
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
            match settings.only.as_deref() {
                Some("unique") => {
                    let place = place(name).await;
                    unique_submits(name, &place, n.min(30_000)).await;
                    cleanup(&place).await;
                    continue;
                }
                Some("limit") => {
                    let place = place(name).await;
                    limited_burn_downs(name, &place, n.min(30_000)).await;
                    cleanup(&place).await;
                    continue;
                }
                _ => {}
            }
            let place = place(name).await;
            burn_down(name, &place, n, settings.pending).await;
            cleanup(&place).await;
            let place = self::place(name).await;
            latency(name, &place, 200).await;
            cleanup(&place).await;
            let place = self::place(name).await;
            waiters(name, &place, 1000).await;
            cleanup(&place).await;
            let place = self::place(name).await;
            unique_submits(name, &place, n.min(30_000)).await;
            cleanup(&place).await;
        }
    });
}
