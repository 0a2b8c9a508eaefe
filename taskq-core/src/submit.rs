//! A new task's record: its type's options, overridden per submission.
//! Shared by the client's submissions and the scheduler's firings, so a
//! task made either way is the same record.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::registry::TaskDef;
use crate::task::{TaskRecord, TaskState, seq_for};

/// Per-submission overrides of a task type's options.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) queue: Option<String>,
    pub(crate) priority: Option<i32>,
    pub(crate) run_at: Option<DateTime<Utc>>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) soft_timeout: Option<Duration>,
}

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
    }
}
