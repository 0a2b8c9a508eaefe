//! What a step receives from its parents, read when it starts: the
//! parents' records are the one source of their results, so a retried
//! step sees them as they are then.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::sync::Arc;

use crate::backend::{Backend, Store};
use crate::context::TaskContext;
use crate::error::TaskError;
use crate::registry::{HandlerFuture, TaskDef};
use crate::task::{ErrorKind, StepInput, TaskFailure, TaskId, TaskRecord, TaskState, WorkflowStep};

/// How one parent of a step that runs whatever the outcome ended (input
/// [`StepInput::Ends`]).
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepEnd {
    #[cfg_attr(feature = "http", schema(value_type = uuid::Uuid))]
    pub id: TaskId,
    /// The parent step's name in the workflow.
    pub name: String,
    pub task_type: String,
    pub state: TaskState,
    /// Its result, when it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Its error, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskFailure>,
}

impl StepEnd {
    /// The parts of a parent's record its children read.
    pub fn of(record: TaskRecord) -> StepEnd {
        StepEnd {
            id: record.id,
            name: record.step.map(|s| s.name).unwrap_or_default(),
            task_type: record.task_type,
            state: record.state,
            result: record.result,
            error: record.error,
        }
    }
}

/// The params a step with `input` from `parents` runs with, read from
/// `store`; `Ok(None)` for [`StepInput::Params`] (its own). A parent that
/// is gone (deleted, purged) or, for `result`/`results`, did not finish,
/// fails the attempt for good.
pub async fn resolve_input(
    store: &dyn Store,
    input: StepInput,
    parents: &[TaskId],
) -> Result<Option<Value>, TaskFailure> {
    resolve_input_near(store, input, parents, None).await
}

/// [`resolve_input`] for a step of `queue`, where [`Store::step_parents`]
/// looks for its parents first.
async fn resolve_input_near(
    store: &dyn Store,
    input: StepInput,
    parents: &[TaskId],
    queue: Option<&str>,
) -> Result<Option<Value>, TaskFailure> {
    if input == StepInput::Params {
        return Ok(None);
    }
    let records = store
        .step_parents(parents, queue)
        .await
        .map_err(|e| TaskFailure {
            kind: ErrorKind::Retryable,
            message: format!("reading the step's parents: {e}"),
        })?;
    let mut by_id: std::collections::HashMap<TaskId, StepEnd> =
        records.into_iter().map(|r| (r.id, r)).collect();
    let mut ordered = Vec::with_capacity(parents.len());
    for id in parents {
        let record = by_id.remove(id).ok_or_else(|| TaskFailure {
            kind: ErrorKind::InvalidParams,
            message: format!("parent step {id} is gone (deleted or purged)"),
        })?;
        ordered.push(record);
    }
    let result = |record: StepEnd| match record.state {
        TaskState::Finished => Ok(record.result.unwrap_or(Value::Null)),
        state => Err(TaskFailure {
            kind: ErrorKind::ParentFailed,
            message: format!("parent step {} is {state}, not FINISHED", record.id),
        }),
    };
    Ok(Some(match input {
        StepInput::Params => return Ok(None),
        StepInput::Result => match ordered.pop() {
            Some(parent) => result(parent)?,
            None => Value::Null,
        },
        StepInput::Results => {
            Value::Array(ordered.into_iter().map(result).collect::<Result<_, _>>()?)
        }
        StepInput::Ends => serde_json::to_value(ordered).map_err(|e| TaskFailure {
            kind: ErrorKind::InvalidParams,
            message: e.to_string(),
        })?,
    }))
}

/// The handler future of one attempt: `def`'s handler on `params`, or,
/// for a workflow step whose input comes from its parents, on what
/// [`resolve_input`] reads from `store` when the attempt starts. A
/// failure to read them fails the attempt with its kind (a backend error
/// is retryable, a parent gone or not finished is not).
pub(crate) fn attempt_handler(
    def: &TaskDef,
    ctx: TaskContext,
    params: Value,
    step: Option<&WorkflowStep>,
    store: Option<Arc<dyn Backend>>,
) -> HandlerFuture {
    let (Some(step), Some(store)) = (step.filter(|s| s.input != StepInput::Params), store) else {
        return (def.handler)(ctx, params);
    };
    let handler = def.handler;
    let input = step.input;
    let parents = step.parents.clone();
    let queue = ctx.queue().to_owned();
    Box::pin(async move {
        match resolve_input_near(store.as_ref(), input, &parents, Some(&queue)).await {
            Ok(resolved) => handler(ctx, resolved.unwrap_or(params)).await,
            Err(failure) => Err(TaskError::new(failure.kind, failure.message)),
        }
    })
}
