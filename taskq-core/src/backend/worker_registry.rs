//! [`WorkerRegistry`]: the live workers a backend lists and steers.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::error::Error;
use crate::throughput::MinuteCounts;
#[cfg(doc)]
use crate::worker_state::WORKER_GONE_KEPT;
use crate::worker_state::{WorkerControl, WorkerInfo, WorkerState};

/// How a backend checks a control against a worker (the rule
/// [`WorkerRegistry::control_worker`] applies atomically).
impl WorkerControl {
    /// The state this control asks `worker` to move to, checked against
    /// where it is headed (its requested state, else its reported one):
    /// pause a running worker, resume a paused one, shut down either.
    /// Anything else — including any control of a gone or stopping worker
    /// — is [`Error::InvalidWorkerControl`].
    pub fn target(self, worker: &WorkerInfo) -> Result<WorkerState, Error> {
        let heading = match (worker.state, worker.requested) {
            (WorkerState::Gone | WorkerState::Stopping, _) | (_, None) => worker.state,
            (_, Some(requested)) => requested,
        };
        match (self, heading) {
            (WorkerControl::Pause, WorkerState::Running) => Ok(WorkerState::Paused),
            (WorkerControl::Resume, WorkerState::Paused) => Ok(WorkerState::Running),
            (WorkerControl::Shutdown, WorkerState::Running | WorkerState::Paused) => {
                Ok(WorkerState::Stopping)
            }
            _ => Err(Error::InvalidWorkerControl {
                id: worker.id.clone(),
                state: heading,
                control: self,
            }),
        }
    }
}

/// The live workers of a deployment, shared through the backend so an
/// operator on any host sees and steers workers on every host.
///
/// # Rules
/// - **The worker owns its report.** [`WorkerRegistry::worker_heartbeat`]
///   replaces everything but `requested`, which only
///   [`WorkerRegistry::control_worker`] sets (and
///   [`WorkerRegistry::register_worker`] clears).
/// - **Controls are checked and stored in one atomic step** (see
///   [`WorkerControl::target`]), so two operators racing cannot both move
///   a worker from the same state.
/// - **Gone, then forgotten.** A worker whose `expires_at` passed is listed
///   as [`WorkerState::Gone`]; [`WORKER_GONE_KEPT`] later it is dropped.
#[async_trait]
pub trait WorkerRegistry: Send + Sync + 'static {
    /// Stores a starting worker, replacing any record with its id (and
    /// that record's requested state).
    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), Error>;

    /// Stores what a running worker reports, keeping the requested state
    /// (a forgotten worker is stored anew, without one), and returns it.
    async fn worker_heartbeat(&self, worker: &WorkerInfo) -> Result<Option<WorkerState>, Error>;

    /// Removes a worker that stopped; `false` if there was none.
    async fn deregister_worker(&self, id: &str) -> Result<bool, Error>;

    /// Every worker by id, as seen at `now`, forgetting those gone for
    /// longer than [`WORKER_GONE_KEPT`].
    async fn list_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerInfo>, Error>;

    /// One worker as seen at `now`.
    async fn get_worker(&self, id: &str, now: DateTime<Utc>) -> Result<Option<WorkerInfo>, Error> {
        Ok(self
            .list_workers(now)
            .await?
            .into_iter()
            .find(|worker| worker.id == id))
    }

    /// Asks a worker to pause, resume or shut down: checks the control
    /// against the stored record as seen at `now` ([`WorkerControl::target`])
    /// and stores the requested state, atomically. A missing worker is
    /// [`Error::WorkerNotFound`]. Returns the updated record.
    async fn control_worker(
        &self,
        id: &str,
        control: WorkerControl,
        now: DateTime<Utc>,
    ) -> Result<WorkerInfo, Error>;

    /// A signal fired when a control request may be waiting for a worker
    /// of this process (from any process, where the backend can tell), so
    /// the worker reports at once instead of at its next heartbeat.
    fn control_signal(&self) -> Option<Arc<Notify>> {
        None
    }

    /// Adds a worker's counts of ended attempts to the stored ones (summed
    /// per queue and minute, atomically with other workers' additions),
    /// and drops minutes older than [`COUNTS_KEPT`](crate::throughput::COUNTS_KEPT)
    /// before `now`. See [`crate::throughput`].
    async fn add_counts(&self, counts: &[MinuteCounts], now: DateTime<Utc>) -> Result<(), Error>;

    /// The stored counts of the minutes from `since` on, in minute then
    /// queue order.
    async fn counts_since(&self, since: DateTime<Utc>) -> Result<Vec<MinuteCounts>, Error>;
}
