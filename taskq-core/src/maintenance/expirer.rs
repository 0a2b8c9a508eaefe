//! Ends the pending tasks whose deadline to start passed
//! ([`crate::lifecycle::expire`]): first attempts and retries waiting for
//! their backoff alike. Claims never start such a task (and may expire it
//! on the spot); this pass takes the ones no claim meets. The backend
//! applies each batch atomically, so every worker can run an expirer.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backend::Backend;
use crate::lifecycle::EXPIRE_BATCH;

/// How often the expirer looks for overdue tasks: a task ends at most
/// this long after its deadline (it never starts after it either way).
pub const EXPIRE_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);

/// Batches one pass takes at most, so a backlog of overdue tasks cannot
/// keep a pass from yielding (the next pass goes on).
pub const EXPIRE_BATCHES_PER_PASS: usize = 20;

/// One pass: expires overdue tasks, [`EXPIRE_BATCH`] at a time, until a
/// batch comes back short. Returns how many expired.
pub async fn expire_pass(backend: &dyn Backend) -> Result<u64, crate::Error> {
    let mut total = 0;
    for _ in 0..EXPIRE_BATCHES_PER_PASS {
        let expired = backend.expire_overdue(Utc::now(), EXPIRE_BATCH).await?;
        total += expired;
        if expired < EXPIRE_BATCH as u64 {
            break;
        }
    }
    Ok(total)
}

/// Expires every `interval` until `stop` fires.
pub async fn run(backend: Arc<dyn Backend>, interval: Duration, stop: CancellationToken) {
    loop {
        match expire_pass(&*backend).await {
            Ok(0) => {}
            Ok(expired) => info!(expired, "expired tasks past their deadline to start"),
            Err(err) => warn!(error = %err, "expiry pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.cancelled() => return,
        }
    }
}
