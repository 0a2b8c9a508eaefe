//! `schedules`: list, create, enable, disable, run now, delete.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{Value, json};

use super::exit::{Exit, Failure};
use super::output::{self, Output, opt_time};
use super::values::{self, PageArgs, page_footer};
use super::workflows::read_spec;
use crate::schedule::ScheduleTarget;
use crate::{Client, MisfirePolicy, PageRequest, Schedule, ScheduleDef, ScheduleKind};

#[derive(Debug, Subcommand)]
pub(super) enum SchedulesCommand {
    /// Schedules by name, with their timing and next run (the default).
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Store a new schedule (cron, interval or one-off) of a task type or,
    /// with --workflow, of a whole workflow; its params (each step's) are
    /// checked against the task type, and a taken name is refused (exit 6).
    Create(Box<CreateArgs>),
    /// Let a disabled schedule fire again, from its next tick after now.
    Enable {
        /// The schedule's name.
        name: String,
    },
    /// Stop a schedule from firing; its definition stays.
    Disable {
        /// The schedule's name.
        name: String,
    },
    /// Submit the schedule's task (or workflow) now (it counts as a run);
    /// prints the task's id (a workflow's first step).
    RunNow {
        /// The schedule's name.
        name: String,
    },
    /// Delete a schedule; the tasks it submitted stay.
    Delete {
        /// The schedule's name.
        name: String,
    },
}

/// `schedules create`: a [`ScheduleDef`] from the command line. Exactly
/// one of `--cron`, `--every` and `--at` gives the timing.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("timing").required(true).args(["cron", "every", "at"])))]
pub(super) struct CreateArgs {
    /// The schedule's unique name.
    name: String,
    /// The task type each tick submits: its registered name.
    #[arg(value_name = "TYPE", required_unless_present = "workflow")]
    task_type: Option<String>,
    /// The params of each submitted task, as JSON [default: `{}`, or null
    /// for a task without params].
    #[arg(value_name = "JSON", value_parser = values::json, allow_negative_numbers = true)]
    params: Option<Value>,
    /// Instead of TYPE and JSON: a workflow each tick submits whole, from
    /// its JSON spec's file (as `workflow submit` takes), or `-` for
    /// standard input.
    #[arg(long, value_name = "SPEC.json|-", conflicts_with_all = ["task_type", "params"])]
    workflow: Option<PathBuf>,
    /// A cron expression: 5 fields (`min hour dom month dow`) or 6 with
    /// seconds first, e.g. '0 30 2 * * *'.
    #[arg(long, value_name = "EXPR")]
    cron: Option<String>,
    /// With --cron: an IANA time zone such as Europe/Paris [default: UTC].
    #[arg(long, conflicts_with_all = ["every", "at"], value_name = "TZ")]
    timezone: Option<String>,
    /// A tick every this long (e.g. 90, 30s, 5m, 1h; at least 1s).
    #[arg(long, value_parser = values::duration, value_name = "DURATION")]
    every: Option<Duration>,
    /// Once, at this time (RFC 3339, e.g. 2026-05-01T09:00:00Z).
    #[arg(long, value_parser = values::time, value_name = "TIME")]
    at: Option<DateTime<Utc>>,
    /// Submit to this queue instead of the task type's.
    #[arg(long, short = 'q')]
    queue: Option<String>,
    /// Priority instead of the task type's (higher runs first).
    #[arg(long, short = 'p', allow_negative_numbers = true)]
    priority: Option<i32>,
    /// No tick before this time (RFC 3339).
    #[arg(long, value_parser = values::time, value_name = "TIME")]
    start_at: Option<DateTime<Utc>>,
    /// No tick after this time (RFC 3339).
    #[arg(long, value_parser = values::time, value_name = "TIME")]
    end_at: Option<DateTime<Utc>>,
    /// At most this many runs in all.
    #[arg(long, value_name = "N")]
    max_runs: Option<u64>,
    /// Ticks missed by downtime: skip, run-once (the default: one task
    /// for them all) or run-each=N (each, up to the latest N).
    #[arg(long, value_parser = misfire, value_name = "POLICY")]
    misfire: Option<MisfirePolicy>,
    /// A description for people.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Store it disabled (`schedules enable NAME` starts it).
    #[arg(long)]
    disabled: bool,
}

impl CreateArgs {
    fn def(self) -> Result<ScheduleDef, Failure> {
        let target: ScheduleTarget = match (self.task_type, &self.workflow) {
            (_, Some(path)) => read_spec(path)?.into(),
            (Some(task_type), None) => task_type.into(),
            // clap requires TYPE without --workflow.
            (None, None) => return Err(Failure::usage("give TYPE, or --workflow SPEC.json")),
        };
        let def = match (self.cron, self.every, self.at) {
            (Some(expression), _, _) => ScheduleDef::cron_in(
                self.name,
                target,
                expression,
                self.timezone.unwrap_or_else(|| "UTC".to_owned()),
            ),
            (None, Some(every), _) => ScheduleDef::interval(self.name, target, every),
            (None, None, Some(at)) => ScheduleDef::once(self.name, target, at),
            // clap's `timing` group requires one of the three; a caller
            // that built the arguments otherwise gets the same answer.
            (None, None, None) => {
                return Err(Failure::usage("give the timing: --cron, --every or --at"));
            }
        };
        let mut def = def.enabled(!self.disabled);
        if let Some(params) = self.params {
            def = def.params(params);
        }
        def.queue = self.queue;
        def.priority = self.priority;
        def.start_at = self.start_at;
        def.end_at = self.end_at;
        def.max_runs = self.max_runs;
        if let Some(policy) = self.misfire {
            def = def.misfire(policy);
        }
        if let Some(description) = self.description {
            def = def.description(description);
        }
        Ok(def)
    }
}

/// `skip`, `run-once` or `run-each=N` (underscores work too).
fn misfire(text: &str) -> Result<MisfirePolicy, String> {
    let text = text.trim().replace('_', "-");
    let (policy, max) = match text.split_once('=') {
        Some((policy, max)) => (policy, Some(max)),
        None => (text.as_str(), None),
    };
    match (policy, max) {
        ("skip", None) => Ok(MisfirePolicy::Skip),
        ("run-once", None) => Ok(MisfirePolicy::RunOnce),
        ("run-each", Some(max)) => max
            .trim()
            .parse()
            .map(|max| MisfirePolicy::RunEach { max })
            .map_err(|_| format!("`{text}`: the N of run-each=N is a whole number")),
        ("run-each", None) => Err("run-each takes a bound: run-each=N".to_owned()),
        _ => Err(format!(
            "unknown misfire policy `{text}` (skip, run-once or run-each=N)"
        )),
    }
}

pub(super) async fn run(
    client: &Client,
    command: Option<SchedulesCommand>,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    match command {
        None => list(client, PageRequest::default(), output).await,
        Some(SchedulesCommand::List { page }) => list(client, page.request(), output).await,
        Some(SchedulesCommand::Create(args)) => {
            let schedule = client.create_schedule(args.def()?).await?;
            output.either(&schedule, |out| {
                let next = if schedule.def.enabled {
                    format!("next run {}", opt_time(schedule.next_run_at))
                } else {
                    "disabled".to_owned()
                };
                out.line(format!(
                    "schedule {} created ({}), {next}",
                    schedule.def.name,
                    timing(&schedule.def.kind)
                ))
            })?;
            Ok(Exit::Ok)
        }
        Some(SchedulesCommand::Enable { name }) => {
            let schedule = client.enable_schedule(&name).await?;
            show_state(output, &schedule)
        }
        Some(SchedulesCommand::Disable { name }) => {
            let schedule = client.disable_schedule(&name).await?;
            show_state(output, &schedule)
        }
        Some(SchedulesCommand::RunNow { name }) => {
            let id = client.run_schedule_now(&name).await?;
            output.either(&json!({ "schedule": name, "id": id }), |out| out.line(id))?;
            Ok(Exit::Ok)
        }
        Some(SchedulesCommand::Delete { name }) => {
            client.delete_schedule(&name).await?;
            output.either(&json!({ "schedule": name, "deleted": true }), |out| {
                out.line(format!("schedule {name} is deleted"))
            })?;
            Ok(Exit::Ok)
        }
    }
}

async fn list(
    client: &Client,
    request: PageRequest,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let page = client.list_schedules(request).await?;
    output.either(&page, |out| {
        if page.items.is_empty() {
            return out.line(if page.total == 0 {
                "no schedules".to_owned()
            } else {
                format!(
                    "page {} is past the last ({} schedules)",
                    page.page, page.total
                )
            });
        }
        let mut table = output::table(&[
            "NAME", "TASK", "TIMING", "ENABLED", "NEXT RUN", "LAST RUN", "RUNS",
        ]);
        for schedule in &page.items {
            table.add_row(vec![
                schedule.def.name.clone(),
                match &schedule.def.workflow {
                    Some(spec) => format!("workflow ({} steps)", spec.steps.len()),
                    None => schedule.def.task_type.clone(),
                },
                timing(&schedule.def.kind),
                if schedule.def.enabled { "yes" } else { "no" }.to_owned(),
                opt_time(schedule.next_run_at),
                opt_time(schedule.last_run_at),
                match schedule.def.max_runs {
                    Some(max) => format!("{}/{max}", schedule.run_count),
                    None => schedule.run_count.to_string(),
                },
            ]);
        }
        out.table(&table)?;
        out.line(page_footer(
            page.page,
            page.page_size,
            page.total,
            "schedule",
        ))
    })?;
    Ok(Exit::Ok)
}

/// After enable or disable: the schedule as JSON, or one line.
fn show_state(output: &mut Output<'_>, schedule: &Schedule) -> Result<Exit, Failure> {
    output.either(schedule, |out| {
        let state = if schedule.def.enabled {
            format!("enabled, next run {}", opt_time(schedule.next_run_at))
        } else {
            "disabled".to_owned()
        };
        out.line(format!("schedule {} is {state}", schedule.def.name))
    })?;
    Ok(Exit::Ok)
}

/// `cron 0 30 2 * * * (Europe/Paris)`, `every 5m`, `once at …`.
fn timing(kind: &ScheduleKind) -> String {
    match kind {
        ScheduleKind::Cron {
            expression,
            time_zone,
        } => format!("cron {expression} ({time_zone})"),
        ScheduleKind::Interval { every } => format!("every {}", output::duration(*every)),
        ScheduleKind::Once { at } => format!("once at {}", output::time(*at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_schedule_misfire_policies_parse() {
        assert_eq!(misfire("skip"), Ok(MisfirePolicy::Skip));
        assert_eq!(misfire("run_once"), Ok(MisfirePolicy::RunOnce));
        assert_eq!(misfire("run-each=3"), Ok(MisfirePolicy::RunEach { max: 3 }));
        assert!(misfire("run-each").unwrap_err().contains("run-each=N"));
        assert!(misfire("run-each=x").unwrap_err().contains("whole number"));
        assert!(misfire("skip=2").unwrap_err().contains("unknown misfire"));
        assert!(misfire("later").unwrap_err().contains("unknown misfire"));
    }
}
