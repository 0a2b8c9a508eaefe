//! What one reconciler sweep of SQL records with Redis delivery
//! (`SqlRedisBackend`) costs over a large backlog of pending tasks,
//! printed as figures: the sweep every worker makes periodically (Redis
//! holds every task; nothing to push) and the one after Redis lost its
//! data (every task pushed back).
//!
//! ```text
//! # SQLite records (a temp file), 100k pending tasks:
//! TASKQ_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo run --example redis_sweep --features redis -- sqlite -n 100000
//! # PostgreSQL records (a fresh schema, dropped at the end):
//! TASKQ_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//! TASKQ_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --example redis_sweep --features redis,postgres -- postgres
//! ```
//!
//! Besides the wall time it prints what Redis received during each sweep
//! (`INFO stats`: commands processed, bytes in): exact on a private
//! `redis-server`, inflated by other clients' traffic on a shared one.
//! Keys live under a fresh prefix, deleted at the end.

use std::time::Instant;

use chrono::Utc;
use fred::prelude::*;
use fred::types::{ClusterHash, CustomCommand};
use taskq::backend::Broker;
use taskq::{RedisBackend, RedisConfig, SqlBackend, SqlRedisBackend};
use taskq_core::conformance::record;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let store = args.first().map_or("sqlite", String::as_str).to_owned();
    let n: usize = match args.iter().position(|a| a == "-n") {
        Some(i) => args.get(i + 1).ok_or("-n needs a number")?.parse()?,
        None => 100_000,
    };
    let redis_url = std::env::var("TASKQ_TEST_REDIS_URL")
        .map_err(|_| "set TASKQ_TEST_REDIS_URL (a private server gives exact counts)")?;

    let mut scratch = None;
    let sql = match store.as_str() {
        "sqlite" => {
            let path = std::env::temp_dir().join(format!(
                "taskq-sweep-{}-{}.db",
                std::process::id(),
                Utc::now().timestamp_micros()
            ));
            SqlBackend::connect(&format!("sqlite://{}", path.display())).await?
        }
        "postgres" | "mysql" => {
            let server = if store == "postgres" {
                taskq::sea::scratch::Server::Postgres
            } else {
                taskq::sea::scratch::Server::Mysql
            };
            if std::env::var(server.env_var()).is_err() {
                return Err(format!("set {}", server.env_var()).into());
            }
            let made = taskq::sea::scratch::Scratch::from_env(server).await?;
            let backend = SqlBackend::connect(made.url()).await?;
            scratch = Some(made);
            backend
        }
        other => return Err(format!("unknown store `{other}` (sqlite, postgres, mysql)").into()),
    };
    let mut config = RedisConfig::new(&redis_url);
    config.prefix = format!("taskq-sweep-{}", std::process::id());
    config.delete_keys_on_drop = true;
    let backend = SqlRedisBackend::new(sql, RedisBackend::connect_with(config).await?).await?;

    let stats = Builder::from_config(Config::from_url(&redis_url)?).build()?;
    stats.init().await?;

    let filling = Instant::now();
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let mut left = n;
    while left > 0 {
        let batch = left.min(1000);
        let tasks = (0..batch)
            .map(|i| {
                let queue = if i % 2 == 0 { "a" } else { "b" };
                record("t", queue, 0, t0 + chrono::Duration::microseconds(i as i64))
            })
            .collect();
        backend.enqueue(tasks).await?;
        left -= batch;
    }
    println!(
        "{store}: {n} pending tasks in two queues, filled in {:.1} s",
        filling.elapsed().as_secs_f64()
    );

    for round in 1..=3 {
        let before = redis_counters(&stats).await?;
        let start = Instant::now();
        let report = backend.reconcile_pass(true).await?;
        let took = start.elapsed();
        let after = redis_counters(&stats).await?;
        println!(
            "  sweep {round}, Redis holds every task: {:.3} s, pushed {}, \
             Redis received {} commands, {} bytes",
            took.as_secs_f64(),
            report.restored,
            after.0 - before.0,
            after.1 - before.1,
        );
    }

    backend.redis().delete_all_keys().await?;
    let before = redis_counters(&stats).await?;
    let start = Instant::now();
    let report = backend.reconcile_pass(false).await?;
    let took = start.elapsed();
    let after = redis_counters(&stats).await?;
    println!(
        "  sweep after Redis lost everything: {:.3} s, pushed {}, \
         Redis received {} commands, {} bytes",
        took.as_secs_f64(),
        report.restored,
        after.0 - before.0,
        after.1 - before.1,
    );

    let _ = stats.quit().await;
    drop(backend);
    if let Some(scratch) = scratch {
        scratch.drop_now().await?;
    }
    Ok(())
}

/// Redis's `total_commands_processed` and `total_net_input_bytes`.
async fn redis_counters(client: &Client) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let info: String = client
        .custom(
            CustomCommand::new_static("INFO", ClusterHash::Random, false),
            vec!["stats"],
        )
        .await?;
    let field = |name: &str| -> Result<u64, Box<dyn std::error::Error>> {
        let line = info
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .ok_or_else(|| format!("INFO stats has no {name}"))?;
        Ok(line.trim().parse()?)
    };
    Ok((
        field("total_commands_processed")?,
        field("total_net_input_bytes")?,
    ))
}
