//! The task commands: `submit`, `list`, `show`, `wait`, `cancel`,
//! `retry`, `purge` — each one call of the client, and its printing.

use std::time::Duration;

use chrono::Utc;
use clap::Args;
use serde_json::{Value, json};
use taskq_core::wait::MAX_WAIT;

use super::exit::{Exit, Failure};
use super::output::{self, Output, compact, opt_time, time};
use super::values::{self, PageArgs, page_footer};
use crate::bulk::{BulkAction, BulkTarget};
use crate::{Client, Error, TaskFilter, TaskId, TaskRecord, TaskState};

#[derive(Debug, Args)]
pub(super) struct SubmitArgs {
    /// The task type: its registered name (`#[long_task(name = …)]`).
    #[arg(value_name = "TYPE")]
    task_type: String,
    /// The params as JSON [default: null, for a task without params].
    #[arg(value_name = "JSON", value_parser = values::json, allow_negative_numbers = true)]
    params: Option<Value>,
    /// Submit to this queue instead of the task type's.
    #[arg(long, short = 'q')]
    queue: Option<String>,
    /// Priority instead of the task type's (higher runs first).
    #[arg(long, short = 'p', allow_negative_numbers = true)]
    priority: Option<i32>,
    /// Run no earlier than this long from now (e.g. 30s, 5m, 2h).
    #[arg(long, value_parser = values::duration, value_name = "DURATION")]
    countdown: Option<Duration>,
    /// A deadline to start this long from now (e.g. 5m): not started by
    /// then, the task ends EXPIRED instead of running.
    #[arg(long, value_parser = values::duration, value_name = "DURATION")]
    expires_in: Option<Duration>,
    /// Unique by this key: while a task of the queue holds it, nothing is
    /// stored and the holder's id is printed (with the task type's period
    /// and states, or the defaults: while pending or running).
    #[arg(long, value_name = "KEY", conflicts_with = "not_unique")]
    unique_key: Option<String>,
    /// Not unique, whatever the task type declares.
    #[arg(long)]
    not_unique: bool,
    /// A tag to list the task by (repeat it, or separate tags with
    /// commas): lowercase ASCII letters, digits, `_-.:=/`.
    #[arg(long = "tag", value_name = "TAG", value_delimiter = ',')]
    tags: Vec<String>,
    /// Metadata: a JSON object kept with the task (at most 4 KiB).
    #[arg(long = "meta", value_name = "JSON", value_parser = values::json)]
    metadata: Option<Value>,
    /// Wait for the task to end and print its record, as `wait` does.
    #[arg(long)]
    wait: bool,
    /// With --wait: wait at most this long (exit 5 when it runs out)
    /// [default: no limit].
    #[arg(long, requires = "wait", value_parser = values::duration, value_name = "DURATION")]
    wait_timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    /// Only tasks in this state (waiting, pending, running, finished,
    /// failed, cancelled, expired).
    #[arg(long, short = 's', value_parser = values::state)]
    state: Option<TaskState>,
    /// Only tasks of this queue.
    #[arg(long, short = 'q')]
    queue: Option<String>,
    /// Only tasks of this type.
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    task_type: Option<String>,
    /// Only tasks carrying this tag (repeat it, or separate tags with
    /// commas, for tasks carrying all of them).
    #[arg(long = "tag", value_name = "TAG", value_delimiter = ',')]
    tags: Vec<String>,
    /// Only tasks queued by this schedule.
    #[arg(long, value_name = "NAME")]
    schedule: Option<String>,
    /// Only tasks whose metadata has KEY equal to VALUE (repeat it for
    /// tasks matching all): `7`, `true`, `null` are those JSON values,
    /// `"7"` (quoted) the string, other text a string.
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = values::meta_filter)]
    meta: Vec<(String, Value)>,
    #[command(flatten)]
    page: PageArgs,
}

#[derive(Debug, Args)]
pub(super) struct IdArg {
    /// The task's id.
    id: TaskId,
}

#[derive(Debug, Args)]
pub(super) struct RetryArgs {
    /// The task's id.
    #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
    id: Option<TaskId>,
    /// Every failed task instead (of --queue and --type when given), in
    /// calls of 1,000; those that failed after it started are left.
    #[arg(long)]
    all_failed: bool,
    /// With --all-failed: only tasks of this queue.
    #[arg(long, short = 'q')]
    queue: Option<String>,
    /// With --all-failed: only tasks of this type.
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    task_type: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct WaitArgs {
    /// The task's id.
    id: TaskId,
    /// Wait at most this long (exit 5 when it runs out) [default: no
    /// limit].
    #[arg(long, value_parser = values::duration, value_name = "DURATION")]
    timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub(super) struct PurgeArgs {
    /// Ended states to delete, comma-separated [default: finished,failed].
    #[arg(long = "state", short = 's', value_delimiter = ',', value_parser = values::state)]
    states: Vec<TaskState>,
    /// Only tasks that ended at least this long ago (e.g. 7d; 0s for all).
    #[arg(long, required = true, value_parser = values::duration, value_name = "DURATION")]
    older_than: Duration,
}

pub(super) async fn submit(
    client: &Client,
    args: SubmitArgs,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let mut submission = client.submit_json(args.task_type, args.params.unwrap_or(Value::Null));
    if let Some(queue) = args.queue {
        submission = submission.queue(queue);
    }
    if let Some(priority) = args.priority {
        submission = submission.priority(priority);
    }
    if let Some(countdown) = args.countdown {
        submission = submission.countdown(countdown);
    }
    if let Some(expires_in) = args.expires_in {
        submission = submission.expires_in(expires_in);
    }
    if let Some(key) = args.unique_key {
        submission = submission.unique_key(key);
    }
    if args.not_unique {
        submission = submission.not_unique();
    }
    if !args.tags.is_empty() {
        submission = submission.tags(args.tags);
    }
    if let Some(metadata) = args.metadata {
        submission = submission.metadata(metadata);
    }
    let submitted = submission.outcome().await?;
    let id = submitted.id;
    if args.wait {
        return wait_and_show(client, id, args.wait_timeout, output).await;
    }
    let shown = json!({
        "id": id,
        "duplicate": submitted.duplicate,
        "unique_conflict": submitted.unique_conflict,
    });
    output.either(&shown, |out| {
        if submitted.unique_conflict {
            out.line(format_args!(
                "{id} (already queued: it holds the unique key)"
            ))
        } else {
            out.line(id)
        }
    })?;
    Ok(Exit::Ok)
}

pub(super) async fn list(
    client: &Client,
    args: ListArgs,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let filter = TaskFilter {
        state: args.state,
        task_type: args.task_type,
        queue: args.queue,
        tags: args.tags,
        schedule: args.schedule,
        metadata: args.meta.into_iter().collect(),
        ..TaskFilter::default()
    };
    let page = client.list(&filter, args.page.request()).await?;
    output.either(&page, |out| {
        if page.items.is_empty() {
            return out.line(if page.total == 0 {
                "no tasks match".to_owned()
            } else {
                format!("page {} is past the last ({} tasks)", page.page, page.total)
            });
        }
        let mut table = output::table(&[
            "ID", "TYPE", "STATE", "QUEUE", "PRIORITY", "ATTEMPT", "CREATED", "TAGS",
        ]);
        for task in &page.items {
            table.add_row(vec![
                task.id.to_string(),
                task.task_type.clone(),
                task.state.to_string(),
                task.queue.clone(),
                task.priority.to_string(),
                attempts(task),
                time(task.created_at),
                task.tags.join(","),
            ]);
        }
        out.table(&table)?;
        out.line(page_footer(page.page, page.page_size, page.total, "task"))
    })?;
    Ok(Exit::Ok)
}

pub(super) async fn show(
    client: &Client,
    args: IdArg,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let record = client.get(args.id).await?;
    show_record(output, &record)?;
    Ok(Exit::Ok)
}

pub(super) async fn wait(
    client: &Client,
    args: WaitArgs,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    wait_and_show(client, args.id, args.timeout, output).await
}

/// Waits for the task to end and prints its record — also when it ended
/// `FAILED`, `CANCELLED` or `EXPIRED` ([`Error::TaskFailed`], exit 1) or the wait
/// ran out ([`Error::WaitTimeout`], exit 5), so a script that submitted
/// with `--wait` always learns the id and state.
async fn wait_and_show(
    client: &Client,
    id: TaskId,
    timeout: Option<Duration>,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let waited = match timeout {
        Some(timeout) => client.wait_for(id, timeout).await,
        // No limit: one longest wait after another.
        None => loop {
            match client.wait_for(id, MAX_WAIT).await {
                Err(Error::WaitTimeout { .. }) => continue,
                other => break other,
            }
        },
    };
    match waited {
        Ok(record) => {
            show_record(output, &record)?;
            Ok(Exit::Ok)
        }
        Err(ended @ (Error::TaskFailed { .. } | Error::WaitTimeout { .. })) => {
            show_record(output, &client.get(id).await?)?;
            Err(ended.into())
        }
        Err(other) => Err(other.into()),
    }
}

pub(super) async fn cancel(
    client: &Client,
    args: IdArg,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let record = client.cancel(args.id).await?;
    output.either(&record, |out| {
        if record.state == TaskState::Running {
            out.line(format!(
                "cancel requested: task {} is running; its worker stops it",
                record.id
            ))
        } else {
            out.line(format!("task {} is {}", record.id, record.state))
        }
    })?;
    Ok(Exit::Ok)
}

pub(super) async fn retry(
    client: &Client,
    args: RetryArgs,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let Some(id) = args.id.filter(|_| !args.all_failed) else {
        return retry_all_failed(client, args, output).await;
    };
    // (clap's `requires` counts a flag's default `false` as given.)
    if args.queue.is_some() || args.task_type.is_some() {
        return Err(Failure::usage("--queue and --type go with --all-failed"));
    }
    let record = client.retry(id).await?;
    output.either(&record, |out| {
        out.line(format!("task {} is {} again", record.id, record.state))
    })?;
    Ok(Exit::Ok)
}

/// `retry --all-failed`: bulk calls over the failed tasks of the filter,
/// until none is left or a call changes none. Bounded by the count at the
/// start, so that tasks failing again meanwhile do not keep it going.
async fn retry_all_failed(
    client: &Client,
    args: RetryArgs,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let filter = TaskFilter {
        state: Some(TaskState::Failed),
        queue: args.queue,
        task_type: args.task_type,
        ..TaskFilter::default()
    };
    let (mut matched, mut changed, mut tried) = (None, 0, 0);
    let mut skipped = Vec::new();
    loop {
        let report = client
            .bulk(BulkAction::Retry, BulkTarget::Filter(filter.clone()))
            .await?;
        let first = *matched.get_or_insert(report.matched);
        changed += report.changed;
        tried += report.changed + report.skipped.len() as u64;
        skipped.extend(
            report
                .skipped
                .into_iter()
                .map(|(id, error)| (id, error.to_string())),
        );
        if report.remaining == 0 || report.changed == 0 || tried >= first {
            break;
        }
    }
    let matched = matched.unwrap_or(0);
    let listed: Vec<Value> = skipped
        .iter()
        .map(|(id, error)| json!({ "id": id, "error": error }))
        .collect();
    let summary = json!({ "matched": matched, "retried": changed, "skipped": listed });
    output.either(&summary, |out| {
        out.line(format!("retried {changed} of {matched} failed tasks"))?;
        for (id, error) in &skipped {
            out.line(format!("skipped {id}: {error}"))?;
        }
        Ok(())
    })?;
    Ok(Exit::Ok)
}

pub(super) async fn purge(
    client: &Client,
    args: PurgeArgs,
    output: &mut Output<'_>,
) -> Result<Exit, Failure> {
    let states = if args.states.is_empty() {
        vec![TaskState::Finished, TaskState::Failed]
    } else {
        args.states
    };
    let before = chrono::Duration::from_std(args.older_than)
        .ok()
        .and_then(|age| Utc::now().checked_sub_signed(age))
        .ok_or_else(|| Failure::usage("--older-than is too long"))?;
    let deleted = client.purge_states(&states, before).await?;
    output.either(&json!({ "deleted": deleted }), |out| {
        let states: Vec<String> = states
            .iter()
            .map(|s| s.as_str().to_ascii_lowercase())
            .collect();
        out.line(format!(
            "deleted {deleted} task{} ({}) that ended before {}",
            if deleted == 1 { "" } else { "s" },
            states.join(", "),
            time(before)
        ))
    })?;
    Ok(Exit::Ok)
}

/// One task, every field: a `field: value` list, or the record as JSON.
fn show_record(output: &mut Output<'_>, task: &TaskRecord) -> std::io::Result<()> {
    output.either(task, |out| {
        let mut rows = vec![
            ("id", task.id.to_string()),
            ("type", task.task_type.clone()),
            ("state", task.state.to_string()),
            ("queue", task.queue.clone()),
            ("priority", task.priority.to_string()),
            ("attempt", attempts(task)),
            ("created", time(task.created_at)),
            ("scheduled", time(task.scheduled_at)),
            ("started", opt_time(task.started_at)),
            ("finished", opt_time(task.finished_at)),
            (
                "worker",
                task.worker_id.clone().unwrap_or_else(|| "-".into()),
            ),
        ];
        if let Some(progress) = &task.progress {
            rows.push((
                "progress",
                format!("{:.0}% {}", progress.fraction * 100.0, progress.message),
            ));
        }
        if task.cancel_requested {
            rows.push(("cancel", "requested".into()));
        }
        if let Some(timeout) = task.timeout {
            rows.push(("timeout", output::duration(timeout)));
        }
        if let Some(soft) = task.soft_timeout {
            rows.push(("soft timeout", output::duration(soft)));
        }
        if task.snoozes > 0 {
            rows.push(("snoozes", task.snoozes.to_string()));
        }
        if let Some(deadline) = task.expires_at {
            rows.push(("expires at", opt_time(Some(deadline))));
        }
        if let Some(step) = &task.step {
            rows.push(("workflow", step.workflow.to_string()));
            rows.push(("step", step.name.clone()));
            let parents: Vec<String> = step.parents.iter().map(ToString::to_string).collect();
            if !parents.is_empty() {
                rows.push(("parents", parents.join(", ")));
            }
            if task.state == TaskState::Waiting {
                rows.push(("waiting on", format!("{} parent(s)", step.waiting_on)));
            }
        }
        rows.push(("params", compact(&task.params)));
        if let Some(result) = &task.result {
            rows.push(("result", compact(result)));
        }
        if let Some(error) = &task.error {
            rows.push(("error", format!("{}: {}", error.kind, error.message)));
        }
        if !task.tags.is_empty() {
            rows.push(("tags", task.tags.join(", ")));
        }
        if !task.metadata.is_empty() {
            rows.push(("metadata", compact(&Value::Object(task.metadata.clone()))));
        }
        if let Some(schedule) = &task.schedule {
            rows.push(("schedule", schedule.clone()));
        }
        out.table(&output::fields(rows))?;
        if task.attempts.is_empty() {
            return Ok(());
        }
        out.table(&history_table(task))?;
        let dropped = task.attempts_dropped();
        if dropped > 0 {
            out.line(format_args!(
                "({dropped} earlier attempt end(s) dropped; the last {} are kept)",
                task.attempts.len()
            ))?;
        }
        Ok(())
    })
}

/// The ended attempts, oldest first: number, worker, start, duration,
/// outcome and error.
fn history_table(task: &TaskRecord) -> comfy_table::Table {
    let mut table = output::table(&["#", "WORKER", "STARTED", "DURATION", "OUTCOME", "ERROR"]);
    for entry in &task.attempts {
        table.add_row(vec![
            entry.attempt.to_string(),
            entry.worker_id.clone().unwrap_or_else(|| "-".into()),
            opt_time(entry.started_at),
            entry
                .duration()
                .and_then(|d| d.to_std().ok())
                .map_or_else(|| "-".into(), output::duration),
            entry.outcome.as_str().to_owned(),
            entry
                .error
                .as_ref()
                .map_or_else(String::new, |e| format!("{}: {}", e.kind, e.message)),
        ]);
    }
    table
}

/// `attempt/attempts allowed`, e.g. `1/4` for the first of four.
fn attempts(task: &TaskRecord) -> String {
    format!("{}/{}", task.attempt, task.max_retries.saturating_add(1))
}
