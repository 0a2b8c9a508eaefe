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
//! # The modes (any backend but memory for multi-process):
//! cargo bench --bench throughput --all-features -- postgres -n 20000 --mode insert-then-work
//! cargo bench --bench throughput --all-features -- redis -n 20000 --mode multi-process --workers 2
//! # This build against another (see compare.rs), 3 interleaved rounds each:
//! cargo bench --bench throughput --all-features -- sqlite -n 20000 --compare <binary>
//! ```
//!
//! For each backend: the submit rate (batches of 1,000), the burn-down of
//! N no-op tasks by one worker (records kept, every outcome stored), the
//! idle submit→start latency, and the wake-up of 1,000 concurrent waiters
//! (`Client::wait_for`, on a second backend for servers) from their task's
//! handler returning, with the load the waiting adds (the server's
//! operations per second while they wait, beside a window without them,
//! and their backend's poll queries: `load.rs`). `--pending P` first fills the queue with P
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
//!
//! Next to each submit and burn-down rate: CPU µs per job, the bench
//! process's and each server's (`cpu.rs`; servers' only mean the bench's
//! when no one else uses them). `--mode insert-then-work` measures the
//! submit and burn-down alone, the worker on a backend of its own;
//! `--mode multi-process` has this process produce while `--workers` worker
//! processes (this binary again, `--child-worker`) work. `--json` adds one
//! JSON line per figure, which `--compare <other binary>` reads from both
//! builds. `--only unique`, `--only limit`, `--only fair`, `--only workflow` and `--only
//! waiters` measure those alone (unique submits; burn-downs with a queue limit and a rate
//! limit that never bind against none; a small key's task behind a big key's backlog,
//! fair and not; a chord and a chain against a plain burn-down;
//! the waiters' wake-up and load).
//!
//! Layout: `settings.rs` (arguments), `place.rs` (where the data lives),
//! `cpu.rs`, `load.rs` (servers' operation counters), `figure.rs` (JSON
//! lines, medians), `burn_down.rs`, `latency.rs`, `unique.rs`, `limit.rs`, `fair.rs`, `workflow.rs`, `multi.rs` with
//! `child_line.rs` (the worker processes' reports), `compare.rs`.

mod burn_down;
mod child_line;
mod compare;
mod cpu;
mod fair;
mod figure;
mod latency;
mod limit;
mod load;
mod multi;
mod place;
mod settings;
mod unique;
mod workflow;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use taskq::prelude::*;
use tokio::sync::{Notify, mpsc};

use place::{cleanup, place};
use settings::{Mode, Only, Settings};

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

/// `bench_noop` with a concurrency key (the params field `k`) for
/// `--only limit`'s key rounds; its key limit is set at runtime there
/// (declaring one would make every run's claims limited).
#[long_task(retries = 0, concurrency(key = "k"))]
async fn bench_keyed(_p: limit::Keyed) -> Result<(), TaskError> {
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

fn main() {
    let settings = match Settings::parse(std::env::args().skip(1)) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("throughput: {err}");
            std::process::exit(2);
        }
    };
    if let Some(other) = &settings.compare {
        compare::compare(&settings, other);
        return;
    }
    figure::JSON.store(settings.json, Ordering::Relaxed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if let Some(child) = &settings.child {
            multi::child(child).await;
            return;
        }
        for name in &settings.backends {
            run(name, &settings).await;
        }
    });
}

/// The figures of one backend, each on a fresh place.
async fn run(name: &str, settings: &Settings) {
    let n = settings.n_for(name);
    let place = place(name).await;
    match settings.mode {
        Mode::All if settings.only == Some(Only::Unique) => {
            unique::unique_submits(name, &place, n.min(30_000)).await;
        }
        Mode::All if settings.only == Some(Only::Limit) => {
            limit::limited_burn_downs(name, &place, n).await;
        }
        Mode::All if settings.only == Some(Only::Workflow) => {
            workflow::workflows(name, &place, n.min(10_000)).await;
        }
        Mode::All if settings.only == Some(Only::Fair) => {
            fair::fair_queues(name, &place, n).await;
        }
        Mode::All if settings.only == Some(Only::Waiters) => {
            latency::waiters(name, &place, 1000).await;
        }
        Mode::All => {
            burn_down::burn_down(name, &place, n, settings.pending, false).await;
            cleanup(&place).await;
            let place = self::place(name).await;
            latency::latency(name, &place, 200).await;
            cleanup(&place).await;
            let place = self::place(name).await;
            latency::waiters(name, &place, 1000).await;
            cleanup(&place).await;
            let place = self::place(name).await;
            unique::unique_submits(name, &place, n.min(30_000)).await;
            cleanup(&place).await;
            return;
        }
        Mode::InsertThenWork => {
            burn_down::burn_down(name, &place, n, settings.pending, true).await;
        }
        Mode::MultiProcess => {
            multi::multi_process(name, &place, n, settings.workers).await;
        }
    }
    cleanup(&place).await;
}
