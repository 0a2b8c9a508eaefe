//! A new task's record: its type's options, overridden per submission.
//! Shared by the client's submissions, batches, workflows and the
//! scheduler's firings, so a task made any way is the same record.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Overrides;
use crate::bounds;
use crate::error::Error;
use crate::lifecycle;
use crate::registry::TaskDef;
use crate::task::{TaskRecord, TaskState, Unique, seq_for};

/// The `PENDING` record of a new task of type `def`, submitted at `now`.
pub(crate) fn new_record(
    def: &TaskDef,
    params: Value,
    o: &Overrides,
    now: DateTime<Utc>,
) -> TaskRecord {
    let scheduled_at = o.run_at.unwrap_or(now);
    TaskRecord {
        id: uuid::Uuid::now_v7(),
        task_type: def.name.to_owned(),
        params,
        state: TaskState::Pending,
        queue: o
            .queue
            .clone()
            .unwrap_or_else(|| def.options.queue.to_string()),
        priority: o.priority.unwrap_or(def.options.priority),
        attempt: 0,
        max_retries: o.max_retries.unwrap_or(def.options.max_retries),
        result: None,
        error: None,
        progress: None,
        created_at: now,
        scheduled_at,
        started_at: None,
        finished_at: None,
        worker_id: None,
        lease_until: None,
        cancel_requested: false,
        timeout: o.timeout.or(def.options.timeout),
        soft_timeout: o.soft_timeout.or(def.options.soft_timeout),
        seq: seq_for(scheduled_at),
        fair_round: 0,
        unique: None,
        step: None,
        attempts: Vec::new(),
        tags: o.tags.clone(),
        metadata: match &o.metadata {
            Some(Value::Object(map)) => map.clone(),
            _ => serde_json::Map::new(),
        },
        schedule: None,
        snoozes: 0,
        // Set by `apply_concurrency_key`, which may refuse the params.
        concurrency_key: None,
        expires_at: o.expires_at.or_else(|| {
            // The type's deadline, counted from submission; one too far to
            // store means none (the macro and `TaskOptions` take any).
            def.options
                .expires
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .and_then(|d| now.checked_add_signed(d))
                .filter(|at| *at <= bounds::LATEST_TIME)
        }),
        // The submitter's span, whatever submits (a client call, a
        // workflow's steps, a schedule's firing).
        trace_context: crate::trace::current(),
    }
}

/// Checks the tags and metadata a submission gives
/// ([`lifecycle::check_tags`], [`lifecycle::check_metadata`]).
pub(crate) fn check_labels(o: &mut Overrides) -> Result<(), Error> {
    o.tags = lifecycle::check_tags(std::mem::take(&mut o.tags))?;
    if let Some(metadata) = o.metadata.take() {
        o.metadata = Some(Value::Object(lifecycle::check_metadata(metadata)?));
    }
    Ok(())
}

/// Gives `record` its concurrency key: the submission's, else the value
/// of the params field its type names (`#[long_task(concurrency(key =
/// "..."))]`), else none. A bad key, or params without the field, is a
/// typed error ([`lifecycle::concurrency_key`]).
pub(crate) fn apply_concurrency_key(
    record: &mut TaskRecord,
    def: &TaskDef,
    o: &Overrides,
) -> Result<(), Error> {
    record.concurrency_key = match (&o.concurrency_key, def.concurrency.key_field) {
        (Some(key), _) => {
            lifecycle::check_concurrency_key(key)?;
            Some(key.clone())
        }
        (None, Some(field)) => Some(lifecycle::concurrency_key(
            &record.task_type,
            field,
            &record.params,
        )?),
        (None, None) => None,
    };
    Ok(())
}

/// Gives `record` the unique key its type declares, or the submission's
/// override: a typed error when the declaration gives no key.
pub(crate) fn apply_unique(
    record: &mut TaskRecord,
    def: &TaskDef,
    o: &Overrides,
) -> Result<(), Error> {
    let mut unique = match &o.unique {
        Some(unique) => unique.clone(),
        None => def.options.unique.clone(),
    };
    if let Some(key) = &o.unique_key {
        let base = unique.unwrap_or_default();
        unique = Some(Unique {
            key: Some(key.clone().into()),
            ..base
        });
    }
    record.unique = unique
        .map(|unique| {
            lifecycle::unique_key(
                &unique,
                &record.task_type,
                &record.params,
                record.created_at,
            )
        })
        .transpose()?;
    Ok(())
}
