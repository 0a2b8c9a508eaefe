//! `workflow submit | show | cancel`: a workflow by its JSON spec (the
//! body of `POST api/workflows`), its steps as a table, cancelling it.
//! Retrying a failed step is `retry STEP_ID`, which resumes the workflow.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;

use super::exit::{Exit, Failure};
use super::output::{self, Output, opt_time, time};
use crate::workflow::{WorkflowRecord, WorkflowSpec, WorkflowState};
use crate::{Client, TaskId, WorkflowId};

#[derive(Debug, Subcommand)]
pub(super) enum WorkflowCommand {
    /// Submit a workflow from its JSON spec (`{"steps": [{"name", "task",
    /// "params", "after"}, …]}`); prints its id. Every step or none is
    /// stored.
    Submit {
        /// The spec's file, or `-` for standard input.
        #[arg(value_name = "SPEC.json|-")]
        spec: PathBuf,
    },
    /// Show a workflow: its state and a table of its steps.
    Show {
        /// The workflow's id.
        id: WorkflowId,
    },
    /// Cancel every step of a workflow that has not ended.
    Cancel {
        /// The workflow's id.
        id: WorkflowId,
    },
}

pub(super) async fn run(
    client: &Client,
    action: WorkflowCommand,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    match action {
        WorkflowCommand::Submit { spec } => {
            let spec = read_spec(&spec)?;
            let id = client.submit_workflow_spec(spec).await?;
            let record = client.workflow(id).await?;
            output.either(&record, |out| out.line(id))?;
        }
        WorkflowCommand::Show { id } => {
            let record = client.workflow(id).await?;
            show(output, &record)?;
        }
        WorkflowCommand::Cancel { id } => {
            let record = client.cancel_workflow(id).await?;
            output.either(&record, |out| {
                let open = record
                    .steps
                    .iter()
                    .filter(|s| !s.state.is_terminal())
                    .count();
                out.line(format!(
                    "workflow {id} is {}{}",
                    state_name(record.state),
                    if open == 0 {
                        String::new()
                    } else {
                        format!(" ({open} running step(s) stop through their workers)")
                    }
                ))
            })?;
        }
    }
    Ok(Exit::Ok)
}

/// `RUNNING`, `FINISHED`, …: the name the JSON and the API use.
fn state_name(state: WorkflowState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{state:?}"))
}

/// The spec from a file or standard input; unreadable or malformed input
/// is a usage error (exit 2), before anything is stored.
/// A workflow's JSON spec from a file, or standard input for `-`.
pub(super) fn read_spec(path: &PathBuf) -> Result<WorkflowSpec, Failure> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| Failure::usage(format!("reading the spec from stdin: {err}")))?;
        text
    } else {
        std::fs::read_to_string(path)
            .map_err(|err| Failure::usage(format!("reading {}: {err}", path.display())))?
    };
    serde_json::from_str(&text)
        .map_err(|err| Failure::usage(format!("the spec is not a workflow: {err}")))
}

/// The workflow's state and times, then one row per step: name, task
/// type, state, parents not yet ended, parents by name, task id.
fn show(output: &mut Output<'_>, record: &WorkflowRecord) -> std::io::Result<()> {
    output.either(record, |out| {
        let total = record.steps.len();
        out.table(&output::fields(vec![
            ("workflow", record.id.to_string()),
            ("state", state_name(record.state)),
            ("steps", total.to_string()),
            ("created", time(record.created_at)),
            ("finished", opt_time(record.finished_at)),
        ]))?;
        out.line("")?;
        let names: HashMap<TaskId, &str> = record
            .steps
            .iter()
            .filter_map(|s| Some((s.id, s.step.as_ref()?.name.as_str())))
            .collect();
        let mut table = output::table(&["STEP", "TYPE", "STATE", "WAITING_ON", "PARENTS", "ID"]);
        for task in &record.steps {
            let (name, waiting_on, parents) = match &task.step {
                Some(step) => {
                    let parents: Vec<&str> = step
                        .parents
                        .iter()
                        .map(|p| names.get(p).copied().unwrap_or("?"))
                        .collect();
                    let waiting = if task.state == crate::TaskState::Waiting {
                        step.waiting_on.to_string()
                    } else {
                        "-".to_owned()
                    };
                    let parents = if parents.is_empty() {
                        "-".to_owned()
                    } else {
                        parents.join(",")
                    };
                    (step.name.clone(), waiting, parents)
                }
                None => ("?".to_owned(), "-".to_owned(), "-".to_owned()),
            };
            table.add_row(vec![
                name,
                task.task_type.clone(),
                task.state.to_string(),
                waiting_on,
                parents,
                task.id.to_string(),
            ]);
        }
        out.table(&table)
    })
}
