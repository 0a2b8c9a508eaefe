//! The embedded default, end to end: tasks in a SQLite file, a worker in
//! the same process, and a table of what happened.
//!
//! ```text
//! cargo run --example quickstart
//! ```

mod demo_tasks;

use std::sync::Arc;
use std::time::Duration;

use demo_tasks::{
    AnalyzeParams, FileParams, ReportParams, data_analysis, file_processing, report_generation,
};
use taskq::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let path = std::env::temp_dir().join("taskq-quickstart.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let backend = taskq::SqlBackend::connect(&format!("sqlite://{}", path.display())).await?;
    let client = Client::new(Arc::new(backend))?;
    println!("task records in {}\n", path.display());

    let analysis = client
        .submit(
            data_analysis,
            AnalyzeParams {
                dataset: "sales-2026".into(),
                rows: 1200,
            },
        )
        .await?;
    let file = client
        .submit(
            file_processing,
            FileParams {
                path: "/data/in/orders.csv".into(),
            },
        )
        .await?;
    let report = client
        .submit(
            report_generation,
            ReportParams {
                title: "Q3 slow".into(),
                render_ms: 5_000,
            },
        )
        .await?;
    let scheduled = client
        .submit(
            report_generation,
            ReportParams {
                title: "Q3 quick".into(),
                render_ms: 50,
            },
        )
        .countdown(Duration::from_millis(800))
        .priority(9)
        .await?;
    // By name with JSON, as a REST call would: params are checked first.
    let by_name = client
        .submit_json(
            "data_analysis",
            serde_json::json!({ "dataset": "web-logs", "rows": 300 }),
        )
        .await?;
    let bad = client
        .submit_json(
            "data_analysis",
            serde_json::json!({ "dataset": "x", "rows": "many" }),
        )
        .await;
    println!("a bad submission is refused: {}\n", bad.unwrap_err());
    let cancelled = client
        .submit(
            data_analysis,
            AnalyzeParams {
                dataset: "obsolete".into(),
                rows: 1,
            },
        )
        .countdown(Duration::from_secs(3600))
        .await?;
    client.cancel(cancelled).await?;

    let worker = Worker::builder(&client)
        .queue("default", 4)
        .queue("heavy", 2)
        .poll_interval(Duration::from_millis(50))
        .build()?;
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let ids = [analysis, file, report, scheduled, by_name, cancelled];
    loop {
        let mut done = true;
        for id in ids {
            let task = client.get(id).await?;
            if !task.state.is_terminal() {
                done = false;
                if let Some(progress) = &task.progress {
                    println!(
                        "  {} {:<18} {:>3.0}%  {}",
                        short(id),
                        task.task_type,
                        progress.fraction * 100.0,
                        progress.message
                    );
                }
            }
        }
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.shutdown();
    running.await??;

    println!("\nID       TASK               STATE      ATTEMPTS   STARTED  RESULT / ERROR");
    for id in ids {
        let task = client.get(id).await?;
        let outcome = match (&task.result, &task.error) {
            (Some(result), _) => result.to_string(),
            (None, Some(error)) => format!("{}: {}", error.kind, error.message),
            (None, None) => String::new(),
        };
        // When the last attempt started, counted from submission.
        let waited = task
            .started_at
            .map(|started| format!("+{} ms", (started - task.created_at).num_milliseconds()))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<8} {:<18} {:<10} {:>8} {:>9}  {}",
            short(id),
            task.task_type,
            task.state.to_string(),
            task.attempt,
            waited,
            outcome
        );
    }
    let stats = client.queue_stats().await?;
    println!(
        "\nqueues: {}",
        stats
            .iter()
            .map(|q| format!("{} (pending {}, running {})", q.queue, q.pending, q.running))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The first characters of an id (UUIDv7s differ at the end, so the last).
fn short(id: TaskId) -> String {
    let text = id.simple().to_string();
    text[text.len() - 8..].to_owned()
}
