//! Task type and key rate limits: at most `starts` starts of a type's
//! tasks per `period`, across every worker and host, and at most that
//! many per concurrency key of the type, each key its own bucket.
//!
//! The rule is the queue rate limit's ([`rate_capacity`],
//! [`rate_spend`]): a token bucket kept as one time, `tat`, per type and
//! per (type, key), read and moved inside the claim's atomic step. A
//! claim meets the buckets through [`TypeCaps`](super::TypeCaps), which
//! admits a candidate only when its type's bucket and its key's bucket
//! both still cover one more start; a task it holds back keeps its
//! place, like a task of a full type, and the walk goes on.
//!
//! A key's bucket whose time is past carries nothing (it is full): a
//! backend stores only buckets still spent and may forget the others
//! ([`key_bucket_spent`]), so "any number of keys" costs rows only for
//! the keys that started recently.
//!
//! A claim that held a candidate back reports when the earliest bucket it
//! met frees ([`RateBucket::next_start`]) as a wake-up time, not a hold:
//! other types' tasks submitted meanwhile are claimed at once, and the
//! worker claims again by then instead of waiting a whole poll interval.

use chrono::{DateTime, Utc};

use super::limit::{rate_capacity, rate_next_start, rate_spend};
use crate::error::Error;
use crate::rate_limit::RateLimit;

/// One bucket as a claim meets it: the limit, its time as stored, the
/// claim's `now`, and the starts the claim admitted from it so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBucket {
    pub limit: RateLimit,
    /// The stored time (`None`: full).
    pub tat: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    taken: usize,
}

impl RateBucket {
    /// The bucket of `limit` stored at `tat`, met by a claim at `now`.
    pub fn new(limit: RateLimit, tat: Option<DateTime<Utc>>, now: DateTime<Utc>) -> RateBucket {
        RateBucket {
            limit,
            tat,
            now,
            taken: 0,
        }
    }

    /// Whether one more start fits: [`rate_capacity`] covers what was
    /// taken plus one (the same sum the queue's bucket spends at once).
    pub fn allows_one(&self) -> bool {
        rate_capacity(&self.limit, self.tat, self.now, self.taken + 1) > self.taken
    }

    /// Takes one start (after [`RateBucket::allows_one`]).
    pub fn take(&mut self) {
        self.taken += 1;
    }

    /// The time to store after the claim, if it took any: [`rate_spend`]
    /// of everything taken.
    pub fn spent(&self) -> Option<DateTime<Utc>> {
        (self.taken > 0)
            .then(|| rate_spend(&self.limit, self.tat, self.now, self.taken))
            .flatten()
    }

    /// When the bucket next allows a start after what the claim took, if
    /// not at its `now` ([`rate_next_start`]).
    pub fn next_start(&self) -> Option<DateTime<Utc>> {
        let tat = rate_spend(&self.limit, self.tat, self.now, self.taken);
        rate_next_start(&self.limit, tat, self.now)
    }
}

/// Whether a key's bucket stored at `tat` still carries a spent start at
/// `now` (its time is ahead). One that does not is a full bucket, the
/// same as none stored: a backend may delete it.
pub fn key_bucket_spent(tat: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    tat > now
}

/// The check of a type or key rate limit an operator sets: `None` (no
/// rate limit) is accepted, a limit as [`RateLimit::check`].
pub fn check_type_rate_limit(limit: Option<&RateLimit>) -> Result<(), Error> {
    limit.map_or(Ok(()), RateLimit::check)
}

/// The earliest of two optional times.
pub(super) fn earliest(
    a: Option<DateTime<Utc>>,
    b: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_700_000_000_000_000 + micros).unwrap()
    }

    #[test]
    fn limit_rate_type_bucket_takes_its_burst_then_waits() {
        let limit = RateLimit::new(3, Duration::from_micros(30));
        let mut bucket = RateBucket::new(limit, None, at(0));
        for _ in 0..3 {
            assert!(bucket.allows_one());
            bucket.take();
        }
        assert!(!bucket.allows_one());
        assert_eq!(bucket.spent(), Some(at(30)));
        assert_eq!(bucket.next_start(), Some(at(10)));
        let later = RateBucket::new(limit, bucket.spent(), at(10));
        assert!(later.allows_one());
        assert_eq!(RateBucket::new(limit, None, at(0)).spent(), None);
    }

    #[test]
    fn limit_rate_key_bucket_in_the_past_is_full() {
        assert!(key_bucket_spent(at(5), at(4)));
        assert!(!key_bucket_spent(at(5), at(5)));
        let limit = RateLimit::new(1, Duration::from_micros(10));
        assert!(RateBucket::new(limit, Some(at(5)), at(5)).allows_one());
    }

    #[test]
    fn limit_rate_type_bad_limits_are_refused() {
        assert!(check_type_rate_limit(None).is_ok());
        for bad in [
            RateLimit::new(0, Duration::from_secs(1)),
            RateLimit::new(1, Duration::ZERO),
            RateLimit::new(1, RateLimit::MAX_PERIOD + Duration::from_secs(1)),
        ] {
            assert!(matches!(
                check_type_rate_limit(Some(&bad)),
                Err(Error::InvalidArgument(_))
            ));
        }
    }
}
