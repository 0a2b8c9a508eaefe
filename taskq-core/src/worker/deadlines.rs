//! The deadline keeper: every attempt's timeouts, cancel grace and lease,
//! kept by the worker's own clock on the worker's runtime — not by the
//! attempt itself, so they hold for a handler that blocks its thread, and
//! for a worker the store no longer answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::context::{Control, StopReason};

use super::attempt::{AttemptEnd, end_attempt};
use super::shared::{InFlight, Shared};

/// One attempt's deadlines besides its lease, by the worker's clock.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Deadlines {
    /// The soft timeout: the handler's token fires.
    pub(super) soft: Option<Instant>,
    /// The hard timeout, and its length: the attempt is settled as timed
    /// out, whatever its handler is doing.
    pub(super) hard: Option<(Instant, Duration)>,
    /// The end of the cancel grace, once a cancel was requested: the
    /// attempt is settled as cancelled.
    pub(super) cancel_grace: Option<Instant>,
    /// Set once the lease ran out by the worker's clock: the handler was
    /// told to stop, and the attempt is abandoned at this instant.
    pub(super) abandon_at: Option<Instant>,
}

impl Deadlines {
    /// Deadlines for an attempt started at `started` (the claim).
    pub(super) fn starting(
        started: Instant,
        timeout: Option<Duration>,
        soft_timeout: Option<Duration>,
    ) -> Deadlines {
        Deadlines {
            soft: soft_timeout.and_then(|t| started.checked_add(t)),
            hard: timeout.and_then(|t| Some((started.checked_add(t)?, t))),
            cancel_grace: None,
            abandon_at: None,
        }
    }
}

/// When the keeper looks next; moved earlier by [`Alarm::arm`].
#[derive(Debug, Default)]
pub(super) struct Alarm {
    next: Mutex<Option<Instant>>,
    wake: Notify,
}

impl Alarm {
    /// Makes the keeper look again by `at`, if it planned to look later.
    /// Call it after the attempt carrying the deadline is in flight.
    pub(super) fn arm(&self, at: Instant) {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        if next.is_none_or(|n| at < n) {
            *next = Some(at);
            self.wake.notify_one();
        }
    }

    fn set(&self, at: Option<Instant>) {
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

/// Acts on every deadline as it passes, until `stop`.
pub(super) async fn keep_deadlines(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let woken = shared.alarm.wake.notified();
        let next = check(&shared, Instant::now());
        tokio::select! {
            _ = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {}
            _ = woken => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Applies the deadlines passed by `now`; the earliest one left.
pub(super) fn check(shared: &Shared, now: Instant) -> Option<Instant> {
    let mut in_flight = shared.in_flight();
    let mut earliest: Option<Instant> = None;
    for f in in_flight.values_mut() {
        if let Some(at) = check_one(shared, f, now) {
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        }
    }
    // Under the in-flight lock: an attempt added after this scan arms the
    // alarm after this, so its deadline is not overwritten.
    shared.alarm.set(earliest);
    earliest
}

/// One attempt's deadlines at `now`; its next one.
fn check_one(shared: &Shared, f: &mut InFlight, now: Instant) -> Option<Instant> {
    let control = f.ctx.control();
    // An ended attempt's lease matters only to the completer's settle,
    // which the store fences; an abandoned one is on its way out.
    if control.has_ended() || control.get() == Control::Abandon {
        return None;
    }
    let d = &mut f.deadlines;
    if d.soft.is_some_and(|at| at <= now) {
        d.soft = None;
        f.ctx.stop(StopReason::SoftTimeout);
    }
    if let Some((at, limit)) = d.hard
        && at <= now
    {
        settle(shared, f, AttemptEnd::TimedOut(limit), StopReason::Timeout);
        return None;
    }
    if d.cancel_grace.is_some_and(|at| at <= now) {
        settle(
            shared,
            f,
            AttemptEnd::CancelGraceExpired,
            StopReason::Cancelled,
        );
        return None;
    }
    if d.abandon_at.is_none() && f.lease_deadline <= now {
        warn!(
            id = %f.ctx.id(),
            attempt = f.attempt,
            "the lease ran out by this worker's clock (not renewed in time): \
             stopping the attempt; another worker may run the task"
        );
        f.ctx.stop(StopReason::LeaseLost);
        d.abandon_at = Some(now + shared.config.cancel_grace);
    }
    if d.abandon_at.is_some_and(|at| at <= now) {
        control.abandon();
        return None;
    }
    let lease = if d.abandon_at.is_some() {
        None
    } else {
        Some(f.lease_deadline)
    };
    [
        d.soft,
        d.hard.map(|(at, _)| at),
        d.cancel_grace,
        d.abandon_at,
        lease,
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Ends a running attempt here, unless it ended by itself first; tells
/// its handler to stop, and its supervisor to drop it.
fn settle(shared: &Shared, f: &InFlight, end: AttemptEnd, reason: StopReason) {
    let span = tracing::info_span!("task", id = %f.ctx.id(), task_type = %f.ctx.task_type(), attempt = f.attempt);
    crate::trace::set_parent(&span, f.trace_context.as_ref());
    if span.in_scope(|| end_attempt(shared, &f.ctx, end)) {
        f.ctx.stop(reason);
        f.ctx.control().changed.notify_one();
    }
}
