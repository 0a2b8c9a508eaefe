//! Latencies: an idle worker's submit→start, and many waiters'
//! wake-up after their tasks' handlers return.

use std::time::{Duration, Instant};

use taskq::prelude::*;
use tokio::sync::mpsc;

use crate::figure::Figure;
use crate::load;
use crate::place::{Place, open};
use crate::{CONCURRENCY, RETURNED, STARTED, bench_ping, bench_waited};

/// The idle submit→start latency over `samples` tasks submitted one at a
/// time to an idle worker.
pub async fn latency(name: &str, place: &Place, samples: usize) {
    let worker_backend = open(name, place).await;
    // Servers: submit through a second backend (its own pool, as another
    // process would), so the wake-up has to come through the server.
    let submitter = if place.is_server(name) {
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
    report_millis(name, "latency", pct(0.5), pct(0.99));
}

/// How long the load of the waiters is read: several of the fallback
/// polls' intervals (1 s where ends are pushed, 200 ms otherwise) and of
/// PostgreSQL's once-a-second statistics flushes.
pub const LOAD_WINDOW: Duration = Duration::from_secs(5);

/// The load of one window: the server's operations per second (`None`
/// without a server) and the waiting backend's fallback-poll queries per
/// second, counted in-process (`TaskEnds::polls`).
struct Load {
    server: Option<f64>,
    polls: f64,
}

async fn load_over(counter: Option<&load::Counter>, waiting: &Client, over: Duration) -> Load {
    let polls = || waiting.backend().task_ends().map_or(0, |ends| ends.polls());
    let before = (
        match counter {
            Some(counter) => counter.read().await,
            None => None,
        },
        polls(),
    );
    let started = Instant::now();
    tokio::time::sleep(over).await;
    let after = match counter {
        Some(counter) => counter.read().await,
        None => None,
    };
    let elapsed = started.elapsed();
    Load {
        server: load::per_second(before.0, after, elapsed),
        polls: polls().saturating_sub(before.1) as f64 / elapsed.as_secs_f64(),
    }
}

/// `waiters` tasks, each awaited by its own waiter before a worker starts;
/// the time from each handler's return to its waiter's wake-up, and the
/// load the waiting adds: the server's operations per second over
/// [`LOAD_WINDOW`] with every waiter waiting and no worker, next to the
/// same window before any waiter (see `load.rs`), and the waiting
/// backend's own poll queries.
pub async fn waiters(name: &str, place: &Place, waiters: usize) {
    let worker_backend = open(name, place).await;
    let waiting = if place.is_server(name) {
        Client::new(open(name, place).await).expect("client")
    } else {
        Client::new(worker_backend.clone()).expect("client")
    };
    let client = Client::new(worker_backend).expect("client");
    let counter = load::Counter::open(name, &place.url).await;
    let idle = load_over(counter.as_ref(), &waiting, LOAD_WINDOW).await;
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
    let busy = load_over(counter.as_ref(), &waiting, LOAD_WINDOW).await;
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
    report_millis(name, "waiters wake-up", pct(0.5), pct(0.99));
    let unit = load::unit(name);
    let server = match (busy.server, idle.server) {
        (Some(busy), Some(idle)) => format!(
            "server {busy:.1} {unit} while waiting, {idle:.1} without waiters (+{:.1})",
            busy - idle
        ),
        _ => "server n/a (no server)".to_owned(),
    };
    println!(
        "{name:<14} {waiters} waiters' load over {:?}: {server}; their backend's polls {:.1} queries/s",
        LOAD_WINDOW, busy.polls
    );
    if let (Some(busy), Some(idle)) = (busy.server, idle.server) {
        Figure::new(name, "waiters load", busy, unit).report();
        Figure::new(name, "idle load", idle, unit).report();
    }
    Figure::new(name, "waiters polls", busy.polls, "queries/s").report();
}

/// The `--json` figures `<what> p50` and `<what> p99`, in ms.
fn report_millis(name: &str, what: &str, p50: Duration, p99: Duration) {
    for (pct, value) in [("p50", p50), ("p99", p99)] {
        let millis = value.as_secs_f64() * 1e3;
        Figure::new(name, &format!("{what} {pct}"), millis, "ms").report();
    }
}
