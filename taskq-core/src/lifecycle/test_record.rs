//! A plain pending record for the rules' unit tests.

use chrono::{DateTime, Utc};

use crate::task::{TaskRecord, TaskState};

/// A pending task of type `t` in queue `q`, submitted and due at `at`.
pub(crate) fn pending(at: DateTime<Utc>) -> TaskRecord {
    TaskRecord {
        id: uuid::Uuid::now_v7(),
        task_type: "t".into(),
        params: serde_json::Value::Null,
        state: TaskState::Pending,
        queue: "q".into(),
        priority: 0,
        attempt: 0,
        max_retries: 0,
        result: None,
        error: None,
        progress: None,
        created_at: at,
        scheduled_at: at,
        started_at: None,
        finished_at: None,
        worker_id: None,
        lease_until: None,
        cancel_requested: false,
        timeout: None,
        soft_timeout: None,
        seq: 0,
        fair_round: 0,
        unique: None,
        step: None,
        attempts: Vec::new(),
        tags: Vec::new(),
        metadata: serde_json::Map::new(),
        schedule: None,
        snoozes: 0,
        expires_at: None,
        concurrency_key: None,
        trace_context: None,
    }
}
