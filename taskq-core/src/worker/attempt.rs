//! One attempt: runs a claimed task's handler under its timeouts and the
//! worker's cancel and abandon instructions, and turns how it ended into
//! a settlement for the completer.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep_until};
use tracing::{Instrument, debug, info, warn};

use crate::backend::{Outcome, Settlement};
use crate::context::{Control, StopReason, TaskContext};
use crate::error::TaskError;
use crate::lifecycle::{self, RetryPolicy};
use crate::registry::HandlerFuture;
use crate::task::{ErrorKind, TaskFailure};

use super::shared::Shared;

/// A running handler, with its panics caught.
pub(super) type AttemptFuture = futures_util::future::CatchUnwind<AssertUnwindSafe<HandlerFuture>>;

/// A claimed task, ready to run: the record's parts the attempt needs.
pub(super) struct Attempt {
    pub(super) ctx: TaskContext,
    pub(super) params: Value,
    pub(super) timeout: Option<Duration>,
    pub(super) soft_timeout: Option<Duration>,
}

/// How an attempt ended, before it becomes a settlement.
pub(super) enum AttemptEnd {
    Returned(Result<serde_json::Value, TaskError>),
    TimedOut(Duration),
    CancelGraceExpired,
    Abandoned,
}

/// Runs a claimed batch. Each handler is polled once here, in its span;
/// only those still running after that get a tokio task of their own,
/// with timers. Most short handlers finish at their first poll, so a batch
/// of them costs one spawn instead of one each.
///
/// A handler that blocks its thread in its first poll delays the rest of
/// its batch — as it would delay every task on that thread anyway.
pub(super) async fn run_batch(shared: Arc<Shared>, batch: Vec<(Attempt, OwnedSemaphorePermit)>) {
    for (attempt, permit) in batch {
        let Attempt {
            ctx,
            params,
            timeout,
            soft_timeout,
        } = attempt;
        let span = tracing::info_span!(
            "task",
            id = %ctx.id(),
            task_type = %ctx.task_type(),
            attempt = ctx.attempt(),
            queue = %ctx.queue(),
        );
        let Some(def) = shared.registry.get(ctx.task_type()) else {
            let error = TaskError::new(
                ErrorKind::UnknownTask,
                format!(
                    "no handler for `{}` in worker {}",
                    ctx.task_type(),
                    shared.worker_id
                ),
            );
            span.in_scope(|| finish(&shared, &ctx, AttemptEnd::Returned(Err(error)), permit));
            continue;
        };
        let mut running = AssertUnwindSafe((def.handler)(ctx.clone(), params)).catch_unwind();
        // Unconstrained: the batch's earlier handlers must not spend this
        // one's share of tokio's cooperative budget.
        let first = std::future::poll_fn(|cx| {
            Poll::Ready(span.in_scope(|| tokio::task::unconstrained(&mut running).poll_unpin(cx)))
        })
        .await;
        match first {
            Poll::Ready(result) => {
                let end =
                    AttemptEnd::Returned(result.unwrap_or_else(|panic| Err(panic_error(panic))));
                span.in_scope(|| finish(&shared, &ctx, end, permit));
            }
            Poll::Pending => {
                let shared = shared.clone();
                tokio::spawn(
                    async move {
                        let end = supervise(&shared, &ctx, running, timeout, soft_timeout).await;
                        finish(&shared, &ctx, end, permit);
                    }
                    .instrument(span),
                );
            }
        }
    }
}

/// Frees the attempt's slot and hands its outcome to the completer.
pub(super) fn finish(
    shared: &Shared,
    ctx: &TaskContext,
    end: AttemptEnd,
    permit: OwnedSemaphorePermit,
) {
    drop(permit);
    shared.slot_freed.notify_one();
    match settlement_for(shared, ctx, end) {
        // The completer outlives every attempt; a send error would only
        // mean the worker is gone.
        Some(settlement) => {
            ctx.control().end();
            let _ = shared.settle_tx.send(settlement);
        }
        None => {
            shared.in_flight().remove(&ctx.id());
        }
    }
}

/// Drives a handler that did not finish at once, under its soft and hard
/// timeouts and the worker's cancel and abandon instructions.
pub(super) async fn supervise(
    shared: &Shared,
    ctx: &TaskContext,
    mut attempt: AttemptFuture,
    timeout: Option<Duration>,
    soft_timeout: Option<Duration>,
) -> AttemptEnd {
    let started = Instant::now();
    let hard = timeout.map(|t| started + t);
    let mut soft = soft_timeout.map(|t| started + t);
    let mut grace: Option<Instant> = None;
    let control = ctx.control();
    loop {
        // Created each round: a change made in between left a permit.
        let changed = control.changed.notified();
        tokio::select! {
            result = &mut attempt => {
                return AttemptEnd::Returned(result.unwrap_or_else(|panic| Err(panic_error(panic))));
            }
            _ = sleep_until(soft.unwrap_or(started)), if soft.is_some() => {
                soft = None;
                ctx.stop(StopReason::SoftTimeout);
            }
            _ = sleep_until(hard.unwrap_or(started)), if hard.is_some() => {
                return AttemptEnd::TimedOut(timeout.unwrap_or_default());
            }
            _ = sleep_until(grace.unwrap_or(started)), if grace.is_some() => {
                return AttemptEnd::CancelGraceExpired;
            }
            _ = changed => {
                match control.get() {
                    Control::Run => {}
                    Control::Cancel => {
                        if grace.is_none() {
                            grace = Some(Instant::now() + shared.config.cancel_grace);
                        }
                    }
                    Control::Abandon => return AttemptEnd::Abandoned,
                }
            }
        }
    }
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> TaskError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned());
    TaskError::new(ErrorKind::Panic, format!("handler panicked: {message}"))
}

/// Turns an attempt's end into what the store should record.
pub(super) fn settlement_for(
    shared: &Shared,
    ctx: &TaskContext,
    end: AttemptEnd,
) -> Option<Settlement> {
    let at = Utc::now();
    let cancel_requested = ctx.control().get() == Control::Cancel;
    let outcome = match end {
        AttemptEnd::Abandoned => return None,
        AttemptEnd::Returned(Ok(value)) => match shared.payload_limits.result_failure(&value) {
            Some(too_large) => Outcome::Failed(too_large),
            None => Outcome::Finished(value),
        },
        AttemptEnd::CancelGraceExpired => Outcome::Cancelled(TaskFailure {
            kind: ErrorKind::Cancelled,
            message: format!(
                "cancelled; aborted after a grace of {:?}",
                shared.config.cancel_grace
            ),
        }),
        AttemptEnd::TimedOut(limit) => Outcome::Failed(TaskFailure {
            kind: ErrorKind::Timeout,
            message: format!("exceeded the hard timeout of {limit:?}"),
        }),
        AttemptEnd::Returned(Err(error)) => {
            let policy = shared
                .registry
                .get(ctx.task_type())
                .map(|def| RetryPolicy::of(&def.options));
            lifecycle::after_error(
                error.into_failure(),
                ctx.attempt(),
                ctx.max_retries(),
                cancel_requested,
                policy.as_ref(),
                at,
            )
        }
    };
    match &outcome {
        Outcome::Finished(_) => debug!("task finished"),
        Outcome::Retry { error, run_at } => {
            info!(kind = %error.kind, message = %error.message, %run_at, "attempt failed; retry scheduled")
        }
        Outcome::Failed(error) => {
            warn!(kind = %error.kind, message = %error.message, "task failed")
        }
        Outcome::Cancelled(_) => info!("task cancelled"),
    }
    Some(Settlement {
        id: ctx.id(),
        attempt: ctx.attempt(),
        outcome,
        at,
    })
}
