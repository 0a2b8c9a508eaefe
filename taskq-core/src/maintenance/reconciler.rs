//! Refills the delivery path of a backend whose records live elsewhere
//! (SQL records with Redis delivery): when Redis lost its data (a restart
//! without persistence, `FLUSHALL`), every pending task goes back into it,
//! so nothing accepted is lost. A cheap check runs often; a full sweep of
//! the pending tasks runs rarely, for losses the check cannot see.
//!
//! On Redis it carries the workflow step ends a stopped process left in
//! the queues' outboxes to their children (`taskq_core::redis`).
//!
//! The backend's [`Broker::reconcile`](crate::Broker::reconcile) does the
//! work idempotently, so every worker can run a reconciler. For backends
//! with one store it answers `None` on the first call and this service
//! ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backend::Backend;

/// How often the reconciler checks whether the delivery path lost data.
/// Workers resume at most about this long after a loss (plus the refill).
pub const CHECK_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);

/// How often the reconciler checks every pending task against the
/// delivery path, catching what the loss check cannot see (a push that
/// failed while Redis was unreachable, a task enqueued inside a host's
/// transaction).
pub const SWEEP_INTERVAL_DEFAULT: Duration = Duration::from_secs(300);

/// Settings of the reconciler.
#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    /// See [`CHECK_INTERVAL_DEFAULT`].
    pub check_interval: Duration,
    /// See [`SWEEP_INTERVAL_DEFAULT`].
    pub sweep_interval: Duration,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        ReconcilerConfig {
            check_interval: CHECK_INTERVAL_DEFAULT,
            sweep_interval: SWEEP_INTERVAL_DEFAULT,
        }
    }
}

/// Reconciles every `check_interval` (sweeping every `sweep_interval`)
/// until `stop` fires, or until the backend says it has nothing to
/// reconcile.
pub async fn run(backend: Arc<dyn Backend>, config: ReconcilerConfig, stop: CancellationToken) {
    let mut last_sweep = Instant::now();
    loop {
        let sweep = last_sweep.elapsed() >= config.sweep_interval;
        match backend.reconcile(sweep).await {
            Ok(None) => return,
            Ok(Some(report)) => {
                if report.swept {
                    last_sweep = Instant::now();
                }
                if report.restored > 0 {
                    info!(
                        restored = report.restored,
                        swept = report.swept,
                        "restored what the delivery path lost \
                         (tasks, or workflow step ends left in an outbox)"
                    );
                }
            }
            Err(err) => warn!(error = %err, "reconcile pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(config.check_interval) => {}
            _ = stop.cancelled() => return,
        }
    }
}
