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

/// Stores a batch under its fixed ids (no id twice), trying again after
/// ambiguous errors; each answer says whether its task was stored
/// already. A backend refuses a whole batch holding a stored id
/// ([`Error::TaskExists`], nothing stored): the stored ones are then read
/// in one call, each answered as [`stored_submission`] would (another
/// task under the id fails the batch), and the rest is sent again.
pub(crate) async fn submit_batch(
    client: &Client,
    records: Vec<TaskRecord>,
) -> Result<Vec<Submitted>, Error> {
    let retry = client.submit_retry();
    let mut answers: Vec<Option<Submitted>> = vec![None; records.len()];
    // Positions in `records` still to store.
    let mut left: Vec<usize> = (0..records.len()).collect();
    let mut ambiguous = false;
    let (mut failed, mut vanished) = (0, 0);
    while !left.is_empty() {
        let batch: Vec<TaskRecord> = left.iter().map(|&i| records[i].clone()).collect();
        match client.backend().enqueue(batch).await {
            Ok(enqueued) => {
                let mut duplicates = enqueued.duplicates.into_iter().peekable();
                for (at, &i) in left.iter().enumerate() {
                    let id = records[i].id;
                    answers[i] = Some(match duplicates.next_if(|(d, _)| *d == at) {
                        // As for one submit: the holder of its unique key,
                        // perhaps an earlier try of this very batch.
                        Some((_, holder)) => Submitted {
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
                left.clear();
            }
            Err(Error::TaskExists(existing)) if left.iter().any(|&i| records[i].id == existing) => {
                let ids: Vec<TaskId> = left.iter().map(|&i| records[i].id).collect();
                let stored = client.backend().get_many(&ids).await?;
                let mut found = false;
                for stored in stored {
                    let Some(at) = left.iter().position(|&i| records[i].id == stored.id) else {
                        continue;
                    };
                    let i = left[at];
                    answers[i] = Some(same_submission(&records[i], &stored, ambiguous)?);
                    left.remove(at);
                    found = true;
                }
                // None found: deleted between the refusal and the read,
                // so send again — a few times, not forever.
                if !found {
                    vanished += 1;
                    if vanished > 3 {
                        return Err(Error::TaskExists(existing));
                    }
                }
            }
            Err(Error::Backend(err)) if failed + 1 < retry.tries.max(1) => {
                failed += 1;
                tracing::warn!(tasks = left.len(), error = %err, tried = failed,
                    "taskq submit_many: ambiguous backend error, trying again with the same ids");
                ambiguous = true;
                tokio::time::sleep(retry.backoff(failed)).await;
            }
            Err(err) => return Err(err),
        }
    }
    Ok(answers.into_iter().flatten().collect())
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
    same_submission(record, &stored, ambiguous).map(Some)
}

/// The answer to a submit of `record` whose id holds `stored`: the same
/// submission ([`stored_submission`]), or [`Error::TaskExists`].
fn same_submission(
    record: &TaskRecord,
    stored: &TaskRecord,
    ambiguous: bool,
) -> Result<Submitted, Error> {
    if stored.task_type != record.task_type || stored.params != record.params {
        return Err(Error::TaskExists(record.id));
    }
    // Every backend stores times to the microsecond: a stored creation
    // time equal to this submit's is this submit's own earlier try.
    let own =
        ambiguous && stored.created_at.timestamp_micros() == record.created_at.timestamp_micros();
    Ok(Submitted {
        id: record.id,
        duplicate: !own,
        unique_conflict: false,
    })
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
