//! What a fair queue does (`--only fair`): the submit→start latency of
//! one task of a small key submitted behind N tasks of a big key, all
//! queued before the worker starts (so the whole backlog is ahead of it),
//! on a queue that is fair and on one that is not;
//! and the burn-down rate of N tasks over 1,000 keys with fairness on
//! against off (what rounds cost the submits' bookkeeping and the claims),
//! in interleaved rounds.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use taskq::prelude::*;

use crate::burn_down::BATCH;
use crate::figure::Figure;
use crate::limit::{Keyed, drain_noops};
use crate::place::{Place, open};
use crate::{ALL_DONE, CONCURRENCY, DONE, TARGET, bench_keyed};

/// When the probe (the small key's task) started.
static PROBE_STARTED: Mutex<Option<Instant>> = Mutex::new(None);

/// The small key's task: notes when it started.
#[long_task(retries = 0, concurrency(key = "k"))]
async fn bench_fair_probe(_p: Keyed) -> Result<(), TaskError> {
    let now = Instant::now();
    *PROBE_STARTED.lock().map_err(TaskError::permanent)? = Some(now);
    if DONE.fetch_add(1, Ordering::Relaxed) + 1 == TARGET.load(Ordering::Relaxed) {
        ALL_DONE.notify_one();
    }
    Ok(())
}

/// `n` tasks of key 0 queued with no worker running, then a worker
/// started and the probe of key 1 submitted. Returns the probe's
/// submit→start latency, and how many of the big key's tasks were not
/// done yet when it was submitted (the whole backlog but what the worker
/// took in the moment before).
async fn probe_behind(client: &Client, n: usize) -> (Duration, usize) {
    DONE.store(0, Ordering::Relaxed);
    TARGET.store(n + 1, Ordering::Relaxed);
    if let Ok(mut started) = PROBE_STARTED.lock() {
        *started = None;
    }
    let mut submitted = 0;
    while submitted < n {
        let batch = (n - submitted).min(BATCH);
        client
            .submit_many(bench_keyed, (0..batch).map(|_| Keyed { k: 0 }))
            .await
            .expect("submit");
        submitted += batch;
    }
    let worker = Worker::builder(client)
        .queue("default", CONCURRENCY)
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    let ahead = n.saturating_sub(DONE.load(Ordering::Relaxed));
    let at = Instant::now();
    client
        .submit(bench_fair_probe, Keyed { k: 1 })
        .await
        .expect("submit the probe");
    ALL_DONE.notified().await;
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    let started = PROBE_STARTED
        .lock()
        .ok()
        .and_then(|s| *s)
        .expect("the probe ran");
    (started.saturating_duration_since(at), ahead)
}

pub async fn fair_queues(name: &str, place: &Place, n: usize) {
    let client = Client::new(open(name, place).await).expect("client");
    let rounds = 3;
    let mut latency: [Vec<f64>; 2] = Default::default();
    let mut ahead: [Vec<usize>; 2] = Default::default();
    let mut rates: [Vec<f64>; 2] = Default::default();
    for _ in 0..rounds {
        for (i, fair) in [false, true].into_iter().enumerate() {
            client.set_queue_fair("default", fair).await.expect("fair");
            let (waited, behind) = probe_behind(&client, n).await;
            latency[i].push(waited.as_secs_f64() * 1000.0);
            ahead[i].push(behind);
            rates[i].push(drain_noops(&client, n, true).await);
        }
    }
    client
        .set_queue_fair("default", false)
        .await
        .expect("fair off");
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut medians = [0.0; 2];
    for (i, label) in ["fair off", "fair on"].into_iter().enumerate() {
        let ms = median(&mut latency[i]);
        let rate = median(&mut rates[i]);
        medians[i] = rate;
        Figure::new(name, &format!("small key latency {label}"), ms, "ms").report();
        Figure::new(name, &format!("burn-down {label}"), rate, "jobs/s").report();
        println!(
            "{name:<14} {label:<8} small key's task behind {n} of a big key: {ms:>8.1} ms submit→start (median of {rounds}; {:?} still ahead at its submit); burn-down over 1000 keys {rate:>9.0} jobs/s",
            ahead[i]
        );
    }
    println!(
        "{name:<14} fair on / off: burn-down {:.2}, small key latency {:.3}",
        medians[1] / medians[0],
        median(&mut latency[1]) / median(&mut latency[0]).max(f64::MIN_POSITIVE)
    );
}
