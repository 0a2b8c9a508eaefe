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
//!
//! # Rate limits
//! A queue's [`RateLimit`] is a token bucket kept as one time per queue,
//! `tat` (the "theoretical arrival time" of the generic cell rate
//! algorithm): the bucket holds `period − max(tat − now, 0)` microseconds
//! of budget, a start costs `period / starts` of it ([`rate_cost`],
//! rounded up so rounding never grants a start), and a claim that takes
//! `n` moves `tat` to `max(tat, now) + cost(n)` ([`rate_spend`]). No
//! queue, no time: a full bucket. It is read and moved in the claim's
//! atomic step like the queue limit, so concurrent claimers share it;
//! being a time rather than a count of slots, nothing a crash leaves
//! behind can hold it (a start spent is spent, like a started task).

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::rate_limit::RateLimit;

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

/// The largest batch one claim of a rate-limited queue takes: 2^53 µs
/// divided by the period, so that `n × period` stays exact in the
/// doubles Redis's Lua computes with (every backend caps the same, so all
/// agree; at [`RateLimit::MAX_PERIOD`] it is still 284).
pub fn rate_claim_cap(limit: &RateLimit) -> usize {
    const EXACT: i64 = 1 << 53;
    usize::try_from(EXACT / limit.period_micros().max(1)).unwrap_or(usize::MAX)
}

/// What `n` starts cost, in microseconds of budget: `⌈n × period /
/// starts⌉`. Rounded up, so no start is ever granted early; the price is
/// under 1 µs per claim (a bucket drained by several claims gives its
/// last start a few µs late).
pub fn rate_cost(limit: &RateLimit, n: usize) -> i64 {
    let starts = i128::from(limit.starts.max(1));
    let spent = i128::try_from(n).unwrap_or(i128::MAX / 4) * i128::from(limit.period_micros());
    i64::try_from((spent + starts - 1) / starts).unwrap_or(i64::MAX)
}

/// The bucket's budget at `now`, in microseconds: `period − max(tat −
/// now, 0)`, never below 0 (a period shortened under a spent bucket).
fn rate_budget(limit: &RateLimit, tat: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    let debt = tat.map_or(0, |tat| {
        (tat.timestamp_micros() - now.timestamp_micros()).max(0)
    });
    (limit.period_micros() - debt).max(0)
}

/// How many tasks a claim asking for `requested` may start from a queue
/// under `limit` whose bucket stands at `tat` (`None`: full): the most
/// whose [`rate_cost`] the budget at `now` covers, capped by
/// [`rate_claim_cap`]. A claim takes the least of this, the queue
/// limit's [`claim_capacity`] and the due tasks, then spends what it took
/// ([`rate_spend`]).
///
/// ```
/// use std::time::Duration;
/// use chrono::Utc;
/// use taskq_core::lifecycle::{rate_capacity, rate_spend};
/// use taskq_core::rate_limit::RateLimit;
/// let limit = RateLimit::new(10, Duration::from_secs(1));
/// let now = Utc::now();
/// assert_eq!(rate_capacity(&limit, None, now, 25), 10);
/// let tat = rate_spend(&limit, None, now, 10);
/// assert_eq!(rate_capacity(&limit, tat, now, 25), 0);
/// // A tenth of the period brings one token back.
/// let later = now + chrono::Duration::milliseconds(100);
/// assert_eq!(rate_capacity(&limit, tat, later, 25), 1);
/// ```
pub fn rate_capacity(
    limit: &RateLimit,
    tat: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    requested: usize,
) -> usize {
    let budget = i128::from(rate_budget(limit, tat, now));
    // cost(k) <= budget  <=>  k <= budget * starts / period.
    let affordable = budget * i128::from(limit.starts) / i128::from(limit.period_micros().max(1));
    usize::try_from(affordable)
        .unwrap_or(usize::MAX)
        .min(requested)
        .min(rate_claim_cap(limit))
}

/// The bucket's time after a claim at `now` took `taken` tasks: `max(tat,
/// now) + cost(taken)`, or `None` when it took none (nothing to store).
pub fn rate_spend(
    limit: &RateLimit,
    tat: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    taken: usize,
) -> Option<DateTime<Utc>> {
    if taken == 0 {
        return tat;
    }
    let from = tat.map_or(now, |tat| tat.max(now));
    Some(from + chrono::Duration::microseconds(rate_cost(limit, taken)))
}

/// When the bucket next allows a start, if not at `now`: `tat − period +
/// cost(1)`. What a claim cut by the rate limit reports, so the worker
/// sleeps until then instead of polling
/// ([`Broker::claim_hold`](crate::backend::Broker::claim_hold)), and what
/// the queue's stats show as "held back until".
pub fn rate_next_start(
    limit: &RateLimit,
    tat: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let next = tat? - chrono::Duration::microseconds(limit.period_micros())
        + chrono::Duration::microseconds(rate_cost(limit, 1));
    (next > now).then_some(next)
}

/// The check of a rate limit an operator sets ([`RateLimit::check`]):
/// `None` (no rate limit) is accepted.
pub fn check_rate_limit(limit: Option<&RateLimit>) -> Result<(), Error> {
    limit.map_or(Ok(()), RateLimit::check)
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

#[cfg(test)]
mod rate_tests {
    use std::time::Duration;

    use super::*;

    fn at(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_700_000_000_000_000 + micros).unwrap()
    }

    #[test]
    fn limit_rate_full_bucket_then_refill() {
        let limit = RateLimit::new(3, Duration::from_micros(10));
        assert_eq!(rate_capacity(&limit, None, at(0), 5), 3);
        assert_eq!(rate_next_start(&limit, None, at(0)), None);
        let tat = rate_spend(&limit, None, at(0), 3);
        assert_eq!(tat, Some(at(10)));
        assert_eq!(rate_capacity(&limit, tat, at(0), 5), 0);
        // One start costs ⌈10 / 3⌉ = 4 µs of budget.
        assert_eq!(rate_next_start(&limit, tat, at(0)), Some(at(4)));
        assert_eq!(rate_capacity(&limit, tat, at(3), 5), 0);
        assert_eq!(rate_capacity(&limit, tat, at(4), 5), 1);
        assert_eq!(rate_capacity(&limit, tat, at(10), 5), 3);
        assert_eq!(rate_capacity(&limit, tat, at(1_000), 5), 3);
        assert_eq!(rate_spend(&limit, tat, at(4), 0), tat);
        assert_eq!(rate_spend(&limit, tat, at(4), 1), Some(at(14)));
    }

    #[test]
    fn limit_rate_shortened_period_leaves_no_negative_budget() {
        let long = RateLimit::new(2, Duration::from_secs(10));
        let tat = rate_spend(&long, None, at(0), 2);
        let short = RateLimit::new(2, Duration::from_secs(1));
        assert_eq!(rate_capacity(&short, tat, at(0), 9), 0);
        assert!(rate_next_start(&short, tat, at(0)).is_some());
    }

    #[test]
    fn limit_rate_claim_cap_keeps_lua_exact() {
        let year = RateLimit::new(u32::MAX, RateLimit::MAX_PERIOD);
        assert_eq!(rate_claim_cap(&year), 284);
        assert_eq!(rate_capacity(&year, None, at(0), 10_000), 284);
        let second = RateLimit::new(u32::MAX, Duration::from_secs(1));
        assert_eq!(rate_capacity(&second, None, at(0), 1000), 1000);
    }

    #[test]
    fn limit_rate_zero_starts_or_period_is_refused() {
        assert!(check_rate_limit(None).is_ok());
        assert!(check_rate_limit(Some(&RateLimit::new(1, Duration::from_secs(1)))).is_ok());
        for bad in [
            RateLimit::new(0, Duration::from_secs(1)),
            RateLimit::new(5, Duration::ZERO),
        ] {
            assert!(matches!(
                check_rate_limit(Some(&bad)),
                Err(Error::InvalidArgument(_))
            ));
        }
    }

    #[cfg(feature = "conformance")]
    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            /// Claims at rising times, each taking what the bucket allows:
            /// any window `[a, b]` sees at most `starts + ⌊(b − a) ×
            /// starts / period⌋` starts, and the next-start time is exactly
            /// when a start becomes possible.
            #[test]
            fn limit_rate_bucket_bounds_every_window(
                starts in 1u32..40,
                period in 1i64..5_000,
                steps in prop::collection::vec((0i64..2_000, 0usize..30), 1..80),
            ) {
                let limit = RateLimit::new(starts, Duration::from_micros(period as u64));
                let mut tat = None;
                let mut now = 0;
                let mut log: Vec<(i64, usize)> = Vec::new();
                for (step, requested) in steps {
                    now += step;
                    let n = rate_capacity(&limit, tat, at(now), requested);
                    prop_assert!(n <= requested);
                    match rate_next_start(&limit, tat, at(now)) {
                        None => prop_assert!(requested == 0 || n >= 1),
                        Some(next) => {
                            prop_assert_eq!(n, 0);
                            prop_assert!(rate_capacity(&limit, tat, next, 1) == 1);
                            let before = next - chrono::Duration::microseconds(1);
                            prop_assert!(rate_capacity(&limit, tat, before, 1) == 0);
                        }
                    }
                    tat = rate_spend(&limit, tat, at(now), n);
                    log.push((now, n));
                }
                for (i, &(a, _)) in log.iter().enumerate() {
                    let mut sum = 0u64;
                    for &(b, n) in &log[i..] {
                        sum += n as u64;
                        let bound = u64::from(starts) + ((b - a) as u64 * u64::from(starts)) / period as u64;
                        prop_assert!(sum <= bound, "{} starts in [{}, {}], bound {}", sum, a, b, bound);
                    }
                }
            }
        }
    }
}
