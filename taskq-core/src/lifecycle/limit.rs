//! The queue limit: at most `limit` tasks of a queue run at once, across
//! every worker and host ([`claim_capacity`]).
//!
//! The running count is never stored on its own: a backend counts the
//! queue's tasks in `RUNNING` inside the claim. A worker killed mid-task
//! therefore holds its slot only until its lease expires and the rescue
//! moves the task out of `RUNNING` (requeued, failed or cancelled); no
//! counter can drift and no slot can leak.
//!
//! The limit is read inside the claim, atomically with the count and the
//! claimed tasks' move to `RUNNING` (the memory backend's lock, a locked
//! queue row in SQL, one Lua script on Redis), so two claimers racing
//! never go past it and a change applies to the next claim of every
//! worker, with nothing to announce.

use crate::error::Error;

/// How many tasks a claim asking for `requested` may take from a queue
/// with `running` tasks in `RUNNING` under `limit` (`None`: no limit):
/// `min(requested, limit - running)`, and 0 once the queue is at or over
/// its limit (a limit lowered below the running count stops claims until
/// enough of them end; nothing running is stopped).
///
/// ```
/// use taskq_core::lifecycle::claim_capacity;
/// assert_eq!(claim_capacity(None, 7, 10), 10);
/// assert_eq!(claim_capacity(Some(5), 3, 10), 2);
/// assert_eq!(claim_capacity(Some(5), 6, 10), 0);
/// ```
pub fn claim_capacity(limit: Option<u32>, running: u64, requested: usize) -> usize {
    match limit {
        None => requested,
        Some(limit) => {
            let free = u64::from(limit).saturating_sub(running);
            usize::try_from(free).map_or(requested, |free| free.min(requested))
        }
    }
}

/// The check of a limit an operator sets: `Some(0)` is
/// [`Error::InvalidArgument`] (pause the queue to stop its claims) and
/// the backend changes nothing; any other value, or `None` (no limit), is
/// accepted.
pub fn check_queue_limit(limit: Option<u32>) -> Result<(), Error> {
    if limit == Some(0) {
        return Err(Error::InvalidArgument(
            "a queue limit must be at least 1 (pause the queue to stop its claims)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_capacity_is_what_is_left_of_the_limit() {
        assert_eq!(claim_capacity(None, u64::MAX, 3), 3);
        assert_eq!(claim_capacity(Some(2), 0, 10), 2);
        assert_eq!(claim_capacity(Some(2), 0, 1), 1);
        assert_eq!(claim_capacity(Some(2), 2, 10), 0);
        assert_eq!(claim_capacity(Some(2), 9, 10), 0);
        assert_eq!(
            claim_capacity(Some(u32::MAX), 0, usize::MAX),
            u32::MAX as usize
        );
    }

    #[test]
    fn limit_of_zero_is_refused() {
        assert!(matches!(
            check_queue_limit(Some(0)),
            Err(Error::InvalidArgument(_))
        ));
        assert!(check_queue_limit(Some(1)).is_ok());
        assert!(check_queue_limit(None).is_ok());
    }
}
