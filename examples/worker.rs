//! A worker process for the demo tasks — taskq's
//! `celery -A app worker -Q default,heavy --concurrency=4`:
//!
//! ```text
//! cargo run --example worker -- --database sqlite://tasks.db --queues default,heavy --concurrency 4
//! ```
//!
//! Start several against one database and they share the work. SIGTERM or
//! Ctrl-C stops claiming, lets running tasks finish (up to the grace period)
//! and returns the rest to PENDING.

mod demo_tasks;

use std::sync::Arc;
use std::time::Duration;

use taskq::prelude::*;
use taskq::worker::shutdown_signal;

const USAGE: &str = "usage: worker [--database URL] [--queues q1,q2] [--concurrency N] \
                     [--shutdown-grace SECS] [--worker-id ID]";

struct Args {
    database: String,
    queues: Vec<String>,
    concurrency: usize,
    shutdown_grace: Duration,
    worker_id: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        database: "sqlite://taskq.db".into(),
        queues: vec!["default".into()],
        concurrency: 4,
        shutdown_grace: Duration::from_secs(30),
        worker_id: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--database" | "-d" => args.database = value()?,
            "--queues" | "-Q" => {
                args.queues = value()?
                    .split(',')
                    .map(str::trim)
                    .map(String::from)
                    .collect()
            }
            "--concurrency" | "-c" => {
                args.concurrency = value()?
                    .parse()
                    .map_err(|_| format!("--concurrency takes a number\n{USAGE}"))?
            }
            "--shutdown-grace" => {
                let secs: f64 = value()?
                    .parse()
                    .map_err(|_| format!("--shutdown-grace takes seconds\n{USAGE}"))?;
                args.shutdown_grace = Duration::try_from_secs_f64(secs)
                    .map_err(|_| format!("--shutdown-grace takes seconds\n{USAGE}"))?;
            }
            "--worker-id" => args.worker_id = Some(value()?),
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };

    let backend = taskq::SqlBackend::connect(&args.database).await?;
    let client = Client::new(Arc::new(backend))?;
    let mut builder = Worker::builder(&client).shutdown_grace(args.shutdown_grace);
    for queue in &args.queues {
        builder = builder.queue(queue.clone(), args.concurrency);
    }
    if let Some(id) = args.worker_id {
        builder = builder.worker_id(id);
    }
    let worker = builder.build()?;
    println!(
        "worker {} serving {:?} ×{} on {}",
        worker.id(),
        args.queues,
        args.concurrency,
        args.database
    );
    worker.run_until(shutdown_signal()).await?;
    Ok(())
}
