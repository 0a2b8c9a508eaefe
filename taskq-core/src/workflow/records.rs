//! A checked [`WorkflowSpec`] turned into its steps' records, the one
//! write a workflow's submission (or a schedule's tick) makes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::spec::{WorkflowSpec, invalid};
use crate::client::Client;
use crate::error::Error;
use crate::stable_hash::{FNV_OFFSET, fnv1a64};
use crate::submit::{Overrides, apply_concurrency_key, new_record};
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
    /// the base id itself; step `i` is a UUIDv7 with the base's
    /// millisecond, then `i` (so steps sort in the spec's order, as fresh
    /// ids do), then a hash of the base and `i` (so two bases never share
    /// a step id).
    pub(crate) fn derived(base: uuid::Uuid, steps: usize, run_at: DateTime<Utc>) -> Placement {
        let step_ids = (0..steps).map(|i| derived_step_id(base, i)).collect();
        Placement {
            workflow: Some(base),
            steps: Some(step_ids),
            run_at: Some(run_at),
        }
    }
}

/// Step `index`'s id under `base` (see [`Placement::derived`]): 48 bits
/// of the base's time, 26 bits of the index (more than
/// [`MAX_STEPS`](super::MAX_STEPS)), 48 bits of an FNV-1a hash of the base
/// and the index; version 7 and the RFC 4122 variant in their places.
fn derived_step_id(base: uuid::Uuid, index: usize) -> TaskId {
    let index = u64::try_from(index).unwrap_or(u64::MAX) & 0x03ff_ffff;
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(base.as_bytes());
    key[16..].copy_from_slice(&index.to_le_bytes());
    let hash = fnv1a64(&key, FNV_OFFSET);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&base.as_bytes()[..6]);
    // rand_a (12 bits): the index's high bits; the first 14 bits of
    // rand_b: its low bits; the other 48 bits: the hash.
    let high = index >> 14;
    bytes[6] = 0x70 | ((high >> 8) & 0x0f) as u8;
    bytes[7] = (high & 0xff) as u8;
    let low = index & 0x3fff;
    bytes[8] = 0x80 | ((low >> 8) & 0x3f) as u8;
    bytes[9] = (low & 0xff) as u8;
    bytes[10..].copy_from_slice(&hash.to_le_bytes()[..6]);
    uuid::Uuid::from_bytes(bytes)
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
            apply_concurrency_key(&mut record, def, &overrides)
                .map_err(|e| invalid(name, e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_step_ids_sort_in_order_and_differ_per_base() {
        let base = uuid::Uuid::now_v7();
        let other = uuid::Uuid::now_v7();
        let ids: Vec<TaskId> = (0..5000).map(|i| derived_step_id(base, i)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in the spec's order");
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        assert!(
            ids.iter()
                .all(|id| id.get_variant() == uuid::Variant::RFC4122)
        );
        assert_eq!(
            ids[..3],
            [0, 1, 2].map(|i| derived_step_id(base, i)),
            "stable"
        );
        assert!((0..5000).all(|i| derived_step_id(other, i) != ids[i]));
    }

    #[test]
    fn derived_step_ids_stay_what_earlier_releases_derived() {
        // A tick fired again by an older scheduler must derive the same
        // ids, or the store would take it as a second run.
        let base: uuid::Uuid = "01931f5e-8a3b-7c4d-9e2f-0123456789ab"
            .parse()
            .expect("uuid");
        assert_eq!(
            derived_step_id(base, 12345).to_string(),
            "01931f5e-8a3b-7000-b039-9ecefcb57214"
        );
    }
}
