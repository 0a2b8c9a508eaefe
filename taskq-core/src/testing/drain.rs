//! [`drain`]: run what is enqueued now, without a worker (Oban's
//! `drain_queue`, Sidekiq's `drain_all`).

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use chrono::{DateTime, Utc};

use super::runner::Runner;
use crate::backend::{Outcome, PageRequest, TaskFilter};
use crate::client::Client;
use crate::error::Error;
use crate::task::TaskState;

/// Attempts a drain makes at most, unless told otherwise
/// ([`Drain::max_attempts`]).
pub const DRAIN_MAX_ATTEMPTS_DEFAULT: usize = 10_000;

/// Runs the pending tasks of `client`'s backend, one attempt at a time in
/// the caller's task, until none that this process has a handler for is
/// due: tasks the handlers submit meanwhile run too. Works on any backend
/// (it claims and settles through the ordinary calls, as worker
/// [`RUNNER_ID`](super::RUNNER_ID)); await it for a [`DrainReport`].
///
/// By default only due tasks run: a task with a future ETA, or a retry
/// waiting for its backoff, stays pending.
/// [`with_scheduled`](Drain::with_scheduled) runs those too, at once, as
/// if the clock had moved to their due time — so retries run until spent.
/// Paused queues are left alone. Timeouts, cancels, panics and the result
/// size limit (the client's) are handled as a worker would.
///
/// ```
/// use taskq::prelude::*;
///
/// #[long_task(name = "doc.drain.welcome")]
/// async fn welcome(user: u64) -> Result<String, TaskError> {
///     Ok(format!("hello {user}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), taskq::Error> {
/// let client = Client::new(std::sync::Arc::new(taskq::MemoryBackend::new()))?;
/// let id = client.submit(welcome, 7).await?;
/// assert_eq!(taskq::testing::enqueued(&client, welcome).await?, vec![7]);
///
/// let report = taskq::testing::drain(&client).await?;
/// assert_eq!((report.attempts, report.finished), (1, 1));
/// assert_eq!(client.get(id).await?.state, TaskState::Finished);
/// assert!(taskq::testing::enqueued(&client, welcome).await?.is_empty());
/// # Ok(()) }
/// ```
pub fn drain(client: &Client) -> Drain<'_> {
    Drain {
        client,
        queue: None,
        with_scheduled: false,
        max_attempts: DRAIN_MAX_ATTEMPTS_DEFAULT,
    }
}

/// A drain about to run: narrow it, then `.await` it. See [`drain`].
#[must_use = "a drain does nothing until awaited"]
#[derive(Debug)]
pub struct Drain<'c> {
    client: &'c Client,
    queue: Option<String>,
    with_scheduled: bool,
    max_attempts: usize,
}

impl Drain<'_> {
    /// Only this queue's tasks.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Also tasks not due yet (ETAs, retries waiting for their backoff),
    /// run at once.
    pub fn with_scheduled(mut self) -> Self {
        self.with_scheduled = true;
        self
    }

    /// Stops after this many attempts (10,000 by default) and says so in
    /// [`DrainReport::limit_reached`]: a bound for a task that keeps
    /// submitting itself.
    pub fn max_attempts(mut self, max_attempts: usize) -> Self {
        self.max_attempts = max_attempts;
        self
    }
}

impl<'c> IntoFuture for Drain<'c> {
    type Output = Result<DrainReport, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let runner = Runner {
                backend: self.client.backend().clone(),
                registry: self.client.registry().clone(),
                limits: self.client.payload_limits(),
            };
            drain_with(
                &runner,
                self.queue.as_deref(),
                self.with_scheduled,
                self.max_attempts,
            )
            .await
        })
    }
}

/// What a [`drain`] did: attempts run, and how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Attempts run (a task retried twice counts three).
    pub attempts: u64,
    /// Attempts that ended `FINISHED`.
    pub finished: u64,
    /// Attempts that ended `FAILED` (no retry left, or not retryable).
    pub failed: u64,
    /// Attempts that ended `CANCELLED`.
    pub cancelled: u64,
    /// Attempts that failed and were scheduled again (`PENDING` with the
    /// backoff as ETA).
    pub retried: u64,
    /// Attempts that snoozed (`PENDING` again after their delay, the
    /// attempt given back).
    pub snoozed: u64,
    /// The drain stopped at [`Drain::max_attempts`] with work left.
    pub limit_reached: bool,
}

/// The drain loop, shared with the inline backend's resumed queues.
pub(crate) async fn drain_with(
    runner: &Runner,
    queue: Option<&str>,
    with_scheduled: bool,
    max_attempts: usize,
) -> Result<DrainReport, Error> {
    let mut report = DrainReport::default();
    loop {
        let queues: Vec<String> = runner
            .backend
            .queue_stats()
            .await?
            .into_iter()
            .filter(|stats| !stats.paused && queue.is_none_or(|q| q == stats.queue))
            .filter(|stats| stats.pending > 0 || (with_scheduled && stats.scheduled > 0))
            .map(|stats| stats.queue)
            .collect();
        let mut ran = false;
        for queue in &queues {
            let now = Utc::now();
            let mut at = now;
            let mut claimed = runner.claim_one(queue, None, now).await?;
            if claimed.is_none()
                && with_scheduled
                && let Some(due) = earliest_known_pending(runner, queue).await?
            {
                at = due.max(now);
                claimed = runner.claim_one(queue, None, at).await?;
            }
            let Some(record) = claimed else { continue };
            if report.attempts >= max_attempts as u64 {
                // Claimed one too many: give it back untouched.
                runner
                    .backend
                    .release(super::RUNNER_ID, &[(record.id, record.attempt)], now)
                    .await?;
                report.limit_reached = true;
                return Ok(report);
            }
            ran = true;
            report.attempts += 1;
            match runner.run(record, at).await? {
                Some(Outcome::Finished(_)) => report.finished += 1,
                Some(Outcome::Failed(_)) => report.failed += 1,
                Some(Outcome::Cancelled(_)) => report.cancelled += 1,
                Some(Outcome::Retry { .. }) => report.retried += 1,
                Some(Outcome::Snooze { .. }) => report.snoozed += 1,
                None => {}
            }
            // Read the queues again: the handler may have submitted more.
            break;
        }
        if !ran {
            return Ok(report);
        }
    }
}

/// The earliest due time of `queue`'s pending tasks of a type the runner
/// can run.
async fn earliest_known_pending(
    runner: &Runner,
    queue: &str,
) -> Result<Option<DateTime<Utc>>, Error> {
    let filter = TaskFilter {
        state: Some(TaskState::Pending),
        queue: Some(queue.to_owned()),
        ..TaskFilter::default()
    };
    let mut earliest: Option<DateTime<Utc>> = None;
    let mut page = 1;
    loop {
        let found = runner
            .backend
            .list(&filter, PageRequest::new(page, PageRequest::MAX_PAGE_SIZE))
            .await?;
        for record in &found.items {
            if runner.registry.get(&record.task_type).is_some() {
                earliest =
                    Some(earliest.map_or(record.scheduled_at, |e| e.min(record.scheduled_at)));
            }
        }
        if found.items.is_empty() || page * found.page_size >= found.total {
            return Ok(earliest);
        }
        page += 1;
    }
}
