//! The workers as the registry sees them: their states, the controls an
//! operator sends them, and what each reports at its heartbeat. Plain data,
//! below the [`WorkerRegistry`](crate::backend::WorkerRegistry) trait that
//! stores it, so errors can name a worker's state.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::task::TaskId;

/// What a worker is doing: as it last reported, or [`WorkerState::Gone`]
/// once its heartbeat is overdue.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Claiming and running tasks.
    Running,
    /// Not claiming; its in-flight tasks go on.
    Paused,
    /// Shutting down gracefully: not claiming, finishing in-flight tasks.
    Stopping,
    /// No heartbeat since [`WorkerInfo::expires_at`]: it died or lost the
    /// backend. Never reported by a worker, only seen.
    Gone,
}

impl WorkerState {
    /// Every state.
    pub const ALL: [WorkerState; 4] = [
        WorkerState::Running,
        WorkerState::Paused,
        WorkerState::Stopping,
        WorkerState::Gone,
    ];

    /// The stored and serialized name (`running`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkerState::Running => "running",
            WorkerState::Paused => "paused",
            WorkerState::Stopping => "stopping",
            WorkerState::Gone => "gone",
        }
    }

    /// The state named by [`WorkerState::as_str`].
    pub fn parse(name: &str) -> Option<WorkerState> {
        WorkerState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an operator asks of a worker, through [`WorkerRegistry::control_worker`](crate::backend::WorkerRegistry::control_worker).
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerControl {
    /// Stop claiming; in-flight tasks go on.
    Pause,
    /// Claim again after a pause.
    Resume,
    /// Shut down gracefully, as [`crate::ShutdownHandle::shutdown`].
    Shutdown,
}

impl WorkerControl {
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkerControl::Pause => "pause",
            WorkerControl::Resume => "resume",
            WorkerControl::Shutdown => "shutdown",
        }
    }
}

impl std::fmt::Display for WorkerControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One queue a worker serves.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerQueue {
    pub name: String,
    /// Most tasks of this queue the worker runs at once.
    pub concurrency: u32,
}

/// A worker as the registry knows it: what it reported at its last
/// heartbeat, plus the state an operator asked of it.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// The worker's id (as in [`TaskRecord::worker_id`](crate::task::TaskRecord::worker_id)).
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub queues: Vec<WorkerQueue>,
    /// The task types it has handlers for, by name (sorted): the only
    /// ones it claims, on every queue it serves. A record written by a
    /// version before workers reported them reads as empty.
    #[serde(default)]
    pub task_types: Vec<String>,
    /// Tasks it was running at its last heartbeat.
    pub in_flight_count: u64,
    /// Their ids, at most [`WorkerInfo::IN_FLIGHT_IDS_MAX`] of them.
    #[cfg_attr(feature = "http", schema(value_type = Vec<uuid::Uuid>))]
    pub in_flight: Vec<TaskId>,
    pub state: WorkerState,
    /// The state last asked for through [`WorkerRegistry::control_worker`](crate::backend::WorkerRegistry::control_worker)
    /// (`None`: never); the worker moves to it at its next heartbeat.
    pub requested: Option<WorkerState>,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Without another heartbeat by then, the worker is
    /// [`WorkerState::Gone`] (a lease after its last heartbeat).
    pub expires_at: DateTime<Utc>,
}

/// How long a gone worker stays listed (as [`WorkerState::Gone`]) before
/// the registry forgets it.
pub const WORKER_GONE_KEPT: Duration = Duration::from_secs(600);

impl WorkerInfo {
    /// In-flight ids a heartbeat carries at most (the count is exact).
    pub const IN_FLIGHT_IDS_MAX: usize = 100;

    /// The record as seen at `now`: [`WorkerState::Gone`] once expired,
    /// `None` once forgotten (past [`WorkerInfo::forget_at`]).
    pub fn seen_at(mut self, now: DateTime<Utc>) -> Option<WorkerInfo> {
        if self.forget_at() < now {
            return None;
        }
        if self.expires_at < now {
            self.state = WorkerState::Gone;
        }
        Some(self)
    }

    /// Whether it may still claim: running or paused (a paused worker
    /// resumes), not stopping and not gone.
    pub fn is_live(&self) -> bool {
        matches!(self.state, WorkerState::Running | WorkerState::Paused)
    }

    /// Whether it would claim a task of `task_type` from `queue`: it is
    /// live, serves the queue and has a handler for the type.
    pub fn can_take(&self, queue: &str, task_type: &str) -> bool {
        self.is_live()
            && self.queues.iter().any(|q| q.name == queue)
            && self.task_types.iter().any(|t| t == task_type)
    }

    /// When the registry forgets this worker if it beats no more.
    pub fn forget_at(&self) -> DateTime<Utc> {
        self.expires_at + chrono::Duration::from_std(WORKER_GONE_KEPT).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report stored by a version before workers sent their task types
    /// (Redis keeps reports as this JSON) still reads, with none.
    #[test]
    fn workers_report_stored_without_task_types_reads_as_none() {
        let stored = serde_json::json!({
            "id": "w-old", "host": "h", "pid": 7,
            "queues": [{ "name": "default", "concurrency": 2 }],
            "in_flight_count": 0, "in_flight": [], "state": "running",
            "requested": null,
            "started_at": "2026-01-01T00:00:00Z",
            "heartbeat_at": "2026-01-01T00:00:01Z",
            "expires_at": "2026-01-01T00:00:31Z",
        });
        let worker: WorkerInfo = serde_json::from_value(stored).expect("old report");
        assert!(worker.task_types.is_empty());
        assert!(worker.is_live());
        assert!(!worker.can_take("default", "anything"));
    }
}
