//! Submit N no-op tasks in batches, then burn them down with one worker
//! (every record kept, every outcome stored): each phase's rate and CPU
//! per job. `--mode insert-then-work` runs this alone, River's shape,
//! with the worker on a backend of its own as another process would be.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use taskq::PageRequest;
use taskq::prelude::*;
use taskq::registry::TaskHandle;

use crate::cpu::Meter;
use crate::figure::Figure;
use crate::place::{Place, open};
use crate::{ALL_DONE, CONCURRENCY, DONE, TARGET, bench_ballast, bench_noop};

/// How long the servers' idle CPU is read before the phases.
pub const IDLE: Duration = Duration::from_secs(1);

/// Tasks per `submit_many`.
pub const BATCH: usize = 1000;

/// Submits `n` tasks of `task` in batches of [`BATCH`].
pub async fn submit_batches(client: &Client, task: TaskHandle<(), ()>, n: usize) {
    let mut submitted = 0;
    while submitted < n {
        let batch = (n - submitted).min(BATCH);
        client
            .submit_many(task, std::iter::repeat_n((), batch))
            .await
            .expect("submit");
        submitted += batch;
    }
}

/// How many `bench_noop` tasks finished and were recorded.
pub async fn finished(client: &Client) -> usize {
    let filter = TaskFilter {
        state: Some(TaskState::Finished),
        task_type: Some("bench_noop".into()),
        ..Default::default()
    };
    client
        .list(&filter, PageRequest::new(1, 1))
        .await
        .expect("list")
        .total as usize
}

/// Runs one worker of `CONCURRENCY` slots on `client` until `n` no-op
/// tasks ran, then stops it; the seconds until the last one ran.
pub async fn drain(client: &Client, n: usize) -> f64 {
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
    secs
}

/// The phases' figures. `own_worker`: the worker gets a backend (a pool)
/// of its own rather than the submitter's.
pub async fn burn_down(name: &str, place: &Place, n: usize, pending: usize, own_worker: bool) {
    let meter = Meter::watching(&place.watches(name)).await;
    meter.report_background(name, IDLE).await;
    let client = Client::new(open(name, place).await).expect("client");
    if pending > 0 {
        let started = Instant::now();
        submit_batches(&client, bench_ballast, pending).await;
        println!(
            "{name:<14} ballast   {pending:>8} pending tasks submitted in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let before = meter.mark().await;
    let started = Instant::now();
    submit_batches(&client, bench_noop, n).await;
    let submit_secs = started.elapsed().as_secs_f64();
    let submitted = meter.mark().await;
    let submit_cpu = meter.spent("bench", &before, &submitted);

    let worker_client = if own_worker && name != "memory" {
        Client::new(open(name, place).await).expect("client")
    } else {
        client.clone()
    };
    let before = meter.mark().await;
    let drain_secs = drain(&worker_client, n).await;
    // After the worker stopped: the last outcomes' writes are counted.
    let drained = meter.mark().await;
    let drain_cpu = meter.spent("bench", &before, &drained);

    // (Ballast claimed in the last batches may have run too; not counted.)
    assert_eq!(
        finished(&client).await,
        n,
        "every task finished and was recorded"
    );
    let submit_rate = n as f64 / submit_secs;
    let drain_rate = n as f64 / drain_secs;
    println!(
        "{name:<14} submit    {n:>8} tasks in {submit_secs:>6.2} s = {submit_rate:>9.0} tasks/s; {}",
        submit_cpu.per_job(n)
    );
    println!(
        "{name:<14} burn-down {n:>8} tasks in {drain_secs:>6.2} s = {drain_rate:>9.0} jobs/s (pending backlog {pending}); {}",
        drain_cpu.per_job(n)
    );
    let figures = [
        Figure::new(name, "submit", submit_rate, "tasks/s"),
        Figure::new(name, "burn-down", drain_rate, "jobs/s"),
    ];
    let cpu = submit_cpu
        .figures(name, "submit", n)
        .into_iter()
        .chain(drain_cpu.figures(name, "burn-down", n));
    figures.into_iter().chain(cpu).for_each(Figure::report);
}
