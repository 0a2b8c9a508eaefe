//! Backend-level throughput on SQLite: enqueue a backlog, then claim and
//! settle it the way a worker does (claim batches, settle batches), with
//! durable commits.
//!
//! ```sh
//! cargo run -p taskq-sea --example sqlite_throughput -- 20000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use taskq_core::conformance::record;
use taskq_core::{Broker, ClaimRequest, Outcome, Settlement};
use taskq_sea::SeaBackend;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jobs: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let path = std::env::temp_dir().join(format!("taskq-throughput-{}.db", std::process::id()));
    let backend = Arc::new(SeaBackend::connect(&format!("sqlite://{}", path.display())).await?);

    let start = Instant::now();
    let now = Utc::now();
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(1000) {
        let batch = chunk
            .iter()
            .map(|_| record("noop", "default", 5, now))
            .collect();
        backend.enqueue(batch).await?;
    }
    let enqueued = start.elapsed();
    println!(
        "enqueue: {jobs} in {enqueued:?} ({:.0}/s, batches of 1000)",
        jobs as f64 / enqueued.as_secs_f64()
    );

    let single = Instant::now();
    for _ in 0..200 {
        backend
            .enqueue(vec![record("noop", "single", 5, now)])
            .await?;
    }
    println!(
        "enqueue one at a time: {:.0}/s",
        200.0 / single.elapsed().as_secs_f64()
    );

    // Phases alone.
    {
        let t = Instant::now();
        let mut all = Vec::new();
        for _ in 0..5 {
            all.extend(
                backend
                    .claim(ClaimRequest {
                        queue: "default",
                        limit: 1000,
                        worker_id: "bench",
                        lease: Duration::from_secs(30),
                        now: Utc::now(),
                        task_types: None,
                    })
                    .await?,
            );
        }
        println!("claim alone: {} in {:?}", all.len(), t.elapsed());
        let t = Instant::now();
        let n = all.len();
        for chunk in all.chunks(1000) {
            backend
                .settle(
                    chunk
                        .iter()
                        .map(|task| Settlement {
                            id: task.id,
                            attempt: task.attempt,
                            outcome: Outcome::Finished(json!(null)),
                            at: Utc::now(),
                        })
                        .collect(),
                )
                .await?;
        }
        println!("settle alone: {n} in {:?}", t.elapsed());
        for _ in 0..5 {
            backend
                .enqueue(
                    (0..1000)
                        .map(|_| record("noop", "default", 5, now))
                        .collect(),
                )
                .await?;
        }
    }

    // Claim + settle pipeline: one claimer, one settler, like a worker.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Settlement>();
    let settler = {
        let backend = backend.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(1000);
            let mut settled = 0;
            while rx.recv_many(&mut batch, 1000).await > 0 {
                settled += batch.len();
                backend
                    .settle(std::mem::take(&mut batch))
                    .await
                    .expect("settle");
            }
            settled
        })
    };
    let start = Instant::now();
    let mut claimed = 0;
    let mut claims = 0;
    while claimed < jobs {
        let batch = backend
            .claim(ClaimRequest {
                queue: "default",
                limit: 1000,
                worker_id: "bench",
                lease: Duration::from_secs(30),
                now: Utc::now(),
                task_types: None,
            })
            .await?;
        claims += 1;
        claimed += batch.len();
        for task in batch {
            tx.send(Settlement {
                id: task.id,
                attempt: task.attempt,
                outcome: Outcome::Finished(json!(null)),
                at: Utc::now(),
            })?;
        }
    }
    drop(tx);
    let settled = settler.await?;
    let elapsed = start.elapsed();
    println!(
        "claim+settle: {settled} in {elapsed:?} ({:.0} jobs/s, {claims} claims)",
        settled as f64 / elapsed.as_secs_f64()
    );
    backend.connection().clone().close().await?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
    Ok(())
}
