//! A stored workflow read back: its steps' records and where it stands.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::task::{TaskId, TaskRecord, TaskState, WorkflowId};

/// Where a workflow stands, from its steps' states.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkflowState {
    /// Some step has not ended.
    Running,
    /// Every step finished.
    Finished,
    /// Every step ended, and some failed.
    Failed,
    /// Every step ended, none failed, some were cancelled.
    Cancelled,
}

/// A workflow as stored: every step's record, parents first.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    #[cfg_attr(feature = "http", schema(value_type = uuid::Uuid))]
    pub id: WorkflowId,
    pub state: WorkflowState,
    /// When its first step was submitted.
    pub created_at: DateTime<Utc>,
    /// When its last step ended, once every step has.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its steps' records (each with its [`step`](TaskRecord::step)), in
    /// submission order.
    pub steps: Vec<TaskRecord>,
    /// `[parent, child]` task id pairs.
    #[cfg_attr(feature = "http", schema(value_type = Vec<Vec<uuid::Uuid>>))]
    pub edges: Vec<(TaskId, TaskId)>,
}

impl WorkflowRecord {
    /// Builds the record from its steps' records (any order); `None` when
    /// there are none.
    pub fn from_steps(id: WorkflowId, mut steps: Vec<TaskRecord>) -> Option<WorkflowRecord> {
        if steps.is_empty() {
            return None;
        }
        // Ids are v7, drawn in submission order: sorting by id is that order.
        steps.sort_by_key(|s| s.id);
        let ended = steps.iter().all(|s| s.state.is_terminal());
        let state = if !ended {
            WorkflowState::Running
        } else if steps
            .iter()
            // An expired step is one that did not finish, as a failed one.
            .any(|s| matches!(s.state, TaskState::Failed | TaskState::Expired))
        {
            WorkflowState::Failed
        } else if steps.iter().any(|s| s.state == TaskState::Cancelled) {
            WorkflowState::Cancelled
        } else {
            WorkflowState::Finished
        };
        let edges = steps
            .iter()
            .flat_map(|s| {
                let parents = s
                    .step
                    .as_ref()
                    .map(|st| st.parents.as_slice())
                    .unwrap_or(&[]);
                parents.iter().map(move |p| (*p, s.id))
            })
            .collect();
        Some(WorkflowRecord {
            id,
            state,
            created_at: steps.iter().map(|s| s.created_at).min()?,
            finished_at: if ended {
                steps.iter().filter_map(|s| s.finished_at).max()
            } else {
                None
            },
            steps,
            edges,
        })
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&TaskRecord> {
        self.steps
            .iter()
            .find(|s| s.step.as_ref().is_some_and(|st| st.name == name))
    }

    /// How many steps are in `state`.
    pub fn count(&self, state: TaskState) -> usize {
        self.steps.iter().filter(|s| s.state == state).count()
    }
}
