//! What the worker's loops share: the backend, the registry, the
//! attempts in flight, the pause flag and the shutdown token.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, Settlement, WorkerInfo, WorkerQueue, WorkerState};
use crate::context::TaskContext;
use crate::payload::PayloadLimits;
use crate::registry::Registry;
use crate::task::IdMap;

use super::config::WorkerConfig;
use super::deadlines::{Alarm, Deadlines};
use super::hooks::Hooks;
use super::tally::Tally;

pub(super) struct QueueSlots {
    pub(super) name: String,
    pub(super) concurrency: usize,
    pub(super) slots: Arc<Semaphore>,
}

pub(super) struct Shared {
    pub(super) backend: Arc<dyn Backend>,
    pub(super) registry: Arc<Registry>,
    /// The types this worker has handlers for: the only ones it claims.
    pub(super) task_types: Vec<&'static str>,
    /// The client's limits; a result over them fails its attempt.
    pub(super) payload_limits: PayloadLimits,
    pub(super) worker_id: String,
    pub(super) host: String,
    pub(super) started_at: DateTime<Utc>,
    pub(super) queues: Vec<WorkerQueue>,
    pub(super) config: WorkerConfig,
    /// Attempts this worker holds, until their settlement is stored.
    pub(super) in_flight: Mutex<IdMap<InFlight>>,
    /// Wakes the deadline keeper for a deadline earlier than it planned.
    pub(super) alarm: Alarm,
    /// Where handlers run (see `runtime`).
    pub(super) handlers: tokio::runtime::Handle,
    pub(super) slot_freed: Arc<Notify>,
    pub(super) settle_tx: mpsc::UnboundedSender<Settlement>,
    /// Set while an operator has the worker paused: the dispatcher waits.
    pub(super) paused: watch::Sender<bool>,
    /// Held by the dispatcher while it claims, so a pause can wait for a
    /// claim in progress before it reports the worker paused.
    pub(super) claiming: tokio::sync::Mutex<()>,
    /// The worker's shutdown (also reached through [`ShutdownHandle`]).
    pub(super) shutdown: CancellationToken,
    /// The host's hooks around every attempt.
    pub(super) hooks: Hooks,
    /// Attempts ended since the last heartbeat, per minute and queue.
    pub(super) tally: Mutex<Tally>,
}

impl Shared {
    pub(super) fn in_flight(&self) -> MutexGuard<'_, IdMap<InFlight>> {
        self.in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn tally(&self) -> MutexGuard<'_, Tally> {
        self.tally
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds the attempts ended since the last report to the backend's
    /// counts; on failure they wait for the next one. Bounded by a beat.
    pub(super) async fn report_counts(&self) {
        let counts = self.tally().take();
        if counts.is_empty() {
            return;
        }
        let bound = self.config.heartbeat_interval.max(Duration::from_secs(1));
        let added = tokio::time::timeout(bound, self.backend.add_counts(&counts, Utc::now())).await;
        if !matches!(added, Ok(Ok(()))) {
            tracing::debug!("attempt counts not stored; kept for the next heartbeat");
            let mut tally = self.tally();
            for count in counts {
                tally.add(count);
            }
        }
    }

    pub(super) fn state(&self) -> WorkerState {
        if self.shutdown.is_cancelled() {
            WorkerState::Stopping
        } else if *self.paused.borrow() {
            WorkerState::Paused
        } else {
            WorkerState::Running
        }
    }

    /// This worker's entry for the registry, as of now.
    pub(super) fn report(&self) -> WorkerInfo {
        let (in_flight_count, in_flight) = {
            let in_flight = self.in_flight();
            let ids = in_flight
                .keys()
                .take(WorkerInfo::IN_FLIGHT_IDS_MAX)
                .copied()
                .collect();
            (in_flight.len() as u64, ids)
        };
        let now = Utc::now();
        let lease = chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::MAX);
        WorkerInfo {
            id: self.worker_id.clone(),
            host: self.host.clone(),
            pid: std::process::id(),
            queues: self.queues.clone(),
            // Sorted when the worker was built; reported so queue stats
            // can tell pending work no live worker can run.
            task_types: self.task_types.iter().map(|t| (*t).to_owned()).collect(),
            in_flight_count,
            in_flight,
            state: self.state(),
            requested: None,
            started_at: self.started_at,
            heartbeat_at: now,
            expires_at: now.checked_add_signed(lease).unwrap_or(now),
        }
    }
}

pub(super) struct InFlight {
    pub(super) attempt: u32,
    pub(super) ctx: TaskContext,
    /// The lease as this worker last renewed it, by its own clock.
    pub(super) lease_deadline: Instant,
    pub(super) deadlines: Deadlines,
    /// The submitter's trace context, for the span of an end settled
    /// here (a timeout): a child of the submitting span, as the attempt's.
    pub(super) trace_context: Option<crate::trace::TraceContext>,
}

impl InFlight {
    /// Whether the worker still holds the lease: not once it ran out by
    /// the worker's clock (a late renewal does not bring it back) or the
    /// attempt was abandoned.
    pub(super) fn holds_lease(&self) -> bool {
        self.deadlines.abandon_at.is_none()
            && self.ctx.control().get() != crate::context::Control::Abandon
    }
}

/// Exponential backoff for backend failures: 100 ms doubling to 1 s (from
/// the fifth failure on) — one call a second is no load on a store that is
/// down, and a healed network is used within a second.
pub(super) fn retry_backoff(failures: u32) -> Duration {
    let millis = 100u64.saturating_mul(1 << failures.min(5).saturating_sub(1));
    Duration::from_millis(millis.min(1_000))
}
