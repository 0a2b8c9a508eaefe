//! One attempt: runs a claimed task's handler, and turns how it ended into
//! a settlement for the completer. Its deadlines (timeouts, cancel grace,
//! lease) are kept by the deadline keeper, which ends or abandons it.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tracing::{Instrument, debug, info, warn};

use crate::backend::{Outcome, Settlement};
use crate::context::{Control, TaskContext};
use crate::error::TaskError;
use crate::lifecycle;
use crate::task::{ErrorKind, TaskFailure, WorkflowStep};
use crate::trace::{self, TraceContext};
use crate::workflow::attempt_handler;

use super::shared::Shared;

/// A handler's result, or the payload of its panic.
type Caught = Result<Result<Value, TaskError>, Box<dyn Any + Send>>;

/// A claimed task, ready to run: the record's parts the attempt needs.
pub(super) struct Attempt {
    pub(super) ctx: TaskContext,
    pub(super) params: Value,
    /// Its place in a workflow: a step may take its params from its
    /// parents.
    pub(super) step: Option<WorkflowStep>,
    /// The submitter's trace context: the attempt's span is its child.
    pub(super) trace_context: Option<TraceContext>,
}

/// How an attempt ended, before it becomes a settlement.
pub(super) enum AttemptEnd {
    Returned(Result<Value, TaskError>),
    TimedOut(Duration),
    CancelGraceExpired,
}

/// A claimed task's place in its queue's concurrency, held by whatever
/// runs its handler: freed, and the dispatcher told, when dropped. A
/// handler stuck in blocking code keeps its slot after its attempt was
/// settled (timed out): its thread is still busy.
pub(super) struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    freed: Arc<Notify>,
}

impl Slot {
    pub(super) fn new(permit: OwnedSemaphorePermit, freed: Arc<Notify>) -> Slot {
        Slot {
            permit: Some(permit),
            freed,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The permit first: the dispatcher, once told, counts free permits.
        drop(self.permit.take());
        self.freed.notify_one();
    }
}

/// Starts one attempt: polls a handler once here, in its span, and gives
/// one still running after that a tokio task of its own (most short
/// handlers finish at their first poll, so a batch of them costs one spawn
/// instead of one each). A `blocking` handler runs on the blocking pool.
/// Timeouts are not kept here but by the deadline keeper, which runs even
/// while a handler blocks this thread.
pub(super) async fn start(shared: &Arc<Shared>, attempt: Attempt, slot: Slot) {
    let Attempt {
        ctx,
        params,
        step,
        trace_context,
    } = attempt;
    let span = tracing::info_span!(
        "task",
        id = %ctx.id(),
        task_type = %ctx.task_type(),
        attempt = ctx.attempt(),
        queue = %ctx.queue(),
    );
    trace::set_parent(&span, trace_context.as_ref());
    let Some(def) = shared.registry.get(ctx.task_type()) else {
        let error = TaskError::new(
            ErrorKind::UnknownTask,
            format!(
                "no handler for `{}` in worker {}",
                ctx.task_type(),
                shared.worker_id
            ),
        );
        span.in_scope(|| finish(shared, &ctx, Some(Ok(Err(error)))));
        drop(slot);
        return;
    };
    let handler = attempt_handler(
        def,
        ctx.clone(),
        params,
        step.as_ref(),
        Some(shared.backend.clone()),
    );
    let handler = span.in_scope(|| shared.hooks.start(&ctx, handler));
    if def.options.blocking {
        let runtime = tokio::runtime::Handle::current();
        let blocking_span = span.clone();
        // The slot goes with the thread: it is busy until the handler
        // returns, whatever the attempt's outcome by then.
        let running = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            blocking_span.in_scope(|| runtime.block_on(handler))
        });
        let running = async move {
            running.await.map_err(|join| match join.try_into_panic() {
                Ok(panic) => panic,
                Err(_) => Box::new("the blocking pool dropped the handler") as Box<dyn Any + Send>,
            })
        };
        let shared = shared.clone();
        tokio::spawn(
            async move {
                let returned = supervise(&ctx, running).await;
                finish(&shared, &ctx, returned);
            }
            .instrument(span),
        );
        return;
    }
    let mut running = AssertUnwindSafe(handler).catch_unwind();
    // Unconstrained: the batch's earlier handlers must not spend this
    // one's share of tokio's cooperative budget.
    let first = std::future::poll_fn(|cx| {
        Poll::Ready(span.in_scope(|| tokio::task::unconstrained(&mut running).poll_unpin(cx)))
    })
    .await;
    match first {
        Poll::Ready(caught) => {
            span.in_scope(|| finish(shared, &ctx, Some(caught)));
            drop(slot);
        }
        Poll::Pending => {
            let shared = shared.clone();
            tokio::spawn(
                async move {
                    let returned = supervise(&ctx, running).await;
                    finish(&shared, &ctx, returned);
                    drop(slot);
                }
                .instrument(span),
            );
        }
    }
}

/// Hands a returned handler's outcome to the completer, unless the
/// attempt already ended (the deadline keeper settled it) or the worker
/// abandoned it; an abandoned attempt is forgotten here. `None`: the
/// worker stopped the handler before it returned.
pub(super) fn finish(shared: &Shared, ctx: &TaskContext, returned: Option<Caught>) {
    if ctx.control().get() == Control::Abandon {
        let mut in_flight = shared.in_flight();
        if in_flight
            .get(&ctx.id())
            .is_some_and(|f| f.attempt == ctx.attempt())
        {
            in_flight.remove(&ctx.id());
        }
        return;
    }
    let Some(caught) = returned else { return };
    let end = AttemptEnd::Returned(caught.unwrap_or_else(|panic| Err(panic_error(panic))));
    end_attempt(shared, ctx, end);
}

/// Ends the attempt with `end` and hands its settlement to the completer,
/// unless it already ended: the attempt and the deadline keeper race to
/// end it, and only the one that gets `true` here settles it.
pub(super) fn end_attempt(shared: &Shared, ctx: &TaskContext, end: AttemptEnd) -> bool {
    if !ctx.control().try_end() {
        return false;
    }
    let settlement = settlement_for(shared, ctx, end);
    shared.hooks.ended(ctx, &settlement.outcome);
    shared
        .tally()
        .count(ctx.queue(), &settlement.outcome, settlement.at);
    // The completer outlives every attempt; a send error would only mean
    // the worker is gone.
    let _ = shared.settle_tx.send(settlement);
    true
}

/// Drives a handler that did not finish at once until it returns, or until
/// the worker ends the attempt (the deadline keeper settled it) or
/// abandons it — then drops it, and gives `None`.
async fn supervise<F: Future<Output = Caught>>(ctx: &TaskContext, attempt: F) -> Option<Caught> {
    tokio::pin!(attempt);
    let control = ctx.control();
    loop {
        // Created each round: a change made in between left a permit.
        let changed = control.changed.notified();
        if control.get() == Control::Abandon || control.has_ended() {
            return None;
        }
        tokio::select! {
            caught = &mut attempt => return Some(caught),
            _ = changed => {}
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
pub(super) fn settlement_for(shared: &Shared, ctx: &TaskContext, end: AttemptEnd) -> Settlement {
    let at = Utc::now();
    let cancel_requested = ctx.control().get() == Control::Cancel;
    let outcome = match end {
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
        AttemptEnd::Returned(Err(error)) => lifecycle::after_returned_error(
            error,
            ctx,
            cancel_requested,
            shared.registry.get(ctx.task_type()).map(|def| &def.options),
            at,
        ),
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
        Outcome::Snooze { run_at } => debug!(%run_at, "task snoozed"),
    }
    Settlement {
        id: ctx.id(),
        attempt: ctx.attempt(),
        outcome,
        at,
    }
}
