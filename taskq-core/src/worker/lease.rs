//! The heartbeat loop and the leases it renews: delivers cancel requests,
//! abandons attempts the store no longer gives this worker, and paces the
//! worker's reports. (A lease that runs out by the worker's own clock is
//! the deadline keeper's.)

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::backend::LeaseStatus;
use crate::context::{Control, StopReason};
use crate::task::{IdMap, TaskId};

use super::control::{listen, report};
use super::shared::{InFlight, Shared};

/// Each interval: renews leases, delivers cancel requests, abandons
/// attempts the store took back, and reports the worker to the registry,
/// obeying what an operator requested.
///
/// A cancel request renews the leases at once (that delivers it); a control
/// request makes the worker report at once; neither moves the regular pace.
pub(super) async fn heartbeat(
    shared: Arc<Shared>,
    stop: CancellationToken,
    control: Arc<Notify>,
    mut control_requested: Pin<Box<OwnedNotified>>,
) {
    let cancel_signal = shared.backend.cancel_signal().unwrap_or_default();
    let mut next = Instant::now() + shared.config.heartbeat_interval;
    let mut cancel_requested = Box::pin(cancel_signal.notified());
    loop {
        cancel_requested.as_mut().enable();
        // `beat`: the regular interval (leases and the worker's report);
        // otherwise a cancel request, which only needs the leases renewed
        // (that delivers it) and leaves the pace alone.
        let beat = tokio::select! {
            _ = sleep_until(next) => {
                next = Instant::now() + shared.config.heartbeat_interval;
                true
            }
            _ = &mut cancel_requested => false,
            _ = &mut control_requested => {
                // Listen again first, so a request made during the report
                // wakes the next one.
                control_requested = listen(&control);
                report(&shared).await;
                continue;
            }
            _ = stop.cancelled() => return,
        };
        // Listen again before reading the store, so a request made during
        // this renewal wakes the next one.
        cancel_requested.set(cancel_signal.notified());
        cancel_requested.as_mut().enable();
        renew_leases(&shared).await;
        if beat {
            report(&shared).await;
        }
    }
}

/// Renews this worker's leases and applies what the store says of them.
/// Bounded by the time left on the leases (at least a beat): a renewal
/// answered later would renew nothing, and one into a dead network must
/// not hold back the next.
pub(super) async fn renew_leases(shared: &Shared) {
    let now = Instant::now();
    let (held, time_left) = {
        let in_flight = shared.in_flight();
        let held = leases_to_renew(&in_flight, now, shared.config.heartbeat_interval);
        let earliest = held
            .iter()
            .filter_map(|(id, _)| in_flight.get(id).map(|f| f.lease_deadline))
            .min();
        let time_left = earliest.map_or(Duration::ZERO, |at| at.saturating_duration_since(now));
        (held, time_left.max(shared.config.heartbeat_interval))
    };
    if held.is_empty() {
        return;
    }
    let renewed_at = Instant::now();
    let lease_until = Utc::now() + shared.config.lease;
    let renewal = shared
        .backend
        .heartbeat(&shared.worker_id, &held, lease_until);
    let statuses = match tokio::time::timeout(time_left, renewal).await {
        Ok(Ok(statuses)) => statuses,
        Ok(Err(err)) => {
            warn!(error = %err, "lease renewal failed");
            return;
        }
        Err(_) => {
            warn!(waited = ?time_left, "lease renewal unanswered");
            return;
        }
    };
    let mut in_flight = shared.in_flight();
    let mut cancel_graces = Vec::new();
    for ((id, attempt), status) in held.iter().zip(statuses) {
        let Some(f) = in_flight
            .get_mut(id)
            .filter(|f| f.attempt == *attempt && f.holds_lease())
        else {
            continue;
        };
        match status {
            LeaseStatus::Held => f.lease_deadline = renewed_at + shared.config.lease,
            LeaseStatus::CancelRequested => {
                f.lease_deadline = renewed_at + shared.config.lease;
                if f.ctx.control().request_cancel() {
                    f.ctx.stop(StopReason::Cancelled);
                    let grace = Instant::now() + shared.config.cancel_grace;
                    f.deadlines.cancel_grace = Some(grace);
                    cancel_graces.push(grace);
                }
            }
            // Settled meanwhile (its outcome stored, which ends the lease),
            // or taken back by the store: only the second needs stopping.
            LeaseStatus::Lost if f.ctx.control().has_ended() => {}
            LeaseStatus::Lost => abandon(f, "the store no longer gives it to us"),
        }
    }
    drop(in_flight);
    if let Some(grace) = cancel_graces.into_iter().min() {
        shared.alarm.arm(grace);
    }
}

/// The attempts whose leases a beat at `now` renews: every running one
/// (the renewal also tells of cancel requests), and an ended one (its
/// outcome waiting for the completer) only when its lease could run out
/// before the beat after next — not at every beat, so a backlog of
/// outcomes does not cost the store a renewal each per beat.
pub(super) fn leases_to_renew(
    in_flight: &IdMap<InFlight>,
    now: Instant,
    heartbeat_interval: Duration,
) -> Vec<(TaskId, u32)> {
    let due = now + 2 * heartbeat_interval;
    in_flight
        .iter()
        .filter(|(_, f)| f.holds_lease())
        .filter(|(_, f)| !f.ctx.control().has_ended() || f.lease_deadline <= due)
        .map(|(id, f)| (*id, f.attempt))
        .collect()
}

pub(super) fn abandon(f: &mut InFlight, why: &str) {
    if f.ctx.control().get() != Control::Abandon {
        warn!(id = %f.ctx.id(), attempt = f.attempt, "abandoning attempt: {why}");
        f.ctx.stop(StopReason::LeaseLost);
        f.ctx.control().abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::TaskContext;

    fn in_flight(attempt: u32, ended: bool, lease_deadline: Instant) -> (TaskId, InFlight) {
        let id = uuid::Uuid::now_v7();
        let ctx = TaskContext::for_attempt(id, "t".into(), "q".into(), attempt, 0, 0, None);
        if ended {
            ctx.control().try_end();
        }
        let f = InFlight {
            attempt,
            ctx,
            lease_deadline,
            deadlines: Default::default(),
            trace_context: None,
        };
        (id, f)
    }

    /// Running attempts are renewed at every beat; ended ones only once
    /// their lease could run out before the beat after next.
    #[tokio::test]
    async fn worker_renews_ended_attempts_only_near_their_lease_end() {
        let now = Instant::now();
        let beat = Duration::from_secs(1);
        let entries = [
            in_flight(1, false, now + Duration::from_secs(30)),
            in_flight(2, true, now + Duration::from_secs(30)),
            in_flight(3, true, now + Duration::from_millis(1500)),
        ];
        let expected = vec![(entries[0].0, 1), (entries[2].0, 3)];
        let map: IdMap<InFlight> = entries.into_iter().collect();
        let mut renewed = leases_to_renew(&map, now, beat);
        renewed.sort_by_key(|(_, attempt)| *attempt);
        assert_eq!(renewed, expected);
    }
}
