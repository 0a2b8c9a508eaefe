//! The dispatcher: claims due tasks for free slots, queue by queue, and
//! starts their attempts; at shutdown, drains them and releases the rest.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backend::ClaimRequest;
use crate::context::{StopReason, TaskContext};
use crate::task::{TaskId, TaskRecord};

use super::attempt::{Attempt, Slot};
use super::batch;
use super::deadlines::Deadlines;
use super::shared::{InFlight, QueueSlots, Shared, retry_backoff};

/// Most tasks one claim call takes.
const CLAIM_BATCH_MAX: usize = 1000;

/// How long past its lease the dispatcher waits for a claim.
const CLAIM_BOUND_SLACK: Duration = Duration::from_secs(1);

/// Claims work for free slots until shutdown.
pub(super) async fn dispatch(
    shared: &Arc<Shared>,
    queues: &[QueueSlots],
    shutdown: &CancellationToken,
) {
    let signal = shared.backend.work_signal().unwrap_or_default();
    let poll = sleep(shared.config.poll_interval);
    tokio::pin!(poll);
    let mut failures = 0u32;
    let mut paused = shared.paused.subscribe();
    // Per queue, until when its rate limit holds its tasks back (the
    // backend's `claim_hold` after a short claim): no claim until then.
    let mut held: Vec<Option<DateTime<Utc>>> = vec![None; queues.len()];
    // Per queue, when a task its last claim held back by a type or key
    // rate limit may start (the backend's `claim_wake`): the queue is
    // still claimed on any signal, and claimed again by then at the
    // latest, instead of after the whole poll interval.
    let mut wake: Vec<Option<DateTime<Utc>>> = vec![None; queues.len()];
    while !shutdown.is_cancelled() {
        if *paused.borrow_and_update() {
            tokio::select! {
                _ = paused.wait_for(|paused| !*paused) => {}
                _ = shutdown.cancelled() => {}
            }
            continue;
        }
        // Listen before claiming, so a submission made while the claim
        // runs still wakes us.
        let work = signal.notified();
        let slot = shared.slot_freed.notified();
        tokio::pin!(work, slot);
        work.as_mut().enable();
        slot.as_mut().enable();

        let mut claim_failed = false;
        // A queue that gave fewer tasks than asked may be empty: poll it
        // for ETAs coming due and other processes' submissions.
        let mut some_queue_idle = false;
        // A queue that filled a whole claim batch and still has free slots.
        let mut claim_again = false;
        let claiming = shared.claiming.lock().await;
        if *shared.paused.borrow() {
            continue;
        }
        for ((queue, held), wake) in queues.iter().zip(held.iter_mut()).zip(wake.iter_mut()) {
            let free = queue.slots.available_permits().min(CLAIM_BATCH_MAX);
            if free == 0 {
                continue;
            }
            if held.is_some_and(|until| Utc::now() < until) {
                some_queue_idle = true;
                continue;
            }
            // The store's leases run from the request's `now`: so do ours.
            let lease_deadline = Instant::now() + shared.config.lease;
            let request = ClaimRequest {
                queue: &queue.name,
                limit: free,
                worker_id: &shared.worker_id,
                lease: shared.config.lease,
                now: Utc::now(),
                task_types: Some(&shared.task_types),
            };
            // Backends bound a claim by its lease (tasks claimed later than
            // that could already be another worker's); this bound a second
            // later is for one that does not. A claim cut short here may
            // still have been applied: its tasks wait out their lease and
            // are rescued.
            let claimed = tokio::time::timeout_at(
                lease_deadline + CLAIM_BOUND_SLACK,
                shared.backend.claim(request),
            )
            .await;
            match claimed {
                Ok(Ok(tasks)) if Instant::now() < lease_deadline => {
                    some_queue_idle |= tasks.len() < free;
                    (*held, *wake) = if tasks.len() < free {
                        (
                            shared.backend.claim_hold(&queue.name),
                            shared.backend.claim_wake(&queue.name),
                        )
                    } else {
                        (None, None)
                    };
                    start_attempts(shared, queue, tasks, lease_deadline);
                    claim_again |= queue.slots.available_permits() > 0 && !some_queue_idle;
                }
                Ok(Ok(tasks)) => {
                    claim_failed = true;
                    warn!(queue = %queue.name, count = tasks.len(), "a claim answered after its lease ran out; handing its tasks back");
                    hand_back_late(shared, tasks);
                }
                Ok(Err(err)) => {
                    claim_failed = true;
                    warn!(queue = %queue.name, error = %err, "claim failed");
                }
                Err(_) => {
                    claim_failed = true;
                    warn!(queue = %queue.name, lease = ?shared.config.lease, "claim unanswered for a whole lease");
                }
            }
        }
        drop(claiming);
        if claim_failed {
            failures += 1;
            let backoff = retry_backoff(failures);
            tokio::select! {
                _ = sleep(backoff) => {}
                _ = shutdown.cancelled() => {}
            }
            continue;
        }
        failures = 0;
        if claim_again {
            continue;
        }
        if some_queue_idle {
            poll.as_mut().reset(next_poll(
                shared.config.poll_interval,
                held.iter().chain(&wake),
            ));
            tokio::select! {
                _ = &mut work => {}
                _ = &mut slot => {}
                _ = &mut poll => {}
                _ = shutdown.cancelled() => {}
            }
        } else {
            // Every queue is busy: only a freed slot matters. Yielding once
            // lets attempts finishing right now free theirs too, so the next
            // claim takes them in one batch instead of one call each.
            tokio::select! {
                _ = &mut slot => {}
                _ = shutdown.cancelled() => {}
            }
            tokio::task::yield_now().await;
        }
    }
}

/// When to claim again from idle queues: after the poll interval, or as
/// soon as a held queue's rate limit (or a held type's or key's) allows
/// its next start, whichever comes first (a queue held by its own rate
/// limit is not claimed before, whatever wakes us).
fn next_poll<'a>(
    interval: Duration,
    held: impl Iterator<Item = &'a Option<DateTime<Utc>>>,
) -> Instant {
    let now = Utc::now();
    let soonest = held
        .flatten()
        // A hold that passed is no reason to wake: its queue was claimed
        // (or has no free slot, and a freed slot wakes us).
        .filter(|until| **until > now)
        .map(|until| (*until - now).to_std().unwrap_or(Duration::ZERO))
        .min()
        .map_or(interval, |wait| wait.min(interval));
    Instant::now() + soonest
}

/// Waits for in-flight attempts up to the shutdown grace, then releases
/// the rest back to `PENDING`.
pub(super) async fn drain(shared: &Arc<Shared>, queues: &[QueueSlots]) {
    let deadline = Instant::now() + shared.config.shutdown_grace;
    let idle = || {
        queues
            .iter()
            .all(|q| q.slots.available_permits() == q.concurrency)
    };
    while !idle() && Instant::now() < deadline {
        let slot = shared.slot_freed.notified();
        tokio::select! {
            _ = slot => {}
            _ = sleep(Duration::from_millis(50)) => {}
        }
    }
    if idle() {
        return;
    }
    // Not the ended attempts: their outcomes are on their way to the
    // store, and releasing them would run them again.
    let abandoned: Vec<(TaskId, u32)> = {
        let in_flight = shared.in_flight();
        in_flight
            .iter()
            .filter(|(_, f)| !f.ctx.control().has_ended())
            .map(|(id, f)| {
                f.ctx.stop(StopReason::Shutdown);
                f.ctx.control().abandon();
                (*id, f.attempt)
            })
            .collect()
    };
    // Let the aborted attempts drop their slots before releasing them (a
    // handler stuck in blocking code cannot be dropped: do not wait forever).
    let deadline = Instant::now() + shared.config.cancel_grace;
    while !idle() && Instant::now() < deadline {
        tokio::select! {
            _ = shared.slot_freed.notified() => {}
            _ = sleep(Duration::from_millis(20)) => {}
        }
    }
    match shared
        .backend
        .release(&shared.worker_id, &abandoned, Utc::now())
        .await
    {
        Ok(()) => info!(count = abandoned.len(), "released unfinished tasks"),
        Err(err) => warn!(error = %err, "could not release tasks; their leases will expire"),
    }
    shared
        .in_flight()
        .retain(|id, _| !abandoned.iter().any(|(a, _)| a == id));
}

/// Releases tasks claimed too late to run (fenced by attempt: harmless if
/// another worker has them by now), without holding up the dispatcher.
fn hand_back_late(shared: &Arc<Shared>, tasks: Vec<TaskRecord>) {
    let held: Vec<(TaskId, u32)> = tasks.iter().map(|t| (t.id, t.attempt)).collect();
    let shared = shared.clone();
    tokio::spawn(async move {
        let release = shared.backend.release(&shared.worker_id, &held, Utc::now());
        match tokio::time::timeout(shared.config.lease, release).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                warn!(error = %err, "could not hand back late tasks; their leases will expire")
            }
            Err(_) => warn!("handing back late tasks timed out; their leases will expire"),
        }
    });
}

/// Registers claimed tasks as in flight (one lock for the batch) with
/// their deadlines, and starts them on the handler runtime.
pub(super) fn start_attempts(
    shared: &Arc<Shared>,
    queue: &QueueSlots,
    tasks: Vec<TaskRecord>,
    lease_deadline: Instant,
) {
    if tasks.is_empty() {
        return;
    }
    let started_at = lease_deadline - shared.config.lease;
    let mut earliest = lease_deadline;
    let mut started = Vec::with_capacity(tasks.len());
    {
        let mut in_flight = shared.in_flight();
        for record in tasks {
            // Cannot fail: we asked for at most the free slots and only
            // the dispatcher takes permits.
            let Ok(permit) = queue.slots.clone().try_acquire_owned() else {
                break;
            };
            let deadlines = Deadlines::starting(started_at, record.timeout, record.soft_timeout);
            if let Some(soft) = deadlines.soft {
                earliest = earliest.min(soft);
            }
            if let Some((hard, _)) = deadlines.hard {
                earliest = earliest.min(hard);
            }
            let attempt = Attempt {
                ctx: TaskContext::for_attempt(
                    record.id,
                    record.task_type,
                    record.queue,
                    record.attempt,
                    record.max_retries,
                    record.snoozes,
                    Some(shared.backend.clone()),
                ),
                params: record.params,
                step: record.step,
                trace_context: record.trace_context,
            };
            in_flight.insert(
                record.id,
                InFlight {
                    attempt: record.attempt,
                    ctx: attempt.ctx.clone(),
                    lease_deadline,
                    deadlines,
                    trace_context: attempt.trace_context.clone(),
                },
            );
            started.push((attempt, Slot::new(permit, shared.slot_freed.clone())));
        }
    }
    shared.alarm.arm(earliest);
    batch::start(shared, started);
}
