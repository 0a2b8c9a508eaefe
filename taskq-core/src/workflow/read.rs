//! A stored workflow read back: its steps' records and where it stands.

use std::collections::HashMap;

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

/// A workflow as stored: every step's record, and its edges.
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

    /// Its steps, each before the steps it waits for: leaves first, roots
    /// last (what a cancel of the whole workflow walks, so each step is
    /// cancelled as asked rather than as its parent's dependent).
    pub fn leaves_first(&self) -> Vec<&TaskRecord> {
        let index: HashMap<TaskId, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        // Kahn's algorithm on the reversed edges: a step is ready once
        // every child of it in this record was taken.
        let mut children_left = vec![0usize; self.steps.len()];
        for (parent, child) in &self.edges {
            if let (Some(&p), true) = (index.get(parent), index.contains_key(child)) {
                children_left[p] += 1;
            }
        }
        let mut order: Vec<usize> = (0..self.steps.len())
            .filter(|&i| children_left[i] == 0)
            .collect();
        let mut next = 0;
        while next < order.len() {
            let step = &self.steps[order[next]];
            for parent in step.step.iter().flat_map(|s| &s.parents) {
                if let Some(&p) = index.get(parent) {
                    children_left[p] -= 1;
                    if children_left[p] == 0 {
                        order.push(p);
                    }
                }
            }
            next += 1;
        }
        order.into_iter().map(|i| &self.steps[i]).collect()
    }

    /// How many steps are in `state`.
    pub fn count(&self, state: TaskState) -> usize {
        self.steps.iter().filter(|s| s.state == state).count()
    }
}

#[cfg(all(test, feature = "conformance"))]
mod tests {
    use super::*;
    use crate::task::WorkflowStep;

    /// Listed callback first, then a chain a → b: the callback and `b`
    /// come before `a`, and `a` before nothing it waits for.
    #[test]
    fn leaves_first_puts_every_step_before_its_parents() {
        let workflow = uuid::Uuid::now_v7();
        let mut steps: Vec<TaskRecord> = ["sum", "a", "b"]
            .into_iter()
            .map(|name| {
                let mut task = crate::conformance::record("t", "q", 0, Utc::now());
                task.step = Some(WorkflowStep::root(workflow, name));
                task
            })
            .collect();
        let (sum, a, b) = (steps[0].id, steps[1].id, steps[2].id);
        let parents = [vec![a, b], vec![], vec![a]];
        for (task, parents) in steps.iter_mut().zip(parents) {
            task.step.as_mut().expect("step").parents = parents;
        }
        let record = WorkflowRecord::from_steps(workflow, steps).expect("steps");
        let order: Vec<TaskId> = record.leaves_first().iter().map(|t| t.id).collect();
        let at = |id| order.iter().position(|x| *x == id).expect("listed");
        assert_eq!(order.len(), 3);
        assert!(at(sum) < at(b) && at(b) < at(a), "{order:?}");
    }
}
