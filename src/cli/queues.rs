//! `queues`: depths per queue, pause, resume and limits.

use clap::Subcommand;
use serde_json::json;

use super::exit::{Exit, Failure};
use super::output::{self, Output};
use crate::Client;

#[derive(Debug, Subcommand)]
pub(super) enum QueuesCommand {
    /// Per queue: due, scheduled and running tasks, the limit, the pause flag, live
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
    /// Let at most N tasks of a queue run at once, across every worker
    /// and host (`none` lifts the limit). Applies to the next claim of
    /// every worker; running tasks over a lowered limit go on.
    Limit {
        /// The queue's name.
        queue: String,
        /// At least 1, or `none`.
        #[arg(value_name = "N|none", value_parser = parse_limit)]
        limit: Limit,
    },
}

/// A limit as typed: a number, or `none` (clap wants a named type, not a
/// bare `Option`, to parse it).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limit(Option<u32>);

fn parse_limit(text: &str) -> Result<Limit, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Limit(None));
    }
    text.parse().map(|n| Limit(Some(n))).map_err(|_| {
        format!(
            "`{text}` is neither a number from 1 to {} nor `none`",
            u32::MAX
        )
    })
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
        QueuesCommand::Limit {
            queue,
            limit: Limit(limit),
        } => {
            client.set_queue_limit(&queue, limit).await?;
            output.either(&json!({ "queue": queue, "limit": limit }), |out| {
                out.line(match limit {
                    Some(n) => format!("queue {queue} runs at most {n} at once"),
                    None => format!("queue {queue} has no limit"),
                })
            })?;
            Ok(Exit::Ok)
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
            "LIMIT",
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
                queue
                    .limit
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
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
