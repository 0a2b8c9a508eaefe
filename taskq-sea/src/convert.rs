//! Between [`TaskRecord`] and the `taskq_tasks` row ([`task::Model`]).

use std::time::Duration;

use taskq_core::lifecycle;
use taskq_core::task::states_from_mask;
use taskq_core::{
    Error, ErrorKind, Progress, TaskFailure, TaskRecord, TaskState, UniqueKey, WorkflowStep,
};

use crate::entity::task;

impl From<TaskRecord> for task::Model {
    fn from(record: TaskRecord) -> Self {
        let (error_kind, error_message) = match record.error {
            Some(error) => (Some(error.kind.as_str().to_owned()), Some(error.message)),
            None => (None, None),
        };
        let (progress_fraction, progress_message) = match record.progress {
            Some(progress) => (Some(progress.fraction), Some(progress.message)),
            None => (None, None),
        };
        task::Model {
            id: record.id,
            task_type: record.task_type,
            params: record.params,
            state: record.state.as_str().to_owned(),
            queue: record.queue,
            priority: record.priority,
            attempt: count_to_db(record.attempt),
            max_retries: count_to_db(record.max_retries),
            result: record.result,
            error_kind,
            error_message,
            progress_fraction,
            progress_message,
            created_at: record.created_at,
            scheduled_at: record.scheduled_at,
            started_at: record.started_at,
            finished_at: record.finished_at,
            lease_until: record.lease_until,
            worker_id: record.worker_id,
            cancel_requested: record.cancel_requested,
            timeout_ms: record.timeout.map(duration_to_ms),
            soft_timeout_ms: record.soft_timeout.map(duration_to_ms),
            seq: record.seq,
            fair_round: i64::try_from(record.fair_round).unwrap_or(i64::MAX),
            unique_states: record.unique.as_ref().map(|u| i16::from(u.states_mask())),
            unique_until: record.unique.as_ref().and_then(|u| u.until),
            unique_key: record.unique.map(|u| u.key),
            workflow_id: record.step.as_ref().map(|s| s.workflow),
            waiting_on: record.step.as_ref().map(|s| count_to_db(s.waiting_on)),
            // A step is ids, names and enums: serializing it cannot fail.
            workflow_step: record.step.and_then(|s| serde_json::to_value(s).ok()),
            attempts: (!record.attempts.is_empty())
                .then(|| serde_json::to_value(&record.attempts).ok())
                .flatten(),
            tags: lifecycle::tags_text(&record.tags),
            metadata: (!record.metadata.is_empty())
                .then_some(serde_json::Value::Object(record.metadata)),
            schedule: record.schedule,
            snoozes: count_to_db(record.snoozes),
            expires_at: record.expires_at,
            concurrency_key: record.concurrency_key,
            // A map of strings: serializing it cannot fail.
            trace_context: record
                .trace_context
                .and_then(|context| serde_json::to_value(context).ok()),
        }
    }
}

impl TryFrom<task::Model> for TaskRecord {
    type Error = Error;

    fn try_from(row: task::Model) -> Result<Self, Error> {
        let id = row.id;
        let corrupt = |what: &str| Error::backend(format!("task {id}: stored {what} is invalid"));
        let error = match (row.error_kind, row.error_message) {
            (Some(kind), message) => Some(TaskFailure {
                kind: kind
                    .parse::<ErrorKind>()
                    .map_err(|_| corrupt("error_kind"))?,
                message: message.unwrap_or_default(),
            }),
            (None, _) => None,
        };
        let progress = row.progress_fraction.map(|fraction| Progress {
            fraction,
            message: row.progress_message.unwrap_or_default(),
        });
        Ok(TaskRecord {
            id,
            task_type: row.task_type,
            params: row.params,
            state: row
                .state
                .parse::<TaskState>()
                .map_err(|_| corrupt("state"))?,
            queue: row.queue,
            priority: row.priority,
            attempt: u32::try_from(row.attempt).map_err(|_| corrupt("attempt"))?,
            max_retries: u32::try_from(row.max_retries).map_err(|_| corrupt("max_retries"))?,
            result: row.result,
            error,
            progress,
            created_at: row.created_at,
            scheduled_at: row.scheduled_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            worker_id: row.worker_id,
            lease_until: row.lease_until,
            cancel_requested: row.cancel_requested,
            timeout: ms_to_duration(row.timeout_ms).map_err(|_| corrupt("timeout_ms"))?,
            soft_timeout: ms_to_duration(row.soft_timeout_ms)
                .map_err(|_| corrupt("soft_timeout_ms"))?,
            seq: row.seq,
            fair_round: u64::try_from(row.fair_round).map_err(|_| corrupt("fair_round"))?,
            unique: match row.unique_key {
                Some(key) => Some(UniqueKey {
                    key,
                    states: states_from_mask(
                        u8::try_from(row.unique_states.unwrap_or(0))
                            .map_err(|_| corrupt("unique_states"))?,
                    ),
                    until: row.unique_until,
                }),
                None => None,
            },
            step: match row.workflow_step {
                Some(json) => {
                    let mut step: WorkflowStep =
                        serde_json::from_value(json).map_err(|_| corrupt("workflow_step"))?;
                    step.waiting_on = count_from_db(row.waiting_on.unwrap_or(0));
                    Some(step)
                }
                None => None,
            },
            attempts: match row.attempts {
                Some(json) => serde_json::from_value(json).map_err(|_| corrupt("attempts"))?,
                None => Vec::new(),
            },
            tags: lifecycle::tags_from_text(row.tags.as_deref()),
            metadata: match row.metadata {
                Some(serde_json::Value::Object(map)) => map,
                Some(_) => return Err(corrupt("metadata")),
                None => serde_json::Map::new(),
            },
            schedule: row.schedule,
            snoozes: count_from_db(row.snoozes),
            expires_at: row.expires_at,
            concurrency_key: row.concurrency_key,
            trace_context: row
                .trace_context
                .map(serde_json::from_value)
                .transpose()
                .map_err(|_| corrupt("trace_context"))?,
        })
    }
}

/// Converts rows into records, failing on the first corrupt row.
pub(crate) fn records(rows: Vec<task::Model>) -> Result<Vec<TaskRecord>, Error> {
    rows.into_iter().map(TaskRecord::try_from).collect()
}

/// Attempt counters are `u32` in Rust and a signed 32-bit integer in SQL;
/// counts past `i32::MAX` (an effectively unlimited retry budget) are
/// stored as `i32::MAX`.
pub(crate) fn count_to_db(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// A stored counter back in Rust; a negative one (never written by
/// taskq) reads as 0.
pub(crate) fn count_from_db(count: i32) -> u32 {
    u32::try_from(count).unwrap_or(0)
}

/// Durations are stored in whole milliseconds (sub-millisecond parts are
/// rounded up, so a non-zero timeout never becomes zero).
pub(crate) fn duration_to_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX)
}

fn ms_to_duration(ms: Option<i64>) -> Result<Option<Duration>, std::num::TryFromIntError> {
    ms.map(|ms| u64::try_from(ms).map(Duration::from_millis))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_up_to_milliseconds() {
        assert_eq!(duration_to_ms(Duration::from_secs(2)), 2000);
        assert_eq!(duration_to_ms(Duration::from_micros(1500)), 2);
        assert_eq!(duration_to_ms(Duration::from_nanos(1)), 1);
        assert_eq!(duration_to_ms(Duration::ZERO), 0);
    }

    #[test]
    fn counts_saturate() {
        assert_eq!(count_to_db(3), 3);
        assert_eq!(count_to_db(u32::MAX), i32::MAX);
    }
}
