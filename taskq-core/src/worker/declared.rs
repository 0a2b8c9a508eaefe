//! The concurrency limits task types declare (`#[long_task(concurrency =
//! ...)]`), stored by a starting worker where the backend has none.
//!
//! The backend's stored limit is the truth, shared by every worker: a
//! declaration only fills a gap, so a limit an operator set at runtime
//! (REST, CLI, [`Client::set_type_limit`](crate::Client::set_type_limit))
//! outlives restarts and deploys. Two workers starting at once may both
//! store the same declared value; nothing else races.

use tracing::warn;

use crate::backend::Backend;
use crate::registry::Registry;

/// Stores the declared type limit and key limit of each of `registry`'s
/// types where none is stored. Failures are logged: the worker runs
/// without them.
pub(super) async fn store_declared_limits(backend: &dyn Backend, registry: &Registry) {
    let declared: Vec<_> = registry
        .iter()
        .filter(|def| def.concurrency.limit.is_some() || def.concurrency.key_limit.is_some())
        .collect();
    if declared.is_empty() {
        return;
    }
    let stored = match backend.type_limits().await {
        Ok(stored) => stored,
        Err(err) => {
            warn!(error = %err, "could not read the stored task type limits");
            return;
        }
    };
    for def in declared {
        let row = stored.iter().find(|row| row.task_type == def.name);
        let task_type = def.name;
        if let Some(limit) = def.concurrency.limit
            && row.is_none_or(|row| row.limit.is_none())
            && let Err(err) = backend.set_type_limit(task_type, Some(limit)).await
        {
            warn!(%task_type, error = %err, "could not store the declared type limit");
        }
        if let Some(limit) = def.concurrency.key_limit
            && row.is_none_or(|row| row.key_limit.is_none())
            && let Err(err) = backend.set_key_limit(task_type, Some(limit)).await
        {
            warn!(%task_type, error = %err, "could not store the declared key limit");
        }
    }
}
