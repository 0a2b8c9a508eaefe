//! The worker-less runner behind [`InlineBackend`](super::InlineBackend)
//! and [`drain`](super::drain): claims a task through the ordinary
//! [`Broker`](crate::backend::Broker) calls, runs its handler in the
//! caller's task and settles the attempt the way a worker would (the same
//! [`lifecycle::after_error`] rule for retries), so the record a test
//! reads is the one production would store.
//!
//! The handler runs in a tokio task of its own (as on a worker), awaited
//! by the caller. What it keeps of a worker: panics caught (`ErrorKind::Panic`), the
//! result size limit, soft and hard timeouts, and a cancel requested while
//! the handler runs (seen through lease renewals, every
//! [`CHECK_EVERY`]), aborted after the default cancel grace. What it does
//! not: concurrency (one attempt at a time), a worker registration,
//! heartbeats to other processes' liking — a long inline handler's lease
//! is renewed only as often as `CHECK_EVERY`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backend::{Backend, ClaimRequest, LeaseStatus, Outcome, Settlement};
use crate::context::{Control, StopReason, TaskContext};
use crate::error::{Error, TaskError};
use crate::lifecycle;
use crate::payload::PayloadLimits;
use crate::registry::Registry;
use crate::task::{ErrorKind, TaskFailure, TaskRecord};
use crate::worker::CANCEL_GRACE_DEFAULT;

/// The worker id the runner claims under (visible as the record's
/// `worker_id`).
pub const RUNNER_ID: &str = "taskq-testing";

/// The lease the runner takes; renewed every [`CHECK_EVERY`] while the
/// handler runs, so it only matters if the test's runtime stalls.
const LEASE: Duration = Duration::from_secs(300);

/// How often a running handler's lease is renewed and a cancel looked for.
const CHECK_EVERY: Duration = Duration::from_millis(20);

/// What the runner needs besides the backend.
#[derive(Clone)]
pub(crate) struct Runner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) limits: PayloadLimits,
}

impl Runner {
    /// Claims at most one due task of `queue` (of `task_types`, or of any
    /// type this runner has a handler for) as of `now`.
    pub(crate) async fn claim_one(
        &self,
        queue: &str,
        task_types: Option<&[&str]>,
        now: DateTime<Utc>,
    ) -> Result<Option<TaskRecord>, Error> {
        let known: Vec<&str>;
        let task_types = match task_types {
            Some(types) => types,
            None => {
                known = self.registry.iter().map(|def| def.name).collect();
                &known
            }
        };
        let mut claimed = self
            .backend
            .claim(ClaimRequest {
                queue,
                limit: 1,
                worker_id: RUNNER_ID,
                lease: LEASE,
                now,
                task_types: Some(task_types),
            })
            .await?;
        Ok(claimed.pop())
    }

    /// Runs one claimed attempt and settles it at `at` (the real time, or
    /// the due time when the caller runs scheduled work early). Returns
    /// the outcome, or `None` when the attempt was no longer ours to
    /// settle (its lease was lost).
    pub(crate) async fn run(
        &self,
        record: TaskRecord,
        at: DateTime<Utc>,
    ) -> Result<Option<Outcome>, Error> {
        let ctx = TaskContext::for_attempt(
            record.id,
            record.task_type,
            record.queue,
            record.attempt,
            record.max_retries,
            record.snoozes,
            Some(self.backend.clone()),
        );
        let def = self.registry.get(ctx.task_type());
        let ended = match def {
            None => Ended::Returned(Err(TaskError::new(
                ErrorKind::UnknownTask,
                format!("no handler for `{}` in the test runner", ctx.task_type()),
            ))),
            Some(def) => {
                let handler = crate::workflow::attempt_handler(
                    def,
                    ctx.clone(),
                    record.params,
                    record.step.as_ref(),
                    Some(self.backend.clone()),
                );
                match self
                    .supervise(&ctx, handler, record.soft_timeout, record.timeout)
                    .await?
                {
                    Some(ended) => ended,
                    None => return Ok(None),
                }
            }
        };
        let at = at.max(Utc::now());
        let outcome = match ended {
            Ended::Returned(Ok(value)) => match self.limits.result_failure(&value) {
                Some(too_large) => Outcome::Failed(too_large),
                None => Outcome::Finished(value),
            },
            Ended::Returned(Err(error)) => lifecycle::after_returned_error(
                error,
                &ctx,
                ctx.control().get() == Control::Cancel,
                def.map(|def| &def.options),
                at,
            ),
            Ended::TimedOut(limit) => Outcome::Failed(TaskFailure {
                kind: ErrorKind::Timeout,
                message: format!("exceeded the hard timeout of {limit:?}"),
            }),
            Ended::CancelGraceExpired => Outcome::Cancelled(TaskFailure {
                kind: ErrorKind::Cancelled,
                message: format!("cancelled; aborted after a grace of {CANCEL_GRACE_DEFAULT:?}"),
            }),
        };
        let applied = self
            .backend
            .settle(vec![Settlement {
                id: ctx.id(),
                attempt: ctx.attempt(),
                outcome: outcome.clone(),
                at,
            }])
            .await?;
        Ok(applied.first().copied().unwrap_or(false).then_some(outcome))
    }

    /// Drives the handler to its end, renewing its lease, firing its
    /// token at the soft timeout or on a cancel, and dropping it at the
    /// hard timeout or after the cancel grace. `None`: the lease was lost.
    async fn supervise(
        &self,
        ctx: &TaskContext,
        handler: crate::registry::HandlerFuture,
        soft_timeout: Option<Duration>,
        timeout: Option<Duration>,
    ) -> Result<Option<Ended>, Error> {
        let started = tokio::time::Instant::now();
        let far = started + Duration::from_secs(100 * 365 * 24 * 3600);
        let soft_at = soft_timeout.map_or(far, |soft| started + soft);
        let hard_at = timeout.map_or(far, |hard| started + hard);
        let mut grace_until = far;
        let mut soft_fired = false;
        // A task of its own, as on a worker: the lease renewals below
        // must not wait for a handler paused in the middle of a backend
        // call (on a one-connection pool, such as SQLite's, it holds the
        // connection they need). Aborted however this function ends.
        let mut handler = tokio::spawn(handler);
        let _abort = AbortOnDrop(handler.abort_handle());
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                joined = &mut handler => {
                    return Ok(Some(Ended::Returned(joined.unwrap_or_else(|join| {
                        Err(match join.try_into_panic() {
                            Ok(panic) => panic_error(panic),
                            Err(_) => TaskError::new(ErrorKind::Panic, "the handler's task was aborted"),
                        })
                    }))));
                }
                _ = tokio::time::sleep_until(soft_at), if !soft_fired => {
                    soft_fired = true;
                    ctx.stop(StopReason::SoftTimeout);
                }
                _ = tokio::time::sleep_until(hard_at) => {
                    ctx.stop(StopReason::Timeout);
                    return Ok(Some(Ended::TimedOut(timeout.unwrap_or_default())));
                }
                _ = tokio::time::sleep_until(grace_until) => {
                    return Ok(Some(Ended::CancelGraceExpired));
                }
                _ = check.tick() => {
                    let lease_until = Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::MAX);
                    let status = self
                        .backend
                        .heartbeat(RUNNER_ID, &[(ctx.id(), ctx.attempt())], lease_until)
                        .await?;
                    match status.first() {
                        Some(LeaseStatus::CancelRequested) if ctx.control().request_cancel() => {
                            ctx.stop(StopReason::Cancelled);
                            grace_until = tokio::time::Instant::now() + CANCEL_GRACE_DEFAULT;
                        }
                        Some(LeaseStatus::Lost) => {
                            ctx.stop(StopReason::LeaseLost);
                            return Ok(None);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Aborts the handler's task when the runner stops waiting for it.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How an attempt ended, before it is turned into an [`Outcome`].
enum Ended {
    Returned(Result<serde_json::Value, TaskError>),
    TimedOut(Duration),
    CancelGraceExpired,
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> TaskError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned());
    TaskError::new(ErrorKind::Panic, format!("handler panicked: {message}"))
}
