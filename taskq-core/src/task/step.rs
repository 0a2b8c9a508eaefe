//! A task's place in a workflow ([`WorkflowStep`]), stored on its record.
//!
//! The rules — when a waiting step is released or cancelled as its parents
//! end — are `lifecycle::parent_ended`; building a workflow is
//! `crate::workflow`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TaskId;

/// A workflow's id (a UUIDv7, like task ids).
pub type WorkflowId = Uuid;

/// What a step of a workflow receives as its params when it runs.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepInput {
    /// Its own params, given when the workflow was submitted (a group's
    /// members, a chain's first step, a batch callback).
    Params,
    /// Its one parent's result (the next link of a chain).
    Result,
    /// Its parents' results as a JSON array, in the parents' order (a
    /// chord's callback).
    Results,
    /// How each parent ended, as an array of
    /// [`StepEnd`](crate::workflow::StepEnd) in the parents' order (a
    /// callback that runs whatever the outcome).
    Ends,
}

/// When a waiting step runs.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunWhen {
    /// Once every parent finished; a parent that fails or is cancelled
    /// cancels the step (and so its own dependents).
    #[default]
    Succeeded,
    /// Once every parent ended, whatever the outcome (a batch's "on
    /// complete" callback).
    Completed,
}

/// The part of a task's record that places it in a workflow.
///
/// A step with parents is stored `WAITING` with `waiting_on` set to their
/// number; each parent that ends counts it down in the same transaction or
/// script that ends the parent, and the last one releases it to `PENDING`
/// (or cancels it, see [`RunWhen`]).
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowStep {
    /// The workflow this step belongs to.
    #[cfg_attr(feature = "http", schema(value_type = uuid::Uuid))]
    pub workflow: WorkflowId,
    /// The step's name in its workflow (unique there).
    pub name: String,
    /// The steps whose end this one waits for, in input order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "http", schema(value_type = Vec<uuid::Uuid>))]
    pub parents: Vec<TaskId>,
    /// The steps that wait for this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "http", schema(value_type = Vec<uuid::Uuid>))]
    pub children: Vec<TaskId>,
    /// Parents that have not ended yet (while the step is `WAITING`).
    #[serde(default)]
    pub waiting_on: u32,
    pub input: StepInput,
    #[serde(default)]
    pub runs: RunWhen,
}

impl WorkflowStep {
    /// A root step of `workflow`: no parents, its own params.
    pub fn root(workflow: WorkflowId, name: impl Into<String>) -> WorkflowStep {
        WorkflowStep {
            workflow,
            name: name.into(),
            parents: Vec::new(),
            children: Vec::new(),
            waiting_on: 0,
            input: StepInput::Params,
            runs: RunWhen::Succeeded,
        }
    }
}
