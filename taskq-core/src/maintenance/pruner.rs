//! Deletes finished, failed and cancelled records older than the
//! retention, so the store does not grow forever.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backend::Backend;
use crate::task::TaskState;

/// How long terminal records are kept by default.
pub const RETENTION_DEFAULT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often the pruner runs.
pub const PRUNE_INTERVAL_DEFAULT: Duration = Duration::from_secs(600);

/// Prunes every `interval` until `stop` fires; does nothing without a
/// retention.
pub async fn run(
    backend: Arc<dyn Backend>,
    retention: Option<Duration>,
    interval: Duration,
    stop: CancellationToken,
) {
    let Some(retention) = retention.and_then(|r| chrono::Duration::from_std(r).ok()) else {
        return;
    };
    loop {
        match backend
            .purge(&TaskState::TERMINAL, Utc::now() - retention)
            .await
        {
            Ok(0) => {}
            Ok(count) => info!(count, "pruned old task records"),
            Err(err) => warn!(error = %err, "prune pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.cancelled() => return,
        }
    }
}
