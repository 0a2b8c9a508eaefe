//! Schedules, end to end on SQLite: a one-off, an interval and a cron
//! schedule created at runtime, one declared in code next to its handler,
//! enabling, disabling and "run now" — with a worker firing them for a few
//! seconds and printing what ran.
//!
//! ```text
//! cargo run --example schedules
//! ```
//!
//! Every worker runs a scheduler: it sleeps until the next due schedule,
//! fires it (exactly once per tick, however many workers share the
//! database) and submits the task like any other.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use taskq::prelude::*;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    /// What to print.
    pub text: String,
}

/// Prints its note with the time it runs at.
#[long_task]
async fn print_note(note: Note) -> Result<String, TaskError> {
    println!(
        "  {}  ran: {}",
        Utc::now().format("%H:%M:%S%.3f"),
        note.text
    );
    Ok(note.text)
}

/// Declared in code: every 3 seconds with these params, upserted by name
/// (`heartbeat`) when the worker's scheduler starts — the params are
/// checked against `Note` when the worker is built.
#[long_task(every = "3s", params = r#"{"text": "heartbeat (declared in code)"}"#)]
async fn heartbeat(note: Note) -> Result<String, TaskError> {
    println!(
        "  {}  ran: {}",
        Utc::now().format("%H:%M:%S%.3f"),
        note.text
    );
    Ok(note.text)
}

fn note(text: &str) -> serde_json::Value {
    serde_json::json!({ "text": text })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("taskq-schedules-example.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let backend = taskq::SqlBackend::connect(&format!("sqlite://{}", path.display())).await?;
    let client = Client::new(Arc::new(backend))?;
    let task = print_note.name();

    // Once, two seconds from now.
    client
        .create_schedule(
            ScheduleDef::once(
                "in-two-seconds",
                task,
                Utc::now() + chrono::Duration::seconds(2),
            )
            .params(note("once, two seconds after start")),
        )
        .await?;
    // Every two seconds, at most three times.
    client
        .create_schedule(
            ScheduleDef::interval("every-two-seconds", task, Duration::from_secs(2))
                .params(note("interval, every 2 s (max 3 runs)"))
                .max_runs(3),
        )
        .await?;
    // Cron, 6 fields (seconds first): every 5 seconds, in a time zone.
    client
        .create_schedule(
            ScheduleDef::cron_in("every-five-seconds", task, "*/5 * * * * *", "Europe/Paris")
                .params(note("cron */5 s, Europe/Paris")),
        )
        .await?;
    // Created disabled: stored, but it does not fire until enabled.
    client
        .create_schedule(
            ScheduleDef::interval("enabled-later", task, Duration::from_secs(1))
                .params(note("enabled after 4 s, disabled after 6 s"))
                .enabled(false),
        )
        .await?;
    // Bad input is a typed error, and nothing is stored.
    let bad = client
        .create_schedule(ScheduleDef::cron("bad", task, "61 * * * *"))
        .await;
    println!(
        "an invalid cron expression is refused: {}",
        bad.unwrap_err()
    );

    let worker = Worker::builder(&client).queue("default", 4).build()?;
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    println!("worker started at {}\n", Utc::now().format("%H:%M:%S%.3f"));

    tokio::time::sleep(Duration::from_secs(1)).await;
    // Run now: submits the task at once and records it like a firing.
    let id = client.run_schedule_now("every-five-seconds").await?;
    println!("  run now: every-five-seconds -> task {id}");

    tokio::time::sleep(Duration::from_secs(3)).await;
    client.enable_schedule("enabled-later").await?;
    println!("  enabled: enabled-later");
    tokio::time::sleep(Duration::from_secs(2)).await;
    client.disable_schedule("enabled-later").await?;
    println!("  disabled: enabled-later");
    tokio::time::sleep(Duration::from_secs(3)).await;

    shutdown.shutdown();
    running.await??;

    println!("\nSCHEDULE            ENABLED  RUNS  LAST RUN      NEXT RUN");
    let page = client.list_schedules(Default::default()).await?;
    for schedule in page.items {
        let time = |t: Option<chrono::DateTime<Utc>>| {
            t.map_or_else(|| "-".to_owned(), |t| t.format("%H:%M:%S").to_string())
        };
        println!(
            "{:<19} {:<8} {:>4}  {:<12}  {}",
            schedule.def.name,
            schedule.def.enabled,
            schedule.run_count,
            time(schedule.last_run_at),
            time(schedule.next_run_at),
        );
    }
    Ok(())
}
