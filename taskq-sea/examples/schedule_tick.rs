//! What one scheduler tick costs on SQLite with many stored schedules of
//! which a few are due: the due-index reads (proportional to the due
//! schedules, not to all of them) and the firings (one durable write
//! transaction for all of a tick's firings).
//!
//! ```sh
//! cargo run -p taskq-sea --example schedule_tick -- 100000 5
//! ```
//!
//! With `TASKQ_TEST_POSTGRES_URL` set and feature `postgres`, pass the URL
//! as the third argument to measure PostgreSQL instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{EntityTrait, IntoActiveModel, TransactionTrait};
use taskq_core::conformance::{SCHEDULED_TASK, schedule_client};
use taskq_core::schedule::{Schedule, ScheduleDef};
use taskq_core::{Backend, Scheduler};
use taskq_sea::SeaBackend;
use taskq_sea::entity::schedule;

const ROUNDS: u32 = 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let due: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let path = std::env::temp_dir().join(format!("taskq-schedule-tick-{}.db", std::process::id()));
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", path.display()));
    let sea = SeaBackend::connect(&url).await?;

    // Store the schedules in bulk: every minute, next run a day away.
    let now = Utc::now();
    let start = Instant::now();
    let txn = sea.connection().begin().await?;
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        let rows = chunk.iter().map(|i| {
            let mut s = Schedule::new(
                ScheduleDef::cron(format!("s{i:07}"), SCHEDULED_TASK.name, "* * * * *"),
                now,
            )
            .expect("valid");
            s.next_run_at = Some(now + chrono::Duration::days(1));
            schedule::Model::from(&s).into_active_model()
        });
        schedule::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    println!("stored {total} schedules in {:?}", start.elapsed());

    let backend: Arc<dyn Backend> = Arc::new(sea);
    let client = schedule_client(backend.clone());
    let scheduler = Scheduler::new(&client);
    let (mut reads, mut ticks) = (Duration::ZERO, Duration::ZERO);
    for round in 0..ROUNDS {
        // Make `due` of them due (spread over the table).
        let tick_at = Utc::now();
        for k in 0..due {
            let name = format!("s{:07}", (k * total / due.max(1) + round as usize) % total);
            let mut s = backend.get_schedule(&name).await?.expect("stored");
            s.next_run_at = Some(tick_at - chrono::Duration::seconds(1));
            backend.update_schedule(&s).await?;
        }
        // The reads a tick does whatever fires: due range + next due.
        let t = Instant::now();
        let found = backend.due_schedules(tick_at, 100).await?;
        backend.next_schedule_due().await?;
        reads += t.elapsed();
        assert_eq!(found.len(), due);
        // A whole tick: the reads, and the firings with their tasks.
        let t = Instant::now();
        let report = scheduler.tick(tick_at).await?;
        backend.next_schedule_due().await?;
        ticks += t.elapsed();
        assert_eq!(report.fired, due);
    }
    println!(
        "{total} schedules, {due} due: finding them (due range + next due) {:?}/tick; \
         whole tick: reads + {due} firings in one durable transaction {:?}/tick \
         (mean of {ROUNDS}, {} build)",
        reads / ROUNDS,
        ticks / ROUNDS,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    if url.starts_with("sqlite:") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    Ok(())
}
