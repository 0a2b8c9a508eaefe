//! What a step compares after it runs: everything a reader of the
//! backend can see, against the reference.

use std::fmt::Debug;

use super::case::{Case, SCHEDULE};
use super::ops::QUEUES;
use crate::backend::{Backend, PageRequest, QueueStats, TaskFilter};
use crate::lifecycle::{has_metadata, has_tags};
use crate::task::TaskRecord;

impl Case<'_> {
    /// Compares everything a reader can see: every record (by list and by
    /// id), the queue counts, the pending counts per type, each queue's
    /// fair weights, and the schedule with its due index.
    pub async fn compare_all(&self) -> Result<(), String> {
        let listed = list_all(self.backend).await?;
        let mut expected = self.reference.tasks.clone();
        expected.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        same("list", &expected, &listed)?;
        self.compare_labelled().await?;
        self.compare_ids().await?;
        let stats = self
            .backend
            .queue_stats()
            .await
            .map_err(|err| format!("queue_stats: {err}"))?;
        same(
            "queue_stats",
            &self.reference.queue_stats(),
            &live_counts(stats),
        )?;
        let pending = self
            .backend
            .pending_by_type()
            .await
            .map_err(|err| format!("pending_by_type: {err}"))?;
        same(
            "pending_by_type",
            &self.reference.pending_by_type(),
            &pending,
        )?;
        for queue in QUEUES {
            let weights = self
                .backend
                .fair_weights(queue)
                .await
                .map_err(|err| format!("fair_weights {queue}: {err}"))?;
            same(
                &format!("fair_weights {queue}"),
                &self.reference.fair_weights(queue),
                &weights,
            )?;
        }
        let schedule = self
            .backend
            .get_schedule(SCHEDULE)
            .await
            .map_err(|err| format!("get_schedule: {err}"))?;
        same(
            "schedule",
            &Some(self.reference.schedule.clone()),
            &schedule,
        )?;
        let reference = &self.reference.schedule;
        let due_at = reference.next_run_at.filter(|_| reference.def.enabled);
        let next = self
            .backend
            .next_schedule_due()
            .await
            .map_err(|err| format!("next_schedule_due: {err}"))?;
        same("next_schedule_due", &due_at, &next)?;
        let due: Vec<String> = self
            .backend
            .due_schedules(self.now, 10)
            .await
            .map_err(|err| format!("due_schedules: {err}"))?
            .into_iter()
            .map(|s| s.def.name)
            .collect();
        let expected_due: Vec<String> = due_at
            .filter(|at| *at <= self.now)
            .map(|_| reference.def.name.clone())
            .into_iter()
            .collect();
        same("due_schedules", &expected_due, &due)
    }

    /// Lists by label against the reference filtered by the same rules
    /// (`lifecycle::has_tags`, `has_metadata`): the `model` tag (the
    /// first page), and the newest task's `made` metadata (one task).
    async fn compare_labelled(&self) -> Result<(), String> {
        let made = self
            .reference
            .tasks
            .iter()
            .max_by_key(|r| (r.created_at, r.id))
            .and_then(|r| r.metadata.get("made").cloned())
            .unwrap_or(serde_json::Value::Null);
        let filters = [
            TaskFilter {
                tags: vec!["model".to_owned()],
                ..TaskFilter::default()
            },
            TaskFilter {
                metadata: [("made".to_owned(), made)].into(),
                ..TaskFilter::default()
            },
        ];
        for filter in filters {
            let page = PageRequest::new(1, PageRequest::MAX_PAGE_SIZE);
            let listed = self
                .backend
                .list(&filter, page)
                .await
                .map_err(|err| format!("list {filter:?}: {err}"))?;
            let mut expected: Vec<TaskRecord> = self
                .reference
                .tasks
                .iter()
                .filter(|r| {
                    has_tags(&r.tags, &filter.tags) && has_metadata(&r.metadata, &filter.metadata)
                })
                .cloned()
                .collect();
            expected.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
            let total = expected.len() as u64;
            expected.truncate(page.page_size as usize);
            same(
                &format!("list {filter:?}"),
                &(total, expected),
                &(listed.total, listed.items),
            )?;
        }
        Ok(())
    }

    /// `get` of every id the case has made, deleted ones included.
    pub async fn compare_ids(&self) -> Result<(), String> {
        for &id in &self.ids {
            let got = self
                .backend
                .get(id)
                .await
                .map_err(|err| format!("get {id}: {err}"))?;
            same(&format!("get {id}"), &self.reference.get(id).cloned(), &got)?;
        }
        Ok(())
    }
}

/// Pending and scheduled summed (the line between them is the backend's
/// own clock, which the virtual one does not move), and only the queues
/// with something live or a pause flag (whether an idle queue is listed
/// is the backend's choice).
fn live_counts(stats: Vec<QueueStats>) -> Vec<QueueStats> {
    stats
        .into_iter()
        .map(|s| QueueStats {
            pending: s.pending + s.scheduled,
            scheduled: 0,
            // Read on the real clock, not the case's.
            rate_held_until: None,
            ..s
        })
        .filter(|s| s.pending + s.running > 0 || s.paused)
        .collect()
}

async fn list_all(backend: &dyn Backend) -> Result<Vec<TaskRecord>, String> {
    let mut all = Vec::new();
    for page in 1.. {
        let listed = backend
            .list(
                &TaskFilter::default(),
                PageRequest::new(page, PageRequest::MAX_PAGE_SIZE),
            )
            .await
            .map_err(|err| format!("list: {err}"))?;
        let last = listed.items.len() < PageRequest::MAX_PAGE_SIZE as usize;
        all.extend(listed.items);
        if last || all.len() as u64 >= listed.total {
            break;
        }
    }
    Ok(all)
}

fn same<T: PartialEq + Debug>(what: &str, model: &T, backend: &T) -> Result<(), String> {
    if model == backend {
        Ok(())
    } else {
        Err(format!(
            "{what} differs\n  model:   {model:?}\n  backend: {backend:?}"
        ))
    }
}
