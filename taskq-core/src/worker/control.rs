//! The worker in the registry: reports itself (and the attempts it ended)
//! at each heartbeat and obeys what an operator requested (pause, resume,
//! shut down).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;
use tracing::{info, warn};

use crate::backend::WorkerState;

use super::shared::Shared;

/// A wake-up for the next control announcement, listening from now on.
pub(super) fn listen(control: &Arc<Notify>) -> Pin<Box<OwnedNotified>> {
    let mut notified = Box::pin(control.clone().notified_owned());
    notified.as_mut().enable();
    notified
}

/// Stores the worker's entry and moves toward the requested state; after
/// a change, reports again so operators see it at once.
pub(super) async fn report(shared: &Shared) {
    if let Some(requested) = store_report(shared).await
        && obey(shared, requested).await
    {
        store_report(shared).await;
    }
    shared.report_counts().await;
}

/// Stores the worker's entry; what an operator requested of it, or `None`
/// when the store failed. Bounded by a beat (at least a second): the lease
/// renewals wait behind it.
async fn store_report(shared: &Shared) -> Option<Option<WorkerState>> {
    let bound = shared.config.heartbeat_interval.max(Duration::from_secs(1));
    let entry = shared.report();
    match tokio::time::timeout(bound, shared.backend.worker_heartbeat(&entry)).await {
        Ok(Ok(requested)) => Some(requested),
        Ok(Err(err)) => {
            warn!(error = %err, "worker heartbeat failed");
            None
        }
        Err(_) => {
            warn!(waited = ?bound, "worker heartbeat unanswered");
            None
        }
    }
}

/// Moves the worker to the state an operator requested; whether it changed.
pub(super) async fn obey(shared: &Shared, requested: Option<WorkerState>) -> bool {
    if shared.shutdown.is_cancelled() {
        return false;
    }
    match requested {
        Some(WorkerState::Paused) => {
            let changed = shared
                .paused
                .send_if_modified(|p| !std::mem::replace(p, true));
            if changed {
                // A claim already under way finishes first: once this
                // returns, the dispatcher claims nothing more.
                drop(shared.claiming.lock().await);
                info!(worker = %shared.worker_id, "worker paused by request");
            }
            changed
        }
        Some(WorkerState::Running) => {
            let changed = shared
                .paused
                .send_if_modified(|p| std::mem::replace(p, false));
            if changed {
                info!(worker = %shared.worker_id, "worker resumed by request");
            }
            changed
        }
        Some(WorkerState::Stopping) => {
            info!(worker = %shared.worker_id, "shutdown requested");
            shared.shutdown.cancel();
            true
        }
        Some(WorkerState::Gone) | None => false,
    }
}
