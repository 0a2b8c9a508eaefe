//! `types`: task type limits, key limits and rate limits, and the running
//! tasks and held buckets they count.

use clap::Subcommand;
use serde_json::json;

use super::exit::{Exit, Failure};
use super::output::{self, Output};
use super::queues::{Limit, Rate, parse_limit, parse_rate, rate_text};
use crate::Client;

#[derive(Debug, Subcommand)]
pub(super) enum TypesCommand {
    /// Per task type this binary registers: its stored limit, the limit
    /// it declares (`#[long_task(concurrency = n)]`) and, while it has a
    /// limit, its running tasks (the default).
    Stats,
    /// Let at most N tasks of a type run at once, across every worker,
    /// host and queue (`none` lifts the limit; on Redis it counts per
    /// queue). Applies to the next claim of every worker; running tasks
    /// over a lowered limit go on.
    Limit {
        /// The task type's name.
        task_type: String,
        /// At least 1, or `none`.
        #[arg(value_name = "N|none", value_parser = parse_limit)]
        limit: Limit,
    },
    /// Let at most N tasks of a type with one concurrency key run at
    /// once, for every key apart (`none` lifts it).
    KeyLimit {
        /// The task type's name.
        task_type: String,
        /// At least 1, or `none`.
        #[arg(value_name = "N|none", value_parser = parse_limit)]
        limit: Limit,
    },
    /// Let at most N tasks of a type start per period, across every
    /// worker, host and queue (`none` lifts it; on Redis it counts per
    /// queue): a token bucket of N, e.g. `100/1m`. Held-back tasks stay
    /// pending; the queue's other types are claimed past them.
    RateLimit {
        /// The task type's name.
        task_type: String,
        /// N/PERIOD (N at least 1; PERIOD from 1ms to 366d), or `none`.
        #[arg(value_name = "N/PERIOD|none", value_parser = parse_rate)]
        rate: Rate,
    },
    /// Let at most N tasks of a type with one concurrency key start per
    /// period, each key its own bucket (`none` lifts it).
    KeyRateLimit {
        /// The task type's name.
        task_type: String,
        /// N/PERIOD (N at least 1; PERIOD from 1ms to 366d), or `none`.
        #[arg(value_name = "N/PERIOD|none", value_parser = parse_rate)]
        rate: Rate,
    },
}

pub(super) async fn run(
    client: &Client,
    command: Option<TypesCommand>,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    match command.unwrap_or(TypesCommand::Stats) {
        TypesCommand::Stats => stats(client, output).await,
        TypesCommand::Limit {
            task_type,
            limit: Limit(limit),
        } => {
            client.set_type_limit(&task_type, limit).await?;
            output.either(&json!({ "task_type": task_type, "limit": limit }), |out| {
                out.line(match limit {
                    Some(n) => format!("task type {task_type} runs at most {n} at once"),
                    None => format!("task type {task_type} has no limit"),
                })
            })?;
            Ok(Exit::Ok)
        }
        TypesCommand::KeyLimit {
            task_type,
            limit: Limit(limit),
        } => {
            client.set_key_limit(&task_type, limit).await?;
            output.either(
                &json!({ "task_type": task_type, "key_limit": limit }),
                |out| {
                    out.line(match limit {
                        Some(n) => {
                            format!("task type {task_type} runs at most {n} at once per key")
                        }
                        None => format!("task type {task_type} has no key limit"),
                    })
                },
            )?;
            Ok(Exit::Ok)
        }
        TypesCommand::RateLimit {
            task_type,
            rate: Rate(limit),
        } => {
            client.set_type_rate_limit(&task_type, limit).await?;
            let json = json!({ "task_type": task_type, "rate_limit": limit });
            output.either(&json, |out| {
                out.line(match limit {
                    Some(limit) => format!(
                        "task type {task_type} starts at most {} per {}",
                        limit.starts,
                        output::duration(limit.period)
                    ),
                    None => format!("task type {task_type} has no rate limit"),
                })
            })?;
            Ok(Exit::Ok)
        }
        TypesCommand::KeyRateLimit {
            task_type,
            rate: Rate(limit),
        } => {
            client.set_key_rate_limit(&task_type, limit).await?;
            let json = json!({ "task_type": task_type, "key_rate_limit": limit });
            output.either(&json, |out| {
                out.line(match limit {
                    Some(limit) => format!(
                        "task type {task_type} starts at most {} per {} per key",
                        limit.starts,
                        output::duration(limit.period)
                    ),
                    None => format!("task type {task_type} has no key rate limit"),
                })
            })?;
            Ok(Exit::Ok)
        }
    }
}

async fn stats(client: &Client, output: &mut Output<'_>) -> Result<Exit, Failure> {
    let stored = client.type_limits().await?;
    let mut names: Vec<&str> = client.registry().iter().map(|def| def.name).collect();
    for row in &stored {
        if !names.contains(&row.task_type.as_str()) {
            names.push(&row.task_type);
        }
    }
    names.sort_unstable();
    let rows: Vec<serde_json::Value> = names
        .iter()
        .map(|name| {
            let row = stored.iter().find(|row| row.task_type == *name);
            let declared = client
                .registry()
                .get(name)
                .and_then(|def| def.concurrency.limit);
            json!({
                "task_type": name,
                "limit": row.and_then(|row| row.limit),
                "declared_limit": declared,
                "key_limit": row.and_then(|row| row.key_limit),
                "running": row.map(|row| row.running),
                "running_keys": row.filter(|row| row.key_limit.is_some()).map(|row| row.running_keys),
                "top_keys": row.filter(|row| row.key_limit.is_some()).map(|row| &row.top_keys),
                "rate_limit": row.and_then(|row| row.rate_limit),
                "rate_held_until": row.and_then(|row| row.rate_held_until),
                "key_rate_limit": row.and_then(|row| row.key_rate_limit),
                "held_keys": row.filter(|row| row.key_rate_limit.is_some()).map(|row| row.held_keys),
                "rate": rate_text(row.and_then(|row| row.rate_limit), row.and_then(|row| row.rate_held_until)),
                "key_rate": key_rate_text(row),
            })
        })
        .collect();
    output.either(&rows, |out| {
        if rows.is_empty() {
            return out.line("no task types");
        }
        let mut table = output::table(&[
            "TYPE",
            "LIMIT",
            "DECLARED",
            "KEY LIMIT",
            "RUNNING",
            "RUNNING BY KEY",
            "RATE",
            "KEY RATE",
        ]);
        let cell = |value: &serde_json::Value| match value {
            serde_json::Value::Null => "-".to_owned(),
            other => other.to_string(),
        };
        for row in &rows {
            table.add_row(vec![
                row["task_type"].as_str().unwrap_or_default().to_owned(),
                cell(&row["limit"]),
                cell(&row["declared_limit"]),
                cell(&row["key_limit"]),
                cell(&row["running"]),
                by_key(row),
                row["rate"].as_str().unwrap_or("-").to_owned(),
                row["key_rate"].as_str().unwrap_or("-").to_owned(),
            ]);
        }
        out.table(&table)
    })?;
    Ok(Exit::Ok)
}

/// How many keys of a key-limited type run tasks, and the first few with
/// the most: `2 keys: acme=2, zeta=1`; `-` without a key limit.
fn by_key(row: &serde_json::Value) -> String {
    /// Keys the table shows (the JSON has every key of `top_keys`).
    const SHOWN: usize = 3;
    let Some(count) = row["running_keys"].as_u64() else {
        return "-".to_owned();
    };
    let top = row["top_keys"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let shown: Vec<String> = top
        .iter()
        .take(SHOWN)
        .map(|key| {
            format!(
                "{}={}",
                key["key"].as_str().unwrap_or_default(),
                key["running"].as_u64().unwrap_or(0)
            )
        })
        .collect();
    let more = if count > shown.len() as u64 {
        ", …"
    } else {
        ""
    };
    match count {
        0 => "0 keys".to_owned(),
        1 => format!("1 key: {}", shown.join(", ")),
        _ => format!("{count} keys: {}{more}", shown.join(", ")),
    }
}

/// A key rate limit as the table shows it: `10/1s`, with `,2 held` while
/// some keys are held back; `-` without one.
fn key_rate_text(row: Option<&crate::TypeLimitStats>) -> String {
    let Some(row) = row else {
        return "-".to_owned();
    };
    let rate = rate_text(row.key_rate_limit, None);
    match row.held_keys {
        0 => rate,
        held if row.key_rate_limit.is_some() => format!("{rate},{held} held"),
        _ => rate,
    }
}
