//! A checked [`WorkflowSpec`] turned into its steps' records, the one
//! write a workflow's submission (or a schedule's tick) makes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::spec::{WorkflowSpec, invalid};
use crate::client::Client;
use crate::error::Error;
use crate::submit::{Overrides, new_record};
use crate::task::{StepInput, TaskId, TaskRecord, TaskState, WorkflowId, WorkflowStep};

/// Where a workflow's records go: the ids to give them and when its first
/// steps are due. Fresh ids and "now" by default.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    /// The workflow's id.
    pub workflow: Option<WorkflowId>,
    /// One id per step, in the spec's order (ignored unless one per step).
    pub steps: Option<Vec<TaskId>>,
    /// When the steps without parents are due (a schedule's tick).
    pub run_at: Option<DateTime<Utc>>,
}

impl Placement {
    /// The ids a firing derives from one base id (a schedule's tick id),
    /// so a tick fired twice writes the same workflow: the workflow takes
    /// the base id itself, step `i` the base id hashed with `i`.
    pub(crate) fn derived(base: uuid::Uuid, steps: usize, run_at: DateTime<Utc>) -> Placement {
        let step_ids = (0..steps)
            .map(|i| {
                let mut bytes = *base.as_bytes();
                let salt = u64::try_from(i).unwrap_or(u64::MAX).wrapping_add(1);
                // FNV-1a over the base and the index, folded into the
                // random bits of the UUID (the first 6 bytes, its time,
                // stay the base's, so ids still sort by tick).
                let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
                for byte in bytes.iter().chain(&salt.to_le_bytes()) {
                    hash ^= u64::from(*byte);
                    hash = hash.wrapping_mul(0x0100_0000_01b3);
                }
                for (slot, h) in bytes[8..].iter_mut().zip(hash.to_le_bytes()) {
                    *slot ^= h;
                }
                // Keep the version and variant bits of a v7 UUID.
                uuid::Builder::from_bytes(bytes)
                    .with_version(uuid::Version::SortRand)
                    .with_variant(uuid::Variant::RFC4122)
                    .into_uuid()
            })
            .collect();
        Placement {
            workflow: Some(base),
            steps: Some(step_ids),
            run_at: Some(run_at),
        }
    }
}

impl WorkflowSpec {
    /// Checks the spec whole against `client`'s registry and limits, and
    /// builds its steps' records (roots `PENDING`, the rest `WAITING`),
    /// in the spec's order, placed as `placement` says. Nothing is stored.
    pub(crate) fn into_records(
        self,
        client: &Client,
        now: DateTime<Utc>,
        placement: Placement,
    ) -> Result<(WorkflowId, Vec<TaskRecord>), Error> {
        let order = self.check_with(client.registry())?;
        let workflow = placement.workflow.unwrap_or_else(uuid::Uuid::now_v7);
        let ids: Vec<TaskId> = placement
            .steps
            .filter(|ids| ids.len() == self.steps.len())
            .unwrap_or_else(|| self.steps.iter().map(|_| uuid::Uuid::now_v7()).collect());
        let index: HashMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let parents: Vec<Vec<usize>> = self
            .steps
            .iter()
            .map(|s| s.after.iter().map(|p| index[p.as_str()]).collect())
            .collect();
        let mut children = vec![Vec::new(); self.steps.len()];
        for &i in &order {
            for &p in &parents[i] {
                children[p].push(ids[i]);
            }
        }
        let mut records = Vec::with_capacity(self.steps.len());
        for (i, spec) in self.steps.iter().enumerate() {
            let name = spec.name.as_str();
            if spec.effective_input() == StepInput::Params {
                client
                    .payload_limits()
                    .check_params(&spec.params)
                    .map_err(|e| invalid(name, e.to_string()))?;
            }
            let def = client
                .task_def(&spec.task)
                .map_err(|_| invalid(name, format!("unknown task type `{}`", spec.task)))?;
            let overrides = Overrides {
                queue: spec.queue.clone(),
                priority: spec.priority,
                max_retries: spec.max_retries,
                run_at: placement.run_at,
                ..Overrides::default()
            };
            let mut record = new_record(def, spec.params.clone(), &overrides, now);
            record.id = ids[i];
            if !parents[i].is_empty() {
                record.state = TaskState::Waiting;
            }
            record.step = Some(WorkflowStep {
                workflow,
                name: spec.name.clone(),
                parents: parents[i].iter().map(|p| ids[*p]).collect(),
                children: std::mem::take(&mut children[i]),
                waiting_on: u32::try_from(parents[i].len()).unwrap_or(u32::MAX),
                input: spec.effective_input(),
                runs: spec.runs,
            });
            records.push(record);
        }
        Ok((workflow, records))
    }
}
