//! Returns the tasks of workers that stopped renewing their leases
//! ([`crate::lifecycle::rescue`]): back to `PENDING` after their type's
//! backoff, or `FAILED` when no retry is left, or `CANCELLED` when cancel
//! was requested. The backend applies each rescue atomically, so every
//! worker can run a rescuer.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backend::Backend;
use crate::retry_policy::RetryPolicies;

/// How often the rescuer looks for expired leases. A dead worker's task
/// comes back at most the lease plus this long after its last heartbeat.
pub const RESCUE_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);

/// Rescues every `interval` until `stop` fires.
///
/// `policies` gives each task type's backoff (the worker's registry; types
/// it does not know get the default policy).
pub async fn run(
    backend: Arc<dyn Backend>,
    policies: Arc<dyn RetryPolicies>,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        match backend.rescue_expired(Utc::now(), &*policies).await {
            Ok(report) if report != Default::default() => info!(
                requeued = report.requeued,
                failed = report.failed,
                cancelled = report.cancelled,
                "rescued tasks with expired leases"
            ),
            Ok(_) => {}
            Err(err) => warn!(error = %err, "rescue pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.cancelled() => return,
        }
    }
}
