//! `worker`: a worker process for the host's registered tasks, until
//! Ctrl-C, SIGTERM or an operator's `workers shutdown ID`.

use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::exit::{Exit, Failure};
use super::output::Output;
use super::values::{self, QueueSpec};
use crate::worker::shutdown_signal;
use crate::{Client, Worker};

#[derive(Debug, Args)]
pub(super) struct WorkerArgs {
    /// Queues to serve, comma-separated; `NAME=N` gives one its own
    /// concurrency (e.g. `default,heavy=1`).
    #[arg(
        short = 'Q',
        long,
        value_delimiter = ',',
        default_value = "default",
        value_parser = values::queue_spec,
        value_name = "QUEUES"
    )]
    queues: Vec<QueueSpec>,
    /// Tasks run at once per queue, unless the queue names its own.
    #[arg(short = 'c', long, default_value_t = 4)]
    concurrency: usize,
    /// This worker's id in records and `workers list` [default: host, pid
    /// and a random suffix].
    #[arg(long, value_name = "ID")]
    worker_id: Option<String>,
    /// At shutdown, how long running tasks may go on before they are
    /// returned to PENDING [default: 30s].
    #[arg(long, value_parser = values::duration, value_name = "DURATION")]
    shutdown_grace: Option<Duration>,
}

pub(super) async fn run(
    client: &Client,
    args: WorkerArgs,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let mut builder = Worker::builder(client);
    let mut queues = Vec::new();
    for queue in args.queues {
        let concurrency = queue.concurrency.unwrap_or(args.concurrency);
        queues.push(json!({ "name": queue.name, "concurrency": concurrency }));
        builder = builder.queue(queue.name, concurrency);
    }
    if let Some(id) = args.worker_id {
        builder = builder.worker_id(id);
    }
    if let Some(grace) = args.shutdown_grace {
        builder = builder.shutdown_grace(grace);
    }
    let worker = builder.build()?;
    let id = worker.id().to_owned();
    let mut task_types: Vec<&str> = client.registry().iter().map(|def| def.name).collect();
    task_types.sort_unstable();
    let started = json!({ "worker": id, "queues": queues, "task_types": task_types });
    output.either(&started, |out| {
        let queues: Vec<String> = queues
            .iter()
            .map(|q| {
                format!(
                    "{}×{}",
                    q["name"].as_str().unwrap_or_default(),
                    q["concurrency"]
                )
            })
            .collect();
        out.line(format!(
            "worker {id} serving {} for {} task type{}: {}",
            queues.join(", "),
            task_types.len(),
            if task_types.len() == 1 { "" } else { "s" },
            task_types.join(", ")
        ))
    })?;
    worker.run_until(shutdown_signal()).await?;
    output.either(&json!({ "worker": id, "stopped": true }), |out| {
        out.line(format!("worker {id} stopped"))
    })?;
    Ok(Exit::Ok)
}
