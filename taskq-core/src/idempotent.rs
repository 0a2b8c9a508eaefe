//! Idempotent submits. A submission's id is fixed before its first try
//! (the caller's, from [`Submission::id`](crate::Submission::id), or one
//! the client draws), so trying again is safe: a backend refuses a stored
//! id atomically ([`Error::TaskExists`]), and the client reads the stored
//! task and answers with its id when it is the same submission. This lets
//! the client retry by itself after an *ambiguous* error
//! ([`Error::Backend`]: a connection lost after the commit, a timeout),
//! where the task may or may not have been stored, without ever storing
//! it twice.

use std::time::Duration;

use crate::client::Client;
use crate::error::Error;
use crate::task::{TaskId, TaskRecord};

/// What a submit did: the task's id, and whether it was already stored.
///
/// From [`Submission::outcome`](crate::Submission::outcome); `.await` on a
/// submission gives the id alone. Non-exhaustive so that later reasons for
/// a duplicate (a uniqueness key) can be told apart without breaking
/// callers.
///
/// ```
/// # use std::sync::Arc;
/// # use taskq::prelude::*;
/// #[long_task]
/// async fn charge(order: u64) -> Result<(), TaskError> {
///     # let _ = order;
///     Ok(())
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
/// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
/// // The caller's id: v7 ids sort by creation time, random (v4) ids work too.
/// let id = uuid::Uuid::now_v7();
/// let first = client.submit(charge, 42).id(id).outcome().await?;
/// assert_eq!((first.id, first.duplicate), (id, false));
/// // Submitting it again (a retry by the caller) stores nothing new.
/// let again = client.submit(charge, 42).id(id).outcome().await?;
/// assert_eq!((again.id, again.duplicate), (id, true));
/// // Other params under the same id are another task: refused.
/// let other = client.submit(charge, 43).id(id).await;
/// assert!(matches!(other, Err(Error::TaskExists(existing)) if existing == id));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Submitted {
    /// The task's id (the caller's, or the one the client drew).
    pub id: TaskId,
    /// `true` when the task was stored before this submit reached the
    /// backend: an earlier submit with the same id, task type and params.
    /// Nothing was changed. `false` when this submit stored it — also
    /// when an earlier try of this same submit did, before an ambiguous
    /// error (told by the stored creation time, which this submit chose).
    pub duplicate: bool,
    /// `true` when the duplicate was found by the uniqueness key
    /// ([`Unique`](crate::Unique)): `id` is then the task that holds the
    /// key (not the id this submit drew), and nothing was stored.
    pub unique_conflict: bool,
}

/// How often a submit is tried after an ambiguous error
/// ([`Error::Backend`]: the operation may or may not have been applied),
/// set with [`Client::with_submit_retry`]. A typed refusal (invalid params,
/// payload too large, a task id that exists with other contents) is never
/// retried.
///
/// ```
/// # fn demo(client: taskq_core::Client) {
/// use std::time::Duration;
/// use taskq_core::SubmitRetry;
///
/// // One try, as before: the caller handles `Error::Backend` itself.
/// let client = client.with_submit_retry(SubmitRetry::NONE);
/// // Or more tries, waiting 50, 100, 200, 400 ms between them.
/// let client = client.with_submit_retry(SubmitRetry {
///     tries: 5,
///     first_backoff: Duration::from_millis(50),
/// });
/// # let _ = client; }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitRetry {
    /// Tries in all, the first included (`0` counts as `1`).
    pub tries: u32,
    /// The wait before the second try; it doubles before each next one.
    pub first_backoff: Duration,
}

impl SubmitRetry {
    /// The default: 4 tries, waiting 100, 200 and 400 ms between them
    /// (at most 0.7 s more than a lost connection takes to report).
    pub const DEFAULT: SubmitRetry = SubmitRetry {
        tries: 4,
        first_backoff: Duration::from_millis(100),
    };

    /// One try: every error reaches the caller.
    pub const NONE: SubmitRetry = SubmitRetry {
        tries: 1,
        first_backoff: Duration::ZERO,
    };

    /// The wait after failed try number `tried` (1-based).
    pub(crate) fn backoff(&self, tried: u32) -> Duration {
        // Capped doubling: a large `tries` must not overflow the wait.
        self.first_backoff
            .saturating_mul(1 << tried.saturating_sub(1).min(16))
    }
}

impl Default for SubmitRetry {
    fn default() -> Self {
        SubmitRetry::DEFAULT
    }
}

/// Stores `record` (its id fixed), trying again after ambiguous errors,
/// and answers with its id when the stored task is this submission.
pub(crate) async fn submit_record(client: &Client, record: TaskRecord) -> Result<Submitted, Error> {
    let retry = client.submit_retry();
    let id = record.id;
    // Whether an earlier try may have stored the record.
    let mut ambiguous = false;
    let mut tried = 0;
    loop {
        tried += 1;
        let result = match client.backend().enqueue(vec![record.clone()]).await {
            Ok(enqueued) => {
                return Ok(match enqueued.duplicates.first() {
                    // A holder of its key: this submit's own earlier try
                    // when it stored the task before an ambiguous error.
                    Some(&(_, holder)) => Submitted {
                        id: holder,
                        duplicate: !(ambiguous && holder == id),
                        unique_conflict: holder != id,
                    },
                    None => Submitted {
                        id,
                        duplicate: false,
                        unique_conflict: false,
                    },
                });
            }
            Err(Error::TaskExists(existing)) if existing == id => {
                match stored_submission(client, &record, ambiguous).await {
                    // Deleted between the refusal and the read: try again.
                    Ok(None) => continue,
                    Ok(Some(submitted)) => Ok(submitted),
                    Err(err) => Err(err),
                }
            }
            Err(err) => Err(err),
        };
        match result {
            Err(Error::Backend(err)) if tried < retry.tries => {
                tracing::warn!(task_id = %id, error = %err, tried,
                    "taskq submit: ambiguous backend error, trying again with the same id");
                ambiguous = true;
                tokio::time::sleep(retry.backoff(tried)).await;
            }
            other => return other,
        }
    }
}

/// The outcome of a submit refused because `record.id` is stored: the
/// stored task if it is the same submission, [`Error::TaskExists`] if it
/// is another task, `None` if it is gone since.
///
/// "The same submission" is the same task type *and* params, as Stripe
/// refuses an idempotency key reused with other parameters: another type
/// is certainly another task, and other params most likely a caller's bug
/// (an id reused by mistake) that answering with the first task would
/// hide. The per-submission options (queue, priority, timeouts, ETA) are
/// not compared: the stored task keeps those it was submitted with.
async fn stored_submission(
    client: &Client,
    record: &TaskRecord,
    ambiguous: bool,
) -> Result<Option<Submitted>, Error> {
    let Some(stored) = client.backend().get(record.id).await? else {
        return Ok(None);
    };
    if stored.task_type != record.task_type || stored.params != record.params {
        return Err(Error::TaskExists(record.id));
    }
    // Every backend stores times to the microsecond: a stored creation
    // time equal to this submit's is this submit's own earlier try.
    let own =
        ambiguous && stored.created_at.timestamp_micros() == record.created_at.timestamp_micros();
    Ok(Some(Submitted {
        id: record.id,
        duplicate: !own,
        unique_conflict: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_saturates() {
        let retry = SubmitRetry::DEFAULT;
        let waits: Vec<u128> = (1..4).map(|t| retry.backoff(t).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400]);
        let huge = SubmitRetry {
            tries: u32::MAX,
            first_backoff: Duration::MAX,
        };
        assert_eq!(huge.backoff(u32::MAX), Duration::MAX);
    }
}
