//! Task type and key limits on the embedded default (SQLite): a worker
//! with 8 slots runs a type limited to 2 at once and a type limited to 1
//! at once per tenant (the key read from the params); the tasks held back
//! stay pending in their place while others run past them.
//!
//! ```text
//! cargo run --example type_limits
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use taskq::prelude::*;

/// A heavy job: at most 2 at once, on every worker together.
#[long_task(queue = "jobs", concurrency = 2)]
async fn resize_image(n: u32) -> Result<u32, TaskError> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(n)
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Report {
    tenant: String,
}

/// A report: at most 1 at once per tenant.
#[long_task(queue = "jobs", concurrency(key = "tenant", limit = 1))]
async fn tenant_report(p: Report) -> Result<String, TaskError> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(p.tenant)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("taskq-type-limits.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let backend = taskq::SqlBackend::connect(&format!("sqlite://{}", path.display())).await?;
    let client = Client::new(Arc::new(backend))?;
    let mut ids = client.submit_many(resize_image, 0..4).await?;
    for tenant in ["acme", "acme", "globex", "acme"] {
        let report = Report {
            tenant: tenant.into(),
        };
        ids.push(client.submit(tenant_report, report).await?);
    }

    // The worker stores the declared limits at start (none is stored yet).
    let worker = Worker::builder(&client).queue("jobs", 8).build()?;
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    tokio::time::sleep(Duration::from_millis(100)).await;
    for row in client.type_limits().await? {
        println!(
            "{}: limit {:?}, key limit {:?}, {} running",
            row.task_type, row.limit, row.key_limit, row.running
        );
    }
    let mut runs = Vec::new();
    for id in &ids {
        let record = client.wait_for(*id, Duration::from_secs(30)).await?;
        runs.push(record);
    }
    let first = runs
        .iter()
        .filter_map(|r| r.started_at)
        .min()
        .unwrap_or_default();
    for r in &runs {
        let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or(0, |t| (t - first).num_milliseconds())
        };
        println!(
            "{:<14} key {:<8} ran +{:>4} ms .. +{:>4} ms",
            r.task_type,
            r.concurrency_key.as_deref().unwrap_or("-"),
            at(r.started_at),
            at(r.finished_at)
        );
    }
    stop.shutdown();
    running.await??;
    Ok(())
}
