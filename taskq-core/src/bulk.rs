//! Acting on many tasks in one call: [`Client::bulk`] retries, cancels or
//! deletes tasks named by id or found by a [`TaskFilter`], at most
//! [`MAX_BULK`] a call, and reports what matched, changed and was skipped,
//! with each skipped task's reason. Each task goes through the same call
//! as alone ([`Client::retry`], [`Client::cancel`], [`Client::delete`]),
//! so the rules are the same; REST's `POST api/tasks/bulk`, the
//! dashboard's bulk actions and the CLI's `retry --all-failed` use it.

use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::backend::{PageRequest, TaskFilter};
use crate::client::Client;
use crate::error::Error;
use crate::task::TaskId;

/// The most tasks one bulk call acts on: ids given, or tasks a filter
/// finds (a filter that finds more reports the rest as
/// [`BulkReport::remaining`]).
pub const MAX_BULK: usize = 1_000;

/// Tasks acted on at once: a few backend calls in flight, not a thousand.
const IN_FLIGHT: usize = 8;

/// What a bulk call does to each task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Runs a failed, cancelled or expired task again ([`Client::retry`]).
    Retry,
    /// Cancels a pending or running task ([`Client::cancel`]).
    Cancel,
    /// Deletes an ended task ([`Client::delete`]).
    Delete,
}

/// The tasks a bulk call acts on.
#[derive(Debug, Clone)]
pub enum BulkTarget {
    /// These tasks, at most [`MAX_BULK`] (a repeated id counts once).
    Ids(Vec<TaskId>),
    /// The first [`MAX_BULK`] tasks [`Client::list`] gives for this filter
    /// (newest first), read before any is acted on.
    Filter(TaskFilter),
}

/// What a bulk call did.
#[derive(Debug)]
pub struct BulkReport {
    pub action: BulkAction,
    /// Tasks named: the distinct ids given, or every task the filter
    /// matches (over all pages, beyond this call's [`MAX_BULK`] too).
    pub matched: u64,
    /// Tasks the action changed.
    pub changed: u64,
    /// Tasks the filter matches beyond this call's [`MAX_BULK`] (`0` for
    /// ids). With a filter the action takes tasks out of (retry `FAILED`,
    /// cancel `PENDING`, delete an ended state), calling again reaches
    /// them.
    pub remaining: u64,
    /// Each task acted on but not changed, with the error it gave alone
    /// ([`Error::NotFound`], [`Error::InvalidTransition`] for a state the
    /// action does not apply to, …), in the order acted on.
    pub skipped: Vec<(TaskId, Error)>,
}

impl Client {
    /// Retries, cancels or deletes many tasks (module docs,
    /// [`crate::bulk`]): more than [`MAX_BULK`] ids is
    /// [`Error::InvalidArgument`] with nothing changed; a task the action
    /// does not apply to is skipped, the others change as alone.
    pub async fn bulk(&self, action: BulkAction, target: BulkTarget) -> Result<BulkReport, Error> {
        let (ids, matched) = match target {
            BulkTarget::Ids(ids) => {
                let ids = distinct(ids);
                if ids.len() > MAX_BULK {
                    return Err(Error::InvalidArgument(format!(
                        "{} ids: at most {MAX_BULK} a call",
                        ids.len()
                    )));
                }
                let matched = ids.len() as u64;
                (ids, matched)
            }
            BulkTarget::Filter(filter) => self.found(&filter).await?,
        };
        let ended: Vec<(TaskId, Result<(), Error>)> = stream::iter(ids)
            .map(|id| async move {
                let done = match action {
                    BulkAction::Retry => self.retry(id).await,
                    BulkAction::Cancel => self.cancel(id).await,
                    BulkAction::Delete => self.delete(id).await,
                };
                (id, done.map(drop))
            })
            .buffered(IN_FLIGHT)
            .collect()
            .await;
        let acted = ended.len() as u64;
        let skipped: Vec<(TaskId, Error)> = ended
            .into_iter()
            .filter_map(|(id, done)| Some((id, done.err()?)))
            .collect();
        Ok(BulkReport {
            action,
            matched,
            changed: acted - skipped.len() as u64,
            remaining: matched.saturating_sub(acted),
            skipped,
        })
    }

    /// The first [`MAX_BULK`] tasks `filter` lists, read before any is
    /// acted on (acting would move the pages), and how many it matches
    /// in all.
    async fn found(&self, filter: &TaskFilter) -> Result<(Vec<TaskId>, u64), Error> {
        let mut ids = Vec::new();
        let mut total = 0;
        for page in 1.. {
            let listed = self
                .list(filter, PageRequest::new(page, PageRequest::MAX_PAGE_SIZE))
                .await?;
            total = total.max(listed.total);
            let last = (listed.items.len() as u64) < PageRequest::MAX_PAGE_SIZE;
            ids.extend(listed.items.into_iter().map(|task| task.id));
            if last || ids.len() >= MAX_BULK {
                break;
            }
        }
        // A task created between two pages moves the others down one: it
        // can be listed twice, and counted once more than the total said.
        let mut ids = distinct(ids);
        ids.truncate(MAX_BULK);
        let total = total.max(ids.len() as u64);
        Ok((ids, total))
    }
}

/// The ids in their first order, each once.
fn distinct(ids: Vec<TaskId>) -> Vec<TaskId> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}
