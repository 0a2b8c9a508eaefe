//! The completer: stores attempts' settlements in batches, retrying
//! through backend outages, and forgets the attempts once stored.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::backend::Settlement;

use super::shared::{Shared, retry_backoff};

/// Most settlements one backend call carries.
const SETTLE_BATCH_MAX: usize = 1000;

/// Stores settlements in batches; keeps retrying through backend outages.
/// After `stop`, stores what was sent until then and ends: a handler
/// stuck in blocking code past shutdown must not keep the worker running.
pub(super) async fn completer(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Settlement>,
    stop: CancellationToken,
) {
    // Holding `shared` would keep a sender alive: keep only what we need.
    let backend = shared.backend.clone();
    let weak = Arc::downgrade(&shared);
    drop(shared);
    let mut batch = Vec::with_capacity(SETTLE_BATCH_MAX);
    let mut closed = false;
    loop {
        let received = tokio::select! {
            received = rx.recv_many(&mut batch, SETTLE_BATCH_MAX) => received,
            _ = stop.cancelled(), if !closed => {
                rx.close();
                closed = true;
                continue;
            }
        };
        if received == 0 {
            break;
        }
        let mut failures = 0;
        let applied = loop {
            match backend.settle(batch.clone()).await {
                Ok(applied) => break applied,
                Err(err) => {
                    failures += 1;
                    warn!(error = %err, pending = batch.len(), "storing outcomes failed; retrying");
                    sleep(retry_backoff(failures)).await;
                }
            }
        };
        for (settlement, applied) in batch.iter().zip(&applied) {
            if !applied {
                warn!(id = %settlement.id, attempt = settlement.attempt, "outcome of a stale attempt rejected");
            }
        }
        if let Some(shared) = weak.upgrade() {
            let mut in_flight = shared.in_flight();
            for settlement in &batch {
                if in_flight
                    .get(&settlement.id)
                    .is_some_and(|f| f.attempt == settlement.attempt)
                {
                    in_flight.remove(&settlement.id);
                }
            }
        }
        batch.clear();
    }
}
