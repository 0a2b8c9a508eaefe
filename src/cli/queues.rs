//! `queues`: depths per queue, pause, resume, limits, rate limits and
//! fairness and fair weights.

use clap::Subcommand;
use serde_json::json;

use chrono::Utc;

use super::exit::{Exit, Failure};
use super::output::{self, Output};
use super::values;
use crate::{Client, QueueStats, RateLimit};

#[derive(Debug, Subcommand)]
pub(super) enum QueuesCommand {
    /// Per queue: due, scheduled and running tasks, the limit, the rate limit
    /// (and how long it still holds the queue back), fairness, the pause flag, live
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
    /// Let at most N tasks of a queue start per period, across every
    /// worker and host (`none` lifts it): a token bucket of N, e.g.
    /// `100/1m`, `5/1s`, `10000/1d`. Applies to the next claim of every
    /// worker; held-back tasks stay pending.
    RateLimit {
        /// The queue's name.
        queue: String,
        /// N/PERIOD (N at least 1; PERIOD from 1ms to 366d), or `none`.
        #[arg(value_name = "N/PERIOD|none", value_parser = parse_rate)]
        rate: Rate,
    },
    /// Make a queue fair (`on`) or not (`off`): its concurrency keys take
    /// turns among equal priority, so one key's backlog does not delay
    /// another key's tasks. Tasks submitted from now on get their turns.
    Fair {
        /// The queue's name.
        queue: String,
        /// `on` or `off`.
        #[arg(value_name = "on|off", value_parser = parse_on_off, action = clap::ArgAction::Set)]
        fair: bool,
    },
    /// Give a concurrency key of a fair queue a weight: a key of weight 3
    /// takes three turns to a weight-1 key's one (1 to 1000; `default`:
    /// back to 1). Applies to the tasks submitted from now on.
    FairWeight {
        /// The queue's name.
        queue: String,
        /// The concurrency key.
        key: String,
        /// 1 to 1000, or `default`.
        #[arg(value_name = "W|default", value_parser = parse_weight)]
        weight: Weight,
    },
    /// List the weights set for a queue's concurrency keys.
    FairWeights {
        /// The queue's name.
        queue: String,
    },
}

/// A fair weight as typed: a number, or `default` (`None`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Weight(Option<u32>);

/// `default` or a whole number (its range is the backend's check).
fn parse_weight(text: &str) -> Result<Weight, String> {
    if text == "default" {
        return Ok(Weight(None));
    }
    text.parse()
        .map(|w| Weight(Some(w)))
        .map_err(|_| format!("`{text}` is neither a whole number nor `default`"))
}

/// `on` or `off`, as typed.
fn parse_on_off(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("`{text}` is neither `on` nor `off`")),
    }
}

/// A rate limit as typed: `N/PERIOD`, or `none`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rate(pub(super) Option<RateLimit>);

pub(super) fn parse_rate(text: &str) -> Result<Rate, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Rate(None));
    }
    let (starts, period) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is neither N/PERIOD (e.g. 100/1m) nor `none`"))?;
    let starts = starts
        .trim()
        .parse()
        .map_err(|_| format!("`{starts}` is not a number from 1 to {}", u32::MAX))?;
    let period = values::duration(period)?;
    let limit = RateLimit::new(starts, period);
    // Checked here too, so a bad one is a usage error before any call.
    limit.check().map_err(|err| err.to_string())?;
    Ok(Rate(Some(limit)))
}

/// A rate limit as the table shows it: `100/1m`, and how long it still
/// holds the queue back.
fn rate_cell(queue: &QueueStats) -> String {
    rate_text(queue.rate_limit, queue.rate_held_until)
}

/// `100/1m`, with `,held:5s` while held back until `held_until`; `-`
/// without a limit.
pub(super) fn rate_text(
    limit: Option<RateLimit>,
    held_until: Option<chrono::DateTime<Utc>>,
) -> String {
    let Some(limit) = limit else {
        return "-".to_owned();
    };
    let rate = format!("{}/{}", limit.starts, output::duration(limit.period));
    match held_until {
        Some(until) => {
            let left = (until - Utc::now()).to_std().unwrap_or_default();
            format!("{rate},held:{}", output::duration(left))
        }
        None => rate,
    }
}

/// A limit as typed: a number, or `none` (clap wants a named type, not a
/// bare `Option`, to parse it).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limit(pub(super) Option<u32>);

pub(super) fn parse_limit(text: &str) -> Result<Limit, String> {
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
        QueuesCommand::RateLimit {
            queue,
            rate: Rate(limit),
        } => {
            client.set_queue_rate_limit(&queue, limit).await?;
            output.either(&json!({ "queue": queue, "rate_limit": limit }), |out| {
                out.line(match limit {
                    Some(limit) => format!(
                        "queue {queue} starts at most {} per {}",
                        limit.starts,
                        output::duration(limit.period)
                    ),
                    None => format!("queue {queue} has no rate limit"),
                })
            })?;
            Ok(Exit::Ok)
        }
        QueuesCommand::Fair { queue, fair } => {
            client.set_queue_fair(&queue, fair).await?;
            output.either(&json!({ "queue": queue, "fair": fair }), |out| {
                out.line(if fair {
                    format!("queue {queue} is fair: its keys take turns")
                } else {
                    format!("queue {queue} is not fair")
                })
            })?;
            Ok(Exit::Ok)
        }
        QueuesCommand::FairWeight {
            queue,
            key,
            weight: Weight(weight),
        } => {
            client.set_fair_weight(&queue, &key, weight).await?;
            let shown = weight.unwrap_or(crate::backend::lifecycle::DEFAULT_FAIR_WEIGHT);
            output.either(
                &json!({ "queue": queue, "key": key, "weight": shown }),
                |out| out.line(format!("key {key} of queue {queue} has weight {shown}")),
            )?;
            Ok(Exit::Ok)
        }
        QueuesCommand::FairWeights { queue } => {
            let weights = client.fair_weights(&queue).await?;
            output.either(&json!({ "queue": queue, "weights": weights }), |out| {
                if weights.is_empty() {
                    return out.line(format!("queue {queue}: every key has weight 1"));
                }
                for w in &weights {
                    out.line(format!("{}\t{}", w.key, w.weight))?;
                }
                Ok(())
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
            "RATE",
            "FAIR",
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
                rate_cell(queue),
                if queue.fair { "yes" } else { "no" }.to_owned(),
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
