//! A `TaskRecord` as a Redis hash: one field per record field, JSON for
//! the structured ones, microseconds for times, nanoseconds for
//! durations; a field is absent when its value is `None` (or `false`, for
//! `cancel_requested`). `lease_until` is not a field: a running task's
//! lease deadline is its score in the queue's running set (see
//! [`set_lease`]), so renewing a lease is one write.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fred::types::Value;

use super::scripts::CLAIM_FIELDS;
use crate::backend::ClaimRequest;
use crate::error::Error;
use crate::lifecycle;
use crate::task::{
    RunWhen, TaskId, TaskRecord, TaskState, UniqueKey, WorkflowStep, states_from_mask,
};

pub(crate) fn micros(at: DateTime<Utc>) -> String {
    at.timestamp_micros().to_string()
}

/// The fields every record has, first and in this order in
/// [`to_fields`]' list: the enqueue script reads their values where they
/// are (`scripts::ENQUEUE`).
pub(crate) const LEADING_FIELDS: [&str; 11] = [
    "id",
    "task_type",
    "params",
    "state",
    "queue",
    "priority",
    "attempt",
    "max_retries",
    "created_at",
    "scheduled_at",
    "seq",
];

/// The hash fields of a new record, as `field, value, field, value…`,
/// starting with the [`LEADING_FIELDS`].
pub(crate) fn to_fields(record: &TaskRecord) -> Result<Vec<String>, Error> {
    let mut fields = vec![
        ("id", record.id.to_string()),
        ("task_type", record.task_type.clone()),
        ("params", json(&record.params)?),
        ("state", record.state.as_str().to_owned()),
        ("queue", record.queue.clone()),
        ("priority", record.priority.to_string()),
        ("attempt", record.attempt.to_string()),
        ("max_retries", record.max_retries.to_string()),
        ("created_at", micros(record.created_at)),
        ("scheduled_at", micros(record.scheduled_at)),
        ("seq", record.seq.to_string()),
    ];
    let optional = [
        ("result", record.result.as_ref().map(json).transpose()?),
        ("error", record.error.as_ref().map(json).transpose()?),
        ("progress", record.progress.as_ref().map(json).transpose()?),
        ("started_at", record.started_at.map(micros)),
        ("finished_at", record.finished_at.map(micros)),
        ("worker_id", record.worker_id.clone()),
        ("timeout", record.timeout.map(nanos)),
        ("soft_timeout", record.soft_timeout.map(nanos)),
        // Absent means not requested.
        (
            "cancel_requested",
            record.cancel_requested.then(|| "1".to_owned()),
        ),
        // The enqueue script reads these to tell whether a holder holds.
        ("unique_key", record.unique.as_ref().map(|u| u.key.clone())),
        (
            "unique_states",
            record.unique.as_ref().map(|u| u.states_mask().to_string()),
        ),
        (
            "unique_until",
            record.unique.as_ref().and_then(|u| u.until).map(micros),
        ),
        // Absent means none.
        (
            "snoozes",
            (record.snoozes > 0).then(|| record.snoozes.to_string()),
        ),
        ("expires_at", record.expires_at.map(micros)),
        // The claim script counts running tasks per key with it.
        ("concurrency_key", record.concurrency_key.clone()),
        // Absent means 0 (not fair); `add_pending` files the task by it.
        (
            "fair_round",
            (record.fair_round > 0).then(|| record.fair_round.to_string()),
        ),
        // The step's count of parents yet to end is a field of its own,
        // which the scripts count down; the rest of the step is JSON.
        ("step", record.step.as_ref().map(json).transpose()?),
        (
            "waiting",
            record.step.as_ref().map(|s| s.waiting_on.to_string()),
        ),
        // Labels: tags as `,a,b,` (a list's filter finds `,a,`).
        ("tags", lifecycle::tags_text(&record.tags)),
        (
            "metadata",
            (!record.metadata.is_empty())
                .then(|| json(&record.metadata))
                .transpose()?,
        ),
        ("schedule", record.schedule.clone()),
        (
            "trace_context",
            record.trace_context.as_ref().map(json).transpose()?,
        ),
        // The attempts' history, a JSON array the scripts append to.
        (
            "history",
            (!record.attempts.is_empty())
                .then(|| json(&record.attempts))
                .transpose()?,
        ),
        // And its run rule, which each parent's end reads: a chord's
        // callback's JSON grows with its parents, the field does not.
        (
            "runs",
            record.step.as_ref().map(|s| {
                match s.runs {
                    RunWhen::Succeeded => "succeeded",
                    RunWhen::Completed => "completed",
                }
                .to_owned()
            }),
        ),
    ];
    fields.extend(
        optional
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v))),
    );
    Ok(fields
        .into_iter()
        .flat_map(|(name, value)| [name.to_owned(), value])
        .collect())
}

/// A time as it reads back from Redis (whole microseconds).
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

fn nanos(duration: Duration) -> String {
    duration.as_nanos().to_string()
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::Serialization)
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::backend(format!("malformed task record in Redis: {what}"))
}

/// Reads a record from `HGETALL`'s flat reply.
pub(crate) fn from_value(value: Value) -> Result<TaskRecord, Error> {
    let Value::Array(items) = value else {
        return Err(corrupt("expected an array of fields"));
    };
    let mut strings = items.into_iter().map(|item| {
        item.into_string()
            .ok_or_else(|| corrupt("a field is not a string"))
    });
    let mut fields = std::collections::HashMap::new();
    while let Some(name) = strings.next() {
        let value = strings
            .next()
            .ok_or_else(|| corrupt("odd number of items"))??;
        fields.insert(name?, value);
    }
    if fields.is_empty() {
        return Err(corrupt("no fields"));
    }
    let text = |name: &str| -> Result<&str, Error> {
        fields
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| corrupt(format_args!("field `{name}` missing")))
    };
    let number = |name: &str| -> Result<i64, Error> {
        text(name)?
            .parse()
            .map_err(|e| corrupt(format_args!("field `{name}`: {e}")))
    };
    let time = |raw: &str| -> Result<DateTime<Utc>, Error> {
        raw.parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(|| corrupt(format_args!("time `{raw}`")))
    };
    let opt_time = |name: &str| fields.get(name).map(|raw| time(raw)).transpose();
    let opt_duration = |name: &str| {
        fields
            .get(name)
            .map(|raw| {
                raw.parse::<u64>()
                    .map(Duration::from_nanos)
                    .map_err(|e| corrupt(format_args!("field `{name}`: {e}")))
            })
            .transpose()
    };
    let small = |name: &str| -> Result<u32, Error> {
        u32::try_from(number(name)?).map_err(|e| corrupt(format_args!("field `{name}`: {e}")))
    };
    let state = text("state")?.parse::<TaskState>()?;
    Ok(TaskRecord {
        id: text("id")?
            .parse()
            .map_err(|e| corrupt(format_args!("id: {e}")))?,
        task_type: text("task_type")?.to_owned(),
        params: serde_json::from_str(text("params")?).map_err(Error::Serialization)?,
        state,
        queue: text("queue")?.to_owned(),
        priority: i32::try_from(number("priority")?)
            .map_err(|e| corrupt(format_args!("priority: {e}")))?,
        attempt: small("attempt")?,
        max_retries: small("max_retries")?,
        result: opt_json(&fields, "result")?,
        error: opt_json(&fields, "error")?,
        progress: opt_json(&fields, "progress")?,
        created_at: time(text("created_at")?)?,
        scheduled_at: time(text("scheduled_at")?)?,
        started_at: opt_time("started_at")?,
        finished_at: opt_time("finished_at")?,
        worker_id: fields.get("worker_id").cloned(),
        lease_until: None,
        // Settling leaves a request on the record; once ended it means
        // nothing (see `scripts.rs`, "The running set").
        cancel_requested: !state.is_terminal()
            && fields.get("cancel_requested").is_some_and(|v| v == "1"),
        timeout: opt_duration("timeout")?,
        soft_timeout: opt_duration("soft_timeout")?,
        seq: number("seq")?,
        unique: unique_key(
            fields.get("unique_key").map(String::as_str),
            fields.get("unique_states").map(String::as_str),
            fields.get("unique_until").map(String::as_str),
        )?,
        step: step(&fields)?,
        attempts: opt_json(&fields, "history")?.unwrap_or_default(),
        tags: lifecycle::tags_from_text(fields.get("tags").map(String::as_str)),
        metadata: opt_json(&fields, "metadata")?.unwrap_or_default(),
        schedule: fields.get("schedule").cloned(),
        snoozes: fields
            .get("snoozes")
            .map(|raw| raw.parse())
            .transpose()
            .map_err(|e| corrupt(format_args!("field `snoozes`: {e}")))?
            .unwrap_or(0),
        expires_at: opt_time("expires_at")?,
        concurrency_key: fields.get("concurrency_key").cloned(),
        fair_round: fields
            .get("fair_round")
            .map(|raw| raw.parse())
            .transpose()
            .map_err(|e| corrupt(format_args!("field `fair_round`: {e}")))?
            .unwrap_or(0),
        trace_context: opt_json(&fields, "trace_context")?,
    })
}

/// A record's workflow step from its `step` (JSON) and `waiting` fields.
fn step(fields: &std::collections::HashMap<String, String>) -> Result<Option<WorkflowStep>, Error> {
    let Some(mut step) = opt_json::<WorkflowStep>(fields, "step")? else {
        return Ok(None);
    };
    if let Some(raw) = fields.get("waiting") {
        step.waiting_on = raw
            .parse()
            .map_err(|e| corrupt(format_args!("field `waiting`: {e}")))?;
    }
    Ok(Some(step))
}

/// A record's unique key from its three hash fields (all absent when the
/// task was not submitted unique).
fn unique_key(
    key: Option<&str>,
    states: Option<&str>,
    until: Option<&str>,
) -> Result<Option<UniqueKey>, Error> {
    let Some(key) = key else { return Ok(None) };
    let mask: u8 = states
        .unwrap_or_default()
        .parse()
        .map_err(|e| corrupt(format_args!("field `unique_states`: {e}")))?;
    let until = until
        .map(|raw| {
            raw.parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(|| corrupt(format_args!("field `unique_until`: {raw}")))
        })
        .transpose()?;
    Ok(Some(UniqueKey {
        key: key.to_owned(),
        states: states_from_mask(mask),
        until,
    }))
}

/// A running attempt's member in its queue's running set, as the scripts'
/// `running_member` writes it (see `scripts.rs`, "The running set").
pub(crate) fn running_member(id: TaskId, attempt: u32) -> String {
    format!("{id}:{attempt}")
}

/// Sets a record's lease from its running-set score (`ZSCORE`'s reply for
/// `<id>:<attempt>`: nil when not running).
pub(crate) fn set_lease(record: &mut TaskRecord, score: &Value) -> Result<(), Error> {
    record.lease_until = match score {
        Value::Null => None,
        score => {
            let micros = score
                .as_f64()
                .ok_or_else(|| corrupt(format_args!("lease score {score:?}")))?;
            Some(
                DateTime::from_timestamp_micros(micros as i64)
                    .ok_or_else(|| corrupt(format_args!("lease score {micros}")))?,
            )
        }
    };
    Ok(())
}

fn opt_json<T: serde::de::DeserializeOwned>(
    fields: &std::collections::HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, Error> {
    fields
        .get(name)
        .map(|raw| serde_json::from_str(raw).map_err(Error::Serialization))
        .transpose()
}

/// Reads the claim script's reply (after its first item): per task its
/// id, new attempt and the [`CLAIM_FIELDS`] in order. The rest of a
/// claimed record is what the claim set.
pub(crate) fn from_claim(
    items: impl Iterator<Item = Value>,
    request: &ClaimRequest<'_>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<TaskRecord>, Error> {
    const WIDTH: usize = 2 + CLAIM_FIELDS.len();
    let items: Vec<Value> = items.collect();
    if !items.len().is_multiple_of(WIDTH) {
        return Err(corrupt("claim reply of an odd length"));
    }
    // Fields are read in place (borrowed): only the task type becomes an
    // owned string; numbers, times and JSON parse from the reply.
    let name = |i: usize| match i {
        0 => "id",
        1 => "attempt",
        _ => CLAIM_FIELDS[i - 2],
    };
    let place = |field: &str| {
        CLAIM_FIELDS
            .iter()
            .position(|f| *f == field)
            .map_or(usize::MAX, |p| p + 2)
    };
    let at = Places {
        task_type: place("task_type"),
        params: place("params"),
        priority: place("priority"),
        max_retries: place("max_retries"),
        created_at: place("created_at"),
        scheduled_at: place("scheduled_at"),
        seq: place("seq"),
        error: place("error"),
        timeout: place("timeout"),
        soft_timeout: place("soft_timeout"),
        cancel_requested: place("cancel_requested"),
        unique_key: place("unique_key"),
        unique_states: place("unique_states"),
        unique_until: place("unique_until"),
        step: place("step"),
        waiting: place("waiting"),
        history: place("history"),
        tags: place("tags"),
        metadata: place("metadata"),
        schedule: place("schedule"),
        snoozes: place("snoozes"),
        expires_at: place("expires_at"),
        concurrency_key: place("concurrency_key"),
        trace_context: place("trace_context"),
        fair_round: place("fair_round"),
    };
    let mut records = Vec::with_capacity(items.len() / WIDTH);
    for task in items.chunks_exact(WIDTH) {
        // Absent optional fields come back as nil.
        let optional = |i: usize| -> Result<Option<Cow<'_, str>>, Error> {
            match task.get(i) {
                Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_str()
                    .map(Some)
                    .ok_or_else(|| corrupt(format_args!("field `{}` is not a string", name(i)))),
                None => Err(corrupt("claim reply cut short")),
            }
        };
        let required = |i: usize| -> Result<Cow<'_, str>, Error> {
            optional(i)?.ok_or_else(|| corrupt(format_args!("field `{}` missing", name(i))))
        };
        let number = |i: usize| -> Result<i64, Error> {
            required(i)?
                .parse()
                .map_err(|e| corrupt(format_args!("field `{}`: {e}", name(i))))
        };
        let small = |i: usize| -> Result<u32, Error> {
            u32::try_from(number(i)?).map_err(|e| corrupt(format_args!("{}: {e}", name(i))))
        };
        let time = |i: usize| -> Result<DateTime<Utc>, Error> {
            DateTime::from_timestamp_micros(number(i)?)
                .ok_or_else(|| corrupt(format_args!("field `{}`: not a time", name(i))))
        };
        let duration = |i: usize| -> Result<Option<Duration>, Error> {
            optional(i)?
                .map(|raw| {
                    raw.parse::<u64>()
                        .map(Duration::from_nanos)
                        .map_err(|e| corrupt(format_args!("field `{}`: {e}", name(i))))
                })
                .transpose()
        };
        records.push(TaskRecord {
            id: required(0)?.parse().map_err(|_| corrupt("claimed id"))?,
            task_type: required(at.task_type)?.into_owned(),
            params: serde_json::from_str(&required(at.params)?).map_err(Error::Serialization)?,
            state: TaskState::Running,
            queue: request.queue.to_owned(),
            priority: i32::try_from(number(at.priority)?)
                .map_err(|e| corrupt(format_args!("priority: {e}")))?,
            attempt: small(1)?,
            max_retries: small(at.max_retries)?,
            result: None,
            error: optional(at.error)?
                .map(|raw| serde_json::from_str(&raw).map_err(Error::Serialization))
                .transpose()?,
            progress: None,
            created_at: time(at.created_at)?,
            scheduled_at: time(at.scheduled_at)?,
            started_at: Some(stored(request.now)),
            finished_at: None,
            worker_id: Some(request.worker_id.to_owned()),
            lease_until: Some(stored(lease_until)),
            cancel_requested: optional(at.cancel_requested)?.is_some_and(|v| v == "1"),
            timeout: duration(at.timeout)?,
            soft_timeout: duration(at.soft_timeout)?,
            seq: number(at.seq)?,
            unique: unique_key(
                optional(at.unique_key)?.as_deref(),
                optional(at.unique_states)?.as_deref(),
                optional(at.unique_until)?.as_deref(),
            )?,
            // The count is its own field (see `to_fields`): 0 once
            // released, but a step cancelled while waiting and retried
            // keeps the count it had.
            step: optional(at.step)?
                .map(|raw| serde_json::from_str::<WorkflowStep>(&raw).map_err(Error::Serialization))
                .transpose()?
                .map(|step| -> Result<WorkflowStep, Error> {
                    Ok(WorkflowStep {
                        waiting_on: optional(at.waiting)?
                            .map(|raw| raw.parse())
                            .transpose()
                            .map_err(|e| corrupt(format_args!("field `waiting`: {e}")))?
                            .unwrap_or(0),
                        ..step
                    })
                })
                .transpose()?,
            attempts: optional(at.history)?
                .map(|raw| serde_json::from_str(&raw).map_err(Error::Serialization))
                .transpose()?
                .unwrap_or_default(),
            tags: lifecycle::tags_from_text(optional(at.tags)?.as_deref()),
            metadata: optional(at.metadata)?
                .map(|raw| serde_json::from_str(&raw).map_err(Error::Serialization))
                .transpose()?
                .unwrap_or_default(),
            schedule: optional(at.schedule)?.map(Cow::into_owned),
            snoozes: optional(at.snoozes)?
                .map(|raw| raw.parse())
                .transpose()
                .map_err(|e| corrupt(format_args!("field `snoozes`: {e}")))?
                .unwrap_or(0),
            expires_at: optional(at.expires_at)?
                .map(|_| time(at.expires_at))
                .transpose()?,
            concurrency_key: optional(at.concurrency_key)?.map(Cow::into_owned),
            fair_round: optional(at.fair_round)?
                .map(|raw| raw.parse())
                .transpose()
                .map_err(|e| corrupt(format_args!("field `fair_round`: {e}")))?
                .unwrap_or(0),
            trace_context: optional(at.trace_context)?
                .map(|raw| serde_json::from_str(&raw).map_err(Error::Serialization))
                .transpose()?,
        });
    }
    Ok(records)
}

/// Where each field sits in one task's part of the claim reply.
struct Places {
    task_type: usize,
    params: usize,
    priority: usize,
    max_retries: usize,
    created_at: usize,
    scheduled_at: usize,
    seq: usize,
    error: usize,
    timeout: usize,
    soft_timeout: usize,
    cancel_requested: usize,
    unique_key: usize,
    unique_states: usize,
    unique_until: usize,
    step: usize,
    waiting: usize,
    history: usize,
    tags: usize,
    metadata: usize,
    schedule: usize,
    snoozes: usize,
    expires_at: usize,
    concurrency_key: usize,
    trace_context: usize,
    fair_round: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scripts::ENQUEUE` reads the leading fields' values by place.
    #[test]
    fn redis_record_fields_start_with_the_leading_ones() {
        let record = crate::lifecycle::test_record::pending(chrono::Utc::now());
        let fields = to_fields(&record).expect("fields");
        let names: Vec<&str> = fields.iter().step_by(2).map(String::as_str).collect();
        assert_eq!(names[..LEADING_FIELDS.len()], LEADING_FIELDS);
        assert_eq!(fields[1], record.id.to_string());
    }
}
