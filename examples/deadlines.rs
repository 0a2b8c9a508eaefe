//! Snoozes and deadlines on the embedded default (SQLite): a handler that
//! waits for something slow by snoozing (no attempt spent), one that
//! snoozes past its bound and fails saying so, and a task whose deadline
//! to start passes while its queue is paused: it ends `EXPIRED`, never
//! run.
//!
//! ```text
//! cargo run --example deadlines
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use taskq::prelude::*;
use taskq::{ErrorKind, MaintenanceConfig, TaskFilter};

/// Polls of the export service so far: ready at the third.
static POLLS: AtomicU32 = AtomicU32::new(0);

/// Waits for an export to be ready without holding a worker slot or
/// spending a retry: not ready yet, it snoozes for 100 ms.
#[long_task(retries = 0, max_snoozes = 10)]
async fn fetch_export(ctx: TaskContext, export: String) -> Result<String, TaskError> {
    if POLLS.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(TaskError::snooze(Duration::from_millis(100)));
    }
    Ok(format!(
        "{export}: ready after {} snoozes, attempt {}",
        ctx.snoozes(),
        ctx.attempt()
    ))
}

/// Never ready: snoozes until its bound (3) fails it.
#[long_task(max_snoozes = 3)]
async fn wait_forever(_ctx: TaskContext, _unit: ()) -> Result<(), TaskError> {
    Err(TaskError::snooze(Duration::from_millis(20)))
}

/// A login code is worth sending for a short while, or not at all.
#[long_task(queue = "codes")]
async fn send_code(user: u64) -> Result<String, TaskError> {
    Ok(format!("code sent to user {user}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("taskq-deadlines.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let backend = taskq::SqlBackend::connect(&format!("sqlite://{}", path.display())).await?;
    let client = Client::new(Arc::new(backend))?;
    let worker = Worker::builder(&client)
        .queue("default", 4)
        .queue("codes", 1)
        // Look for overdue tasks often, for the demo (the default is 5 s).
        .maintenance(MaintenanceConfig {
            expire_interval: Duration::from_millis(100),
            ..MaintenanceConfig::default()
        })
        .build()?;
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    let wait = Duration::from_secs(30);

    // Snoozes: one attempt, two snoozes.
    let export = client
        .submit(fetch_export, "invoices.csv".to_owned())
        .await?;
    println!(
        "{}",
        client
            .wait_for(export, wait)
            .await?
            .result_as::<String>()?
            .unwrap_or_default()
    );
    let record = client.get(export).await?;
    assert_eq!((record.attempt, record.snoozes), (1, 2));

    // Past its bound: FAILED, and the error says why.
    let forever = client.submit(wait_forever, ()).await?;
    match client.wait_for(forever, wait).await {
        Err(Error::TaskFailed { state, failure, .. }) => {
            assert_eq!(failure.kind, ErrorKind::SnoozeLimit);
            println!("wait_forever ended {state}: {}", failure.message);
        }
        other => panic!("expected a snooze limit, got {other:?}"),
    }

    // A deadline in the past is refused, and nothing is stored.
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let refused = client.submit(send_code, 7).expires_at(past).await;
    println!("deadline in the past: {}", refused.unwrap_err());

    // The deadline passes while the queue is paused: EXPIRED, never run.
    client.pause_queue("codes").await?;
    let code = client
        .submit(send_code, 7)
        .expires_in(Duration::from_millis(300))
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.resume_queue("codes").await?;
    match client.wait_for(code, wait).await {
        Err(Error::TaskFailed { state, failure, .. }) => {
            assert_eq!(state, TaskState::Expired);
            println!("send_code ended {state}: {}", failure.message);
        }
        other => panic!("expected EXPIRED, got {other:?}"),
    }
    let expired = client
        .list(
            &TaskFilter {
                state: Some(TaskState::Expired),
                ..TaskFilter::default()
            },
            Default::default(),
        )
        .await?;
    println!(
        "{} expired task(s); a retry would run it without a deadline",
        expired.total
    );

    stop.shutdown();
    running.await??;
    Ok(())
}
