//! `schedules`: list, enable, disable, run now.

use clap::Subcommand;
use serde_json::json;

use super::exit::{Exit, Failure};
use super::output::{self, Output, opt_time};
use super::values::{PageArgs, page_footer};
use crate::{Client, PageRequest, Schedule, ScheduleKind};

#[derive(Debug, Subcommand)]
pub(super) enum SchedulesCommand {
    /// Schedules by name, with their timing and next run (the default).
    List {
        #[command(flatten)]
        page: PageArgs,
    },
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
    /// Submit the schedule's task now (it counts as a run); prints the
    /// task's id.
    RunNow {
        /// The schedule's name.
        name: String,
    },
}

pub(super) async fn run(
    client: &Client,
    command: Option<SchedulesCommand>,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    match command {
        None => list(client, PageRequest::default(), output).await,
        Some(SchedulesCommand::List { page }) => list(client, page.request(), output).await,
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
                schedule.def.task_type.clone(),
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
