//! Redis: what a filtered task list costs with many records, and what
//! claim and settle cost in Redis itself, printed as figures.
//!
//! ```text
//! TASKQ_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo bench --bench redis_list --features redis -- -n 1000000
//! ```
//!
//! Fills one queue with N pending records of two task types (batches of
//! 1,000), claims and settles a tenth of them (batches of 100, half
//! finished, half failed), then times list pages: unfiltered, by state, by
//! type, by both, a deep page, RUNNING. Server-side costs come from
//! `INFO commandstats` (reset before each phase): the µs Redis spent in
//! `EVALSHA` per call and per task — only meaningful on a Redis server no
//! one else uses (start a private `redis-server` for it). Keys go under a
//! fresh prefix and are deleted at the end.

use std::time::{Duration, Instant};

use chrono::Utc;
use fred::prelude::*;
use serde_json::json;
use taskq::backend::{Broker, Store};
use taskq::{PageRequest, RedisBackend, RedisConfig, TaskFilter, TaskState};
use taskq_core::backend::{ClaimRequest, Outcome, Settlement};
use taskq_core::conformance::record;

const BATCH: usize = 1000;
const CLAIM_BATCH: usize = 100;

fn main() {
    let mut n = 1_000_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-n" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("-n <records>")
            }
            // cargo bench passes `--bench`.
            "--bench" => {}
            other => panic!("unknown argument `{other}` (use -n <records>)"),
        }
    }
    let url =
        std::env::var("TASKQ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&url, n));
}

/// Per command since the last reset (`INFO commandstats`): name, calls,
/// µs. Commands a script runs count under their own names. Resets.
async fn command_stats(admin: &Client) -> Vec<(String, u64, u64)> {
    let info: String = admin
        .info(Some(fred::types::InfoKind::CommandStats))
        .await
        .expect("info");
    let _: () = admin
        .custom(
            fred::types::CustomCommand::new_static(
                "CONFIG",
                fred::types::ClusterHash::FirstKey,
                false,
            ),
            vec!["RESETSTAT"],
        )
        .await
        .expect("resetstat");
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let field = |key: &str| -> u64 {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.parse().ok()))
                    .unwrap_or(0)
            };
            Some((name.to_owned(), field("calls="), field("usec=")))
        })
        .collect()
}

/// One phase's figures: rate, then what Redis did per task (commands a
/// script ran count apart from the `EVALSHA` that ran them).
fn report(phase: &str, tasks: usize, secs: f64, stats: Vec<(String, u64, u64)>) {
    let per_task = |x: u64| x as f64 / tasks.max(1) as f64;
    let (calls, usec) = stats
        .iter()
        .find(|s| s.0 == "evalsha")
        .map_or((0, 0), |s| (s.1, s.2));
    let inner: u64 = stats
        .iter()
        .filter(|s| !matches!(s.0.as_str(), "evalsha" | "info" | "config|resetstat"))
        .map(|s| s.1)
        .sum();
    let mut detail: Vec<String> = stats
        .iter()
        .filter(|s| !matches!(s.0.as_str(), "evalsha" | "info" | "config|resetstat"))
        .map(|s| format!("{} {:.2} ({:.2} µs)", s.0, per_task(s.1), per_task(s.2)))
        .collect();
    detail.sort();
    println!(
        "{phase:<8} {tasks:>8} tasks in {secs:>6.2} s = {:>8.0}/s; Redis: {calls} EVALSHA, \
         {:.1} µs/call, {:.2} µs/task; {:.2} commands/task ({})",
        tasks as f64 / secs,
        usec as f64 / calls.max(1) as f64,
        per_task(usec),
        per_task(inner),
        detail.join(", ")
    );
}

async fn run(url: &str, n: usize) {
    let mut config = RedisConfig::new(url);
    config.prefix = format!("taskq-list-bench-{}", std::process::id());
    config.delete_keys_on_drop = true;
    let backend = RedisBackend::connect_with(config)
        .await
        .expect("connect to Redis");
    let admin = Builder::from_config(Config::from_url(url).expect("url"))
        .build()
        .expect("client");
    admin.init().await.expect("connect");
    command_stats(&admin).await;

    let base = Utc::now() - chrono::Duration::hours(1);
    let started = Instant::now();
    let mut filled = 0;
    while filled < n {
        let batch: Vec<_> = (filled..(filled + BATCH).min(n))
            .map(|i| {
                let mut r = record(if i % 2 == 0 { "even" } else { "odd" }, "q", 5, base);
                r.created_at = base + chrono::Duration::microseconds(i as i64);
                r
            })
            .collect();
        filled += batch.len();
        backend.enqueue(batch).await.expect("enqueue");
    }
    report(
        "enqueue",
        n,
        started.elapsed().as_secs_f64(),
        command_stats(&admin).await,
    );

    let settled = n / 10;
    let mut claimed = Vec::with_capacity(settled);
    let started = Instant::now();
    while claimed.len() < settled {
        let got = backend
            .claim(ClaimRequest {
                queue: "q",
                limit: CLAIM_BATCH.min(settled - claimed.len()),
                worker_id: "bench",
                lease: Duration::from_secs(3600),
                now: Utc::now(),
                task_types: None,
            })
            .await
            .expect("claim");
        assert!(!got.is_empty(), "the queue ran dry");
        claimed.extend(got.into_iter().map(|r| r.id));
    }
    report(
        "claim",
        settled,
        started.elapsed().as_secs_f64(),
        command_stats(&admin).await,
    );
    let started = Instant::now();
    for (chunk_no, chunk) in claimed.chunks(CLAIM_BATCH).enumerate() {
        let settlements = chunk
            .iter()
            .map(|&id| Settlement {
                id,
                attempt: 1,
                outcome: if chunk_no % 2 == 0 {
                    Outcome::Finished(json!(null))
                } else {
                    Outcome::Failed(taskq::TaskFailure {
                        kind: taskq::ErrorKind::Permanent,
                        message: "bench".into(),
                    })
                },
                at: Utc::now(),
            })
            .collect();
        backend.settle(settlements).await.expect("settle");
    }
    report(
        "settle",
        settled,
        started.elapsed().as_secs_f64(),
        command_stats(&admin).await,
    );
    // A few running tasks, for the RUNNING list.
    backend
        .claim(ClaimRequest {
            queue: "q",
            limit: 50,
            worker_id: "bench",
            lease: Duration::from_secs(3600),
            now: Utc::now(),
            task_types: None,
        })
        .await
        .expect("claim");

    let pages: [(&str, TaskFilter, PageRequest); 7] = [
        ("all", TaskFilter::default(), PageRequest::new(1, 20)),
        (
            "pending",
            filter(Some(TaskState::Pending), None),
            PageRequest::new(1, 20),
        ),
        ("type", filter(None, Some("odd")), PageRequest::new(1, 20)),
        (
            "fin+type",
            filter(Some(TaskState::Finished), Some("even")),
            PageRequest::new(1, 20),
        ),
        (
            "pend p500",
            filter(Some(TaskState::Pending), None),
            PageRequest::new(500, 20),
        ),
        (
            "running",
            filter(Some(TaskState::Running), None),
            PageRequest::new(1, 20),
        ),
        (
            "in queue",
            TaskFilter {
                queue: Some("q".into()),
                ..filter(Some(TaskState::Failed), Some("odd"))
            },
            PageRequest::new(1, 20),
        ),
    ];
    for (name, filter, page) in pages {
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let got = backend.list(&filter, page).await.expect("list");
            times.push(started.elapsed());
            total = got.total;
        }
        times.sort();
        println!(
            "list {name:<10} page {:>3} of {total:>8} matches: median {:>10.3} ms (of 5)",
            page.page,
            times[2].as_secs_f64() * 1e3
        );
    }
    let _ = admin.quit().await;
    let started = Instant::now();
    drop(backend);
    println!(
        "deleted the keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn filter(state: Option<TaskState>, task_type: Option<&str>) -> TaskFilter {
    TaskFilter {
        state,
        task_type: task_type.map(str::to_owned),
        ..TaskFilter::default()
    }
}
