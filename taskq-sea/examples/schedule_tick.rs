//! What one scheduler tick costs with many stored schedules of which a few
//! are due: the due-index reads (proportional to the due schedules, not to
//! all of them) and the firings (one durable write transaction for all of
//! a tick's firings).
//!
//! ```sh
//! cargo run --release -p taskq-sea --example schedule_tick -- 100000 5
//! # PostgreSQL (a fresh schema on that server, dropped at the end):
//! cargo run --release -p taskq-sea --features postgres --example schedule_tick -- \
//!     100000 5 postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! A PostgreSQL or MySQL URL names the server; the example works in a
//! scratch schema / database of its own ([`taskq_sea::scratch`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, TransactionTrait};
use taskq_core::conformance::{SCHEDULED_TASK, schedule_client};
use taskq_core::schedule::{Schedule, ScheduleDef};
use taskq_core::{Backend, Scheduler};
use taskq_sea::SeaBackend;
use taskq_sea::entity::schedule;
use taskq_sea::scratch::{self, Scratch};

const ROUNDS: u32 = 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let due: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let path = std::env::temp_dir().join(format!("taskq-schedule-tick-{}.db", std::process::id()));
    let server = args.next();
    let scratch = match server.as_deref() {
        Some(url) if url.starts_with("postgres") => {
            Some(Scratch::create(scratch::Server::Postgres, url).await?)
        }
        Some(url) if url.starts_with("mysql") => {
            Some(Scratch::create(scratch::Server::Mysql, url).await?)
        }
        Some(url) => return Err(format!("not a PostgreSQL or MySQL URL: {url}").into()),
        None => None,
    };
    let url = scratch.as_ref().map_or_else(
        || format!("sqlite://{}", path.display()),
        |s| s.url().to_owned(),
    );
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

    let db = sea.connection().clone();
    let backend: Arc<dyn Backend> = Arc::new(sea);
    let client = schedule_client(backend.clone());
    let scheduler = Scheduler::new(&client);
    let (mut reads, mut ticks, mut commits) = (Vec::new(), Vec::new(), Vec::new());
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
        reads.push(t.elapsed());
        assert_eq!(found.len(), due);
        // A whole tick: the reads, and the firings with their tasks.
        let t = Instant::now();
        let report = scheduler.tick(tick_at).await?;
        backend.next_schedule_due().await?;
        ticks.push(t.elapsed());
        assert_eq!(report.fired, due);
        // The floor under any tick that fires: one durable commit of a
        // one-row write on this server.
        let t = Instant::now();
        let txn = db.begin().await?;
        schedule::Entity::update_many()
            .col_expr(
                schedule::Column::RunCount,
                Expr::col(schedule::Column::RunCount),
            )
            .filter(schedule::Column::Name.eq("s0000000"))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        commits.push(t.elapsed());
    }
    println!(
        "{total} schedules, {due} due ({ROUNDS} rounds, {} build; median / mean):\n  \
         finding them (due range + next due): {:?} / {:?}\n  \
         whole tick (reads + {due} firings in one durable transaction): {:?} / {:?}\n  \
         for reference, a one-row durable commit on this server: {:?} / {:?}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        median(&mut reads),
        mean(&reads),
        median(&mut ticks),
        mean(&ticks),
        median(&mut commits),
        mean(&commits),
    );
    match scratch {
        Some(scratch) => scratch.drop_now().await?,
        None => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
    Ok(())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / u32::try_from(samples.len().max(1)).unwrap_or(u32::MAX)
}
