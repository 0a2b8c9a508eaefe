//! Hooks around attempts ([`AttemptHook`]): code a host runs at the start
//! of every attempt, around its handler, and at its end, for logging,
//! metrics, tracing or context, without wrapping each handler.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use tracing::warn;

use crate::backend::Outcome;
use crate::context::TaskContext;
use crate::registry::HandlerFuture;

/// Code a worker runs for every attempt it starts, added with
/// [`WorkerBuilder::hook`](crate::WorkerBuilder::hook). Every method has a
/// default that does nothing, so a hook writes only what it needs.
///
/// - [`started`](AttemptHook::started): the attempt was claimed and its
///   handler is about to run.
/// - [`around`](AttemptHook::around): wraps the handler's future, on the
///   handler's own task: enter a span, scope a task-local, time the
///   handler, or refuse to run it by answering an error without polling
///   `next`. Hooks nest in the order they were added: the first is
///   outermost.
/// - [`ended`](AttemptHook::ended): the attempt ended, with what the store
///   is about to record — including the ends the handler did not return
///   itself (a hard timeout, a cancel past its grace, a result over the
///   size limit) and whether a failure will be retried. Not called for an
///   attempt the worker gave up because it lost its lease (the rescuer
///   settles that one).
///
/// `started` and `ended` run on the worker's threads and must be quick; a
/// panic in them is logged and does not stop the worker.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use taskq::backend::Outcome;
/// use taskq::worker::AttemptHook;
/// use taskq::TaskContext;
///
/// /// Counts the attempts that failed for good.
/// #[derive(Default)]
/// struct Failures(AtomicU64);
///
/// impl AttemptHook for Failures {
///     fn ended(&self, ctx: &TaskContext, outcome: &Outcome) {
///         if let Outcome::Failed(failure) = outcome {
///             self.0.fetch_add(1, Ordering::Relaxed);
///             eprintln!("{} {} failed after {:?}: {}", ctx.task_type(), ctx.id(),
///                 ctx.elapsed(), failure.message);
///         }
///     }
/// }
/// # fn build(client: &taskq::Client) -> Result<taskq::Worker, taskq::Error> {
/// taskq::Worker::builder(client)
///     .queue("default", 4)
///     .hook(Failures::default())
///     .build()
/// # }
/// ```
pub trait AttemptHook: Send + Sync + 'static {
    /// The attempt is about to run its handler.
    fn started(&self, ctx: &TaskContext) {
        let _ = ctx;
    }

    /// Wraps the handler: answer `next` (the default) or a future that
    /// awaits it.
    fn around(&self, ctx: &TaskContext, next: HandlerFuture) -> HandlerFuture {
        let _ = ctx;
        next
    }

    /// The attempt ended with `outcome`, which the store is about to
    /// record.
    fn ended(&self, ctx: &TaskContext, outcome: &Outcome) {
        let _ = (ctx, outcome);
    }
}

/// A worker's hooks, in the order they were added.
#[derive(Clone, Default)]
pub(super) struct Hooks(Vec<Arc<dyn AttemptHook>>);

impl Hooks {
    pub(super) fn push(&mut self, hook: Arc<dyn AttemptHook>) {
        self.0.push(hook);
    }

    /// Calls every `started`, then wraps `handler` in every `around`, the
    /// first hook outermost.
    pub(super) fn start(&self, ctx: &TaskContext, handler: HandlerFuture) -> HandlerFuture {
        if self.0.is_empty() {
            return handler;
        }
        for hook in &self.0 {
            guarded("started", || hook.started(ctx));
        }
        self.0
            .iter()
            .rev()
            .fold(handler, |next, hook| hook.around(ctx, next))
    }

    pub(super) fn ended(&self, ctx: &TaskContext, outcome: &Outcome) {
        for hook in &self.0 {
            guarded("ended", || hook.ended(ctx, outcome));
        }
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} attempt hooks", self.0.len())
    }
}

/// Runs a hook's callback; a panic in it is logged, not spread.
fn guarded(which: &str, call: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(call)).is_err() {
        warn!(
            hook = which,
            "an attempt hook panicked; the attempt goes on"
        );
    }
}
