//! Workflows against plain tasks (`--only workflow`): a group of N no-op
//! steps with a chord callback, and a chain of 1,000 steps, each end to
//! end through one worker, beside a plain burn-down of N no-op tasks on
//! the same backend in the same run. With `TASKQ_BENCH_COMMANDS=1` on
//! Redis, each phase also prints the server's commands per job (those
//! its scripts ran included; the server's counts, so the bench's alone
//! only on a server no one else uses), by command.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use taskq::prelude::*;
use taskq::workflow::{Step, Workflow};
use taskq::{PageRequest, TaskFilter};

use crate::figure::Figure;
use crate::load::Counter;
use crate::place::{Place, open};

/// Slots of the one worker.
const SLOTS: usize = 64;
/// Steps of the chain.
const CHAIN: usize = 1000;

#[long_task(retries = 0, queue = "bench-wf")]
async fn bench_wf_noop(_p: ()) -> Result<(), TaskError> {
    Ok(())
}

#[long_task(retries = 0, queue = "bench-wf")]
async fn bench_wf_member(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(retries = 0, queue = "bench-wf")]
async fn bench_wf_chord(results: Vec<u32>) -> Result<usize, TaskError> {
    Ok(results.len())
}

#[long_task(retries = 0, queue = "bench-wf")]
async fn bench_wf_link(n: u64) -> Result<u64, TaskError> {
    Ok(n + 1)
}

fn worker(client: &Client) -> Worker {
    Worker::builder(client)
        .queue("bench-wf", SLOTS)
        .build()
        .expect("worker")
}

/// Runs `worker` until `done` answers, and gives the seconds it took.
async fn timed<F: std::future::Future<Output = ()>>(client: &Client, done: F) -> f64 {
    let worker = worker(client);
    let shutdown = worker.shutdown_handle();
    let started = Instant::now();
    let running = tokio::spawn(worker.run());
    done.await;
    let secs = started.elapsed().as_secs_f64();
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    secs
}

async fn finished(client: &Client, task_type: &str) -> u64 {
    let filter = TaskFilter {
        state: Some(TaskState::Finished),
        task_type: Some(task_type.into()),
        ..TaskFilter::default()
    };
    client
        .list(&filter, PageRequest::new(1, 1))
        .await
        .expect("list")
        .total
}

fn report(name: &str, what: &str, jobs: usize, secs: f64, plain: f64) {
    let rate = jobs as f64 / secs;
    Figure::new(name, what, rate, "jobs/s").report();
    println!(
        "{name:<14} {what:<22} {jobs:>7} jobs in {secs:>6.2} s = {rate:>9.0} jobs/s ({:.2}× plain)",
        rate / plain
    );
}

/// Redis's calls per command around a phase (`TASKQ_BENCH_COMMANDS`).
struct Commands(Option<Counter>);

impl Commands {
    async fn open(name: &str, place: &Place) -> Commands {
        let wanted = std::env::var_os("TASKQ_BENCH_COMMANDS").is_some_and(|v| v != "0");
        Commands(match wanted && name == "redis" {
            true => Counter::open(name, &place.url).await,
            false => None,
        })
    }

    async fn read(&self) -> Option<BTreeMap<String, u64>> {
        self.0.as_ref()?.command_calls().await
    }

    /// Prints the commands per job since `before`, the most frequent first.
    async fn report(
        &self,
        name: &str,
        what: &str,
        jobs: usize,
        before: Option<BTreeMap<String, u64>>,
    ) {
        let (Some(before), Some(after)) = (before, self.read().await) else {
            return;
        };
        let mut calls: Vec<(u64, &str)> = after
            .iter()
            .map(|(cmd, n)| {
                (
                    n.saturating_sub(before.get(cmd).copied().unwrap_or(0)),
                    cmd.as_str(),
                )
            })
            .filter(|(n, _)| *n > 0)
            .collect();
        calls.sort_unstable_by(|a, b| b.cmp(a));
        let per_job = |n: u64| n as f64 / jobs as f64;
        let total: u64 = calls.iter().map(|c| c.0).sum();
        let top: Vec<String> = calls
            .iter()
            .take(10)
            .map(|(n, cmd)| format!("{cmd} {:.2}", per_job(*n)))
            .collect();
        println!(
            "{name:<14} {what:<22} {:.2} commands/job: {}",
            per_job(total),
            top.join(", ")
        );
    }
}

pub async fn workflows(name: &str, place: &Place, n: usize) {
    let client = Client::new(open(name, place).await).expect("client");
    let wait = Duration::from_secs(600);
    let commands = Commands::open(name, place).await;

    for chunk in vec![(); n].chunks(1000) {
        client
            .submit_many(bench_wf_noop, chunk.iter().copied())
            .await
            .expect("submit");
    }
    let before = commands.read().await;
    let secs = timed(&client, async {
        while finished(&client, "bench_wf_noop").await < n as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let plain = n as f64 / secs;
    Figure::new(name, "workflow plain burn-down", plain, "jobs/s").report();
    println!(
        "{name:<14} {:<22} {n:>7} jobs in {secs:>6.2} s = {plain:>9.0} jobs/s",
        "plain burn-down"
    );
    commands.report(name, "plain burn-down", n, before).await;

    let mut wf = Workflow::new();
    let group: Vec<Step<u32>> = (0..n as u32).map(|i| wf.add(bench_wf_member, i)).collect();
    let chord = wf.join(&group, bench_wf_chord);
    client.submit_workflow(wf).await.expect("submit chord");
    let before = commands.read().await;
    let secs = timed(&client, async {
        let count = client.result(chord.task_ref(), wait).await.expect("chord");
        assert_eq!(count, n);
    })
    .await;
    report(name, "chord (group + callback)", n + 1, secs, plain);
    commands.report(name, "chord", n + 1, before).await;

    let mut wf = Workflow::new();
    let mut last = wf.add(bench_wf_link, 0);
    for _ in 1..CHAIN {
        last = wf.then(&last, bench_wf_link);
    }
    client.submit_workflow(wf).await.expect("submit chain");
    let before = commands.read().await;
    let secs = timed(&client, async {
        let end = client.result(last.task_ref(), wait).await.expect("chain");
        assert_eq!(end, CHAIN as u64);
    })
    .await;
    report(name, "chain", CHAIN, secs, plain);
    commands.report(name, "chain", CHAIN, before).await;
}
