//! A task's history and labels on the embedded default (SQLite): a task
//! submitted with tags and metadata fails twice and finishes on its third
//! attempt; its record keeps each attempt (worker, start, duration,
//! outcome, error), and a list by tag finds it.
//!
//! ```text
//! cargo run --example history
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use taskq::TaskFilter;
use taskq::prelude::*;

static RUNS: AtomicU32 = AtomicU32::new(0);

/// Charges an invoice; the payment provider is flaky twice.
#[long_task(retries = 3, retry_delay = 0.2, jitter = 0.0)]
async fn charge_invoice(invoice: u64) -> Result<String, TaskError> {
    if RUNS.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(TaskError::retryable("payment provider timed out"));
    }
    Ok(format!("invoice {invoice} charged"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("taskq-history.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let backend = taskq::SqlBackend::connect(&format!("sqlite://{}", path.display())).await?;
    let client = Client::new(Arc::new(backend))?;
    let worker = Worker::builder(&client)
        .queue("default", 2)
        .worker_id("example-worker")
        .build()?;
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let id = client
        .submit(charge_invoice, 1042)
        .tags(["billing", "customer:acme"])
        .metadata(serde_json::json!({ "requested_by": "ops", "ticket": 7 }))
        .await?;
    let record = client.wait_for(id, Duration::from_secs(30)).await?;
    println!("{}", record.result.clone().unwrap_or_default());
    println!(
        "tags {:?}, metadata {}",
        record.tags,
        serde_json::Value::Object(record.metadata.clone())
    );
    println!(
        "{:<3} {:<15} {:>9}  {:<9} error",
        "#", "worker", "duration", "outcome"
    );
    for attempt in &record.attempts {
        let duration = attempt.duration().map_or(0, |d| d.num_milliseconds());
        let error = attempt
            .error
            .as_ref()
            .map_or(String::new(), |e| format!("{}: {}", e.kind, e.message));
        println!(
            "{:<3} {:<15} {:>7}ms  {:<9} {error}",
            attempt.attempt,
            attempt.worker_id.as_deref().unwrap_or("-"),
            duration,
            attempt.outcome.as_str(),
        );
    }
    assert_eq!(record.attempts.len(), 3);

    let filter = TaskFilter {
        tags: vec!["customer:acme".into()],
        ..TaskFilter::default()
    };
    let tagged = client.list(&filter, Default::default()).await?;
    println!("{} task(s) tagged customer:acme", tagged.total);

    // Metadata: a top-level key equal to a value of the same JSON type
    // (the number 7 here; `"7"`, a string, would not match).
    let filter = TaskFilter {
        metadata: [("ticket".to_owned(), serde_json::json!(7))].into(),
        ..TaskFilter::default()
    };
    let ticket = client.list(&filter, Default::default()).await?;
    println!("{} task(s) with ticket 7", ticket.total);
    assert_eq!(ticket.total, 1);

    stop.shutdown();
    running.await??;
    Ok(())
}
