//! `queues`: depths per queue, pause and resume.

use clap::Subcommand;
use serde_json::json;

use super::exit::{Exit, Failure};
use super::output::{self, Output};
use crate::Client;

#[derive(Debug, Subcommand)]
pub(super) enum QueuesCommand {
    /// Per queue: due, scheduled and running tasks, the pause flag, live
    /// workers, and pending tasks no live worker can run (the default).
    Stats,
    /// Stop every worker from claiming tasks of a queue; running ones go on.
    Pause {
        /// The queue's name.
        queue: String,
    },
    /// Let workers claim tasks of a paused queue again.
    Resume {
        /// The queue's name.
        queue: String,
    },
}

pub(super) async fn run(
    client: &Client,
    command: Option<QueuesCommand>,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    match command.unwrap_or(QueuesCommand::Stats) {
        QueuesCommand::Stats => stats(client, output).await,
        QueuesCommand::Pause { queue } => {
            client.pause_queue(&queue).await?;
            paused(output, &queue, true)
        }
        QueuesCommand::Resume { queue } => {
            client.resume_queue(&queue).await?;
            paused(output, &queue, false)
        }
    }
}

async fn stats(client: &Client, output: &mut Output<'_>) -> Result<Exit, Failure> {
    let stats = client.queue_stats().await?;
    output.either(&stats, |out| {
        if stats.is_empty() {
            return out.line("no queues");
        }
        let mut table = output::table(&[
            "QUEUE",
            "PENDING",
            "SCHEDULED",
            "RUNNING",
            "PAUSED",
            "WORKERS",
            "UNCLAIMABLE",
        ]);
        for queue in &stats {
            let unclaimable = if queue.unclaimable_types.is_empty() {
                queue.unclaimable.to_string()
            } else {
                let types: Vec<String> = queue
                    .unclaimable_types
                    .iter()
                    .map(|t| format!("{} {}", t.count, t.task_type))
                    .collect();
                format!("{} ({})", queue.unclaimable, types.join(", "))
            };
            table.add_row(vec![
                queue.queue.clone(),
                queue.pending.to_string(),
                queue.scheduled.to_string(),
                queue.running.to_string(),
                if queue.paused { "yes" } else { "no" }.to_owned(),
                queue.live_workers.to_string(),
                unclaimable,
            ]);
        }
        out.table(&table)
    })?;
    Ok(Exit::Ok)
}

fn paused(output: &mut Output<'_>, queue: &str, paused: bool) -> Result<Exit, Failure> {
    output.either(&json!({ "queue": queue, "paused": paused }), |out| {
        out.line(format!(
            "queue {queue} is {}",
            if paused { "paused" } else { "resumed" }
        ))
    })?;
    Ok(Exit::Ok)
}
