//! The client's workflow calls: submit, read, wait, cancel.

use std::time::Duration;

use chrono::Utc;

use super::builder::Workflow;
use super::read::WorkflowRecord;
use super::records::Placement;
use super::spec::WorkflowSpec;
use crate::client::Client;
use crate::error::Error;
use crate::task::{TaskId, WorkflowId};
use crate::wait::{Waited, deadline};

impl Client {
    /// Checks a workflow whole and stores every step or none: roots
    /// `PENDING`, the rest `WAITING` for their parents. Answers with the
    /// workflow's id. See [`crate::workflow`].
    pub async fn submit_workflow(&self, workflow: Workflow) -> Result<WorkflowId, Error> {
        let (spec, ids, misuse) = workflow.into_parts();
        if let Some(err) = misuse {
            return Err(err);
        }
        self.store_workflow(spec, Some(ids)).await
    }

    /// [`Client::submit_workflow`] by names and JSON: each step is checked
    /// against its task type's params, and one bad step refuses the whole
    /// workflow ([`Error::InvalidWorkflow`] naming it).
    pub async fn submit_workflow_spec(&self, spec: WorkflowSpec) -> Result<WorkflowId, Error> {
        self.store_workflow(spec, None).await
    }

    async fn store_workflow(
        &self,
        spec: WorkflowSpec,
        ids: Option<Vec<TaskId>>,
    ) -> Result<WorkflowId, Error> {
        let placement = Placement {
            steps: ids,
            ..Placement::default()
        };
        let (workflow, records) = spec.into_records(self, Utc::now(), placement)?;
        let retry = self.submit_retry();
        let mut ambiguous = false;
        let mut tried = 0;
        loop {
            tried += 1;
            match self.backend().enqueue(records.clone()).await {
                Ok(_) => return Ok(workflow),
                // An earlier try stored it before its error reached us.
                Err(Error::TaskExists(id)) if ambiguous => {
                    let stored = self.backend().get(id).await?;
                    if stored
                        .and_then(|r| r.step)
                        .is_some_and(|s| s.workflow == workflow)
                    {
                        return Ok(workflow);
                    }
                    return Err(Error::TaskExists(id));
                }
                Err(Error::Backend(err)) if tried < retry.tries => {
                    tracing::warn!(workflow = %workflow, error = %err, tried,
                        "taskq workflow submit: ambiguous backend error, trying again");
                    ambiguous = true;
                    tokio::time::sleep(retry.backoff(tried)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The workflow's record: every step, its state, and the edges.
    pub async fn workflow(&self, id: WorkflowId) -> Result<WorkflowRecord, Error> {
        let steps = self.backend().workflow_steps(id).await?;
        WorkflowRecord::from_steps(id, steps).ok_or(Error::WorkflowNotFound(id))
    }

    /// Waits until every step of the workflow ended (however), and gives
    /// its record; [`Error::WaitTimeout`] names a step still going when
    /// `timeout` ran out.
    pub async fn wait_workflow(
        &self,
        id: WorkflowId,
        timeout: Duration,
    ) -> Result<WorkflowRecord, Error> {
        let until = deadline(timeout)?;
        let record = self.workflow(id).await?;
        for step in &record.steps {
            if step.state.is_terminal() {
                continue;
            }
            if let Waited::TimedOut(record) = self.wait_ended(step.id, until).await? {
                return Err(Error::WaitTimeout {
                    id: record.id,
                    state: record.state,
                    waited: timeout,
                });
            }
        }
        self.workflow(id).await
    }

    /// Cancels every step not yet ended: waiting and pending ones at once,
    /// running ones through their cancellation token. Gives the record
    /// after.
    pub async fn cancel_workflow(&self, id: WorkflowId) -> Result<WorkflowRecord, Error> {
        let record = self.workflow(id).await?;
        for step in record.leaves_first() {
            if step.state.is_terminal() || step.cancel_requested {
                continue;
            }
            match self.backend().cancel(step.id, Utc::now()).await {
                // It ended, or its parent's end cancelled it, meanwhile.
                Ok(_) | Err(Error::InvalidTransition { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        self.workflow(id).await
    }
}
