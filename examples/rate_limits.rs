//! A queue's rate limit on the embedded default (SQLite): a worker with 8
//! slots declares at most 4 starts a second for its queue; 12 quick tasks
//! start in bursts the bucket allows, the rest held back (still pending,
//! the stats say until when), and the worker sleeps until the next token
//! instead of polling.
//!
//! ```text
//! cargo run --example rate_limits
//! ```

use std::sync::Arc;
use std::time::Duration;

use taskq::RateLimit;
use taskq::prelude::*;

/// Calls a (made-up) third-party API with a quota.
#[long_task(queue = "api")]
async fn call_api(n: u32) -> Result<u32, TaskError> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(n)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("taskq-rate-limits.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let backend = taskq::SqlBackend::connect(&format!("sqlite://{}", path.display())).await?;
    let client = Client::new(Arc::new(backend))?;
    let ids = client.submit_many(call_api, 0..12).await?;

    let worker = Worker::builder(&client)
        .queue("api", 8)
        .queue_rate_limit("api", RateLimit::new(4, Duration::from_secs(1)))
        .build()?;
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    tokio::time::sleep(Duration::from_millis(300)).await;
    for stats in client.queue_stats().await? {
        if stats.queue == "api" {
            println!(
                "after 0.3 s: {} pending, rate limit {:?}, held back until {:?}",
                stats.pending, stats.rate_limit, stats.rate_held_until
            );
        }
    }
    let mut started = Vec::new();
    for id in &ids {
        let record = client.wait_for(*id, Duration::from_secs(30)).await?;
        started.extend(record.started_at);
    }
    started.sort();
    let first = started[0];
    for (n, at) in started.iter().enumerate() {
        println!("start {n:>2} at +{} ms", (*at - first).num_milliseconds());
    }
    stop.shutdown();
    running.await??;
    Ok(())
}
