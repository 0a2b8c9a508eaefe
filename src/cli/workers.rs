//! `workers`: the workers of every host sharing the backend; pause,
//! resume, shut down (each obeys at its next heartbeat).

use chrono::Utc;
use clap::Subcommand;

use super::exit::{Exit, Failure};
use super::output::{self, Output, time};
use crate::{Client, WorkerControl, WorkerInfo};

#[derive(Debug, Subcommand)]
pub(super) enum WorkersCommand {
    /// Live workers, and for a while those that stopped beating (the
    /// default).
    List,
    /// Ask a worker to stop claiming tasks; running ones go on.
    Pause {
        /// The worker's id (as `workers list` shows it).
        id: String,
    },
    /// Ask a paused worker to claim tasks again.
    Resume {
        /// The worker's id.
        id: String,
    },
    /// Ask a worker to shut down gracefully: it stops claiming, lets
    /// running tasks finish and exits.
    Shutdown {
        /// The worker's id.
        id: String,
    },
}

pub(super) async fn run(
    client: &Client,
    command: Option<WorkersCommand>,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let (id, control) = match command.unwrap_or(WorkersCommand::List) {
        WorkersCommand::List => return list(client, output).await,
        WorkersCommand::Pause { id } => (id, WorkerControl::Pause),
        WorkersCommand::Resume { id } => (id, WorkerControl::Resume),
        WorkersCommand::Shutdown { id } => (id, WorkerControl::Shutdown),
    };
    let worker = client.control_worker(&id, control).await?;
    let verb = match control {
        WorkerControl::Pause => "pause",
        WorkerControl::Resume => "resume",
        WorkerControl::Shutdown => "shut down",
    };
    output.either(&worker, |out| {
        out.line(format!(
            "asked worker {} to {verb} (it obeys at its next heartbeat)",
            worker.id
        ))
    })?;
    Ok(Exit::Ok)
}

async fn list(client: &Client, output: &mut Output<'_>) -> Result<Exit, Failure> {
    let workers = client.workers().await?;
    output.either(&workers, |out| {
        if workers.is_empty() {
            return out.line("no workers");
        }
        let now = Utc::now();
        let mut table = output::table(&[
            "ID",
            "STATE",
            "HOST",
            "PID",
            "QUEUES",
            "RUNNING",
            "STARTED",
            "LAST HEARTBEAT",
        ]);
        for worker in &workers {
            table.add_row(vec![
                worker.id.clone(),
                state(worker),
                worker.host.clone(),
                worker.pid.to_string(),
                queues(worker),
                worker.in_flight_count.to_string(),
                time(worker.started_at),
                match (now - worker.heartbeat_at).to_std() {
                    // Whole seconds: heartbeats are a second or more apart.
                    Ok(age) => format!("{}s ago", age.as_secs()),
                    Err(_) => time(worker.heartbeat_at),
                },
            ]);
        }
        out.table(&table)
    })?;
    Ok(Exit::Ok)
}

/// Its state, and where an operator asked it to go if that differs:
/// `RUNNING → PAUSED`.
fn state(worker: &WorkerInfo) -> String {
    match worker.requested {
        Some(requested) if requested != worker.state => format!("{} → {requested}", worker.state),
        _ => worker.state.to_string(),
    }
}

/// `default×4, heavy×1`.
fn queues(worker: &WorkerInfo) -> String {
    let queues: Vec<String> = worker
        .queues
        .iter()
        .map(|q| format!("{}×{}", q.name, q.concurrency))
        .collect();
    queues.join(", ")
}
