//! The concurrency and rate limits task types declare (`#[long_task(concurrency =
//! ...)]`, `rate_limit(...)`), stored by a starting worker where the
//! backend has none.
//!
//! The backend's stored limit is the truth, shared by every worker: a
//! declaration only fills a gap, so a limit an operator set at runtime
//! (REST, CLI, [`Client::set_type_limit`](crate::Client::set_type_limit))
//! outlives restarts and deploys. Two workers starting at once may both
//! store the same declared value; nothing else races.

use tracing::warn;

use crate::backend::Backend;
use crate::registry::Registry;

/// Stores the declared type limit, key limit, rate limit and key rate
/// limit of each of `registry`'s types where none is stored. Failures are logged: the worker runs
/// without them.
pub(super) async fn store_declared_limits(backend: &dyn Backend, registry: &Registry) {
    let declared: Vec<_> = registry
        .iter()
        .filter(|def| {
            let c = &def.concurrency;
            c.limit.is_some() || c.key_limit.is_some() || c.rate.is_some() || c.key_rate.is_some()
        })
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
        if let Some(limit) = def.concurrency.rate
            && row.is_none_or(|row| row.rate_limit.is_none())
            && let Err(err) = backend.set_type_rate_limit(task_type, Some(limit)).await
        {
            warn!(%task_type, error = %err, "could not store the declared rate limit");
        }
        if let Some(limit) = def.concurrency.key_rate
            && row.is_none_or(|row| row.key_rate_limit.is_none())
            && let Err(err) = backend.set_key_rate_limit(task_type, Some(limit)).await
        {
            warn!(%task_type, error = %err, "could not store the declared key rate limit");
        }
    }
}
