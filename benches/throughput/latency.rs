//! Latencies: an idle worker's submit→start, and many waiters'
//! wake-up after their tasks' handlers return.

use std::time::{Duration, Instant};

use taskq::prelude::*;
use tokio::sync::mpsc;

use crate::figure::Figure;
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

/// `waiters` tasks, each awaited by its own waiter before a worker starts;
/// the time from each handler's return to its waiter's wake-up.
pub async fn waiters(name: &str, place: &Place, waiters: usize) {
    let worker_backend = open(name, place).await;
    let waiting = if place.is_server(name) {
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
    report_millis(name, "waiters wake-up", pct(0.5), pct(0.99));
}

/// The `--json` figures `<what> p50` and `<what> p99`, in ms.
fn report_millis(name: &str, what: &str, p50: Duration, p99: Duration) {
    for (pct, value) in [("p50", p50), ("p99", p99)] {
        let millis = value.as_secs_f64() * 1e3;
        Figure::new(name, &format!("{what} {pct}"), millis, "ms").report();
    }
}
