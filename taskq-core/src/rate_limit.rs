//! Rate limit: at most `starts` starts of a queue's tasks per `period`,
//! across every worker and host. Plain data of the task model, below the
//! backend traits (which store it) and the lifecycle (whose
//! [`rate_capacity`](crate::lifecycle::rate_capacity) applies it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A token bucket: `starts` tokens at most, refilled at `starts` per
/// `period`, one spent per claimed task.
///
/// A bucket rather than a sliding window because its whole state is one
/// time per queue (see [`crate::lifecycle::rate_capacity`]) that every
/// backend reads and moves inside its claim, while a true sliding window
/// keeps the time of each of the last `starts` starts. The price: a full
/// bucket lets a burst of `starts` go at once, so a window of length
/// `period` sees at most `2 × starts` starts (a full bucket, then its
/// refill); over a long run the rate is `starts / period`.
///
/// In JSON: `{"starts": 10, "period_ms": 1000}`.
///
/// ```
/// use std::time::Duration;
/// use taskq_core::rate_limit::RateLimit;
/// let limit = RateLimit::new(100, Duration::from_secs(60));
/// assert!(limit.check().is_ok());
/// assert!(RateLimit::new(0, Duration::from_secs(1)).check().is_err());
/// ```
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RateLimit {
    /// Tasks that may start per period (the bucket's size), at least 1.
    pub starts: u32,
    /// The period, between [`RateLimit::MIN_PERIOD`] and
    /// [`RateLimit::MAX_PERIOD`], in whole milliseconds in JSON.
    #[serde(rename = "period_ms", with = "millis")]
    #[cfg_attr(feature = "http", schema(value_type = u64))]
    pub period: Duration,
}

impl RateLimit {
    /// The shortest period: a finer one would be a busy loop of claims.
    pub const MIN_PERIOD: Duration = Duration::from_millis(1);
    /// The longest period, a year. Redis computes in doubles, exact to
    /// 2^53: a claim there takes at most 2^53 µs / period tasks of a
    /// rate-limited queue ([`crate::lifecycle::rate_capacity`] caps every
    /// backend the same way), at least 284 at this bound.
    pub const MAX_PERIOD: Duration = Duration::from_secs(366 * 24 * 3600);

    /// `starts` per `period` (checked where it is set: [`RateLimit::check`]).
    pub fn new(starts: u32, period: Duration) -> RateLimit {
        RateLimit { starts, period }
    }

    /// The period in microseconds, the unit every backend stores.
    pub fn period_micros(&self) -> i64 {
        i64::try_from(self.period.as_micros()).unwrap_or(i64::MAX)
    }

    /// The check of a limit an operator sets: `starts` of 0 or a period
    /// out of `MIN_PERIOD..=MAX_PERIOD` is
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument), naming
    /// the field; a backend refusing it changes nothing.
    pub fn check(&self) -> Result<(), crate::Error> {
        match self.bad_field() {
            None => Ok(()),
            Some("starts") => Err(crate::Error::InvalidArgument(
                "rate limit starts must be at least 1 (pause the queue to stop its claims)".into(),
            )),
            Some(_) => Err(crate::Error::InvalidArgument(format!(
                "rate limit period_ms must be between {} and {}",
                Self::MIN_PERIOD.as_millis(),
                Self::MAX_PERIOD.as_millis()
            ))),
        }
    }

    /// The field [`RateLimit::check`] refuses, by its JSON name
    /// (`starts`, then `period_ms`), if any: what an API names in its
    /// error.
    pub fn bad_field(&self) -> Option<&'static str> {
        if self.starts == 0 {
            return Some("starts");
        }
        if self.period < Self::MIN_PERIOD || self.period > Self::MAX_PERIOD {
            return Some("period_ms");
        }
        None
    }
}

/// The side channel of claims cut by a rate limit: per queue, when its
/// bucket next allows a start, as this process's last claim of it saw
/// ([`Broker::claim_hold`](crate::backend::Broker::claim_hold)). A backend
/// keeps one and records each claim's answer in it.
#[derive(Debug, Default)]
pub struct ClaimHolds(Mutex<HashMap<String, DateTime<Utc>>>);

impl ClaimHolds {
    /// Records what a claim of `queue` found: held until `until`, or not
    /// held (`None`).
    pub fn record(&self, queue: &str, until: Option<DateTime<Utc>>) {
        let mut holds = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        match until {
            Some(until) => {
                holds.insert(queue.to_owned(), until);
            }
            // The common case (no rate limit) neither allocates nor writes.
            None if holds.is_empty() => {}
            None => {
                holds.remove(queue);
            }
        }
    }

    /// The hold the last claim of `queue` recorded.
    pub fn get(&self, queue: &str) -> Option<DateTime<Utc>> {
        let holds = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        holds.get(queue).copied()
    }
}

/// `Duration` as whole milliseconds.
mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(period: &Duration, s: S) -> Result<S::Ok, S::Error> {
        u64::try_from(period.as_millis())
            .unwrap_or(u64::MAX)
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_json_is_starts_and_period_ms() {
        let limit = RateLimit::new(5, Duration::from_millis(1500));
        let json = serde_json::to_value(limit).unwrap();
        assert_eq!(json, serde_json::json!({"starts": 5, "period_ms": 1500}));
        assert_eq!(serde_json::from_value::<RateLimit>(json).unwrap(), limit);
    }

    #[test]
    fn rate_limit_check_refuses_zero_and_out_of_range_periods() {
        assert!(RateLimit::new(1, Duration::from_millis(1)).check().is_ok());
        assert!(RateLimit::new(1, RateLimit::MAX_PERIOD).check().is_ok());
        for bad in [
            RateLimit::new(0, Duration::from_secs(1)),
            RateLimit::new(1, Duration::ZERO),
            RateLimit::new(1, Duration::from_micros(999)),
            RateLimit::new(1, RateLimit::MAX_PERIOD + Duration::from_millis(1)),
        ] {
            assert!(
                matches!(bad.check(), Err(crate::Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }
}
