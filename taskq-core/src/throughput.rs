//! How many attempts ended per minute and queue, and how: the data behind
//! the dashboard's throughput chart and `GET api/stats/throughput`.
//!
//! Workers count the attempts they end and add their counts to
//! the backend with each heartbeat ([`WorkerRegistry::add_counts`]), the
//! way Sidekiq keeps its processed and failed counters: no write on the
//! settle path, one small upsert per worker and beat. Counts a worker ends
//! but dies before reporting (at most a beat's) are missing from the
//! chart; the task records are unaffected. Backends keep
//! [`COUNTS_KEPT`] of them.
//!
//! [`WorkerRegistry::add_counts`]: crate::backend::WorkerRegistry::add_counts

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use serde::{Deserialize, Serialize};

/// How long backends keep per-minute counts.
pub const COUNTS_KEPT: Duration = Duration::from_secs(24 * 3600);

/// The attempts of one queue that ended in one minute, by how they ended.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCounts {
    pub queue: String,
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// Ended `FINISHED`.
    pub finished: u64,
    /// Ended `FAILED` (retries spent, permanent, timed out).
    pub failed: u64,
    /// Failed and scheduled again.
    pub retried: u64,
    /// Ended `CANCELLED`.
    pub cancelled: u64,
}

impl MinuteCounts {
    /// Adds `other`'s counts (same queue and minute) to these.
    pub fn add(&mut self, other: &MinuteCounts) {
        self.finished += other.finished;
        self.failed += other.failed;
        self.retried += other.retried;
        self.cancelled += other.cancelled;
    }

    /// The counts of `counts` summed per queue and minute, in minute then
    /// queue order.
    pub fn merged(counts: impl IntoIterator<Item = MinuteCounts>) -> Vec<MinuteCounts> {
        let mut by_key: BTreeMap<(DateTime<Utc>, String), MinuteCounts> = BTreeMap::new();
        for count in counts {
            match by_key.get_mut(&(count.minute, count.queue.clone())) {
                Some(entry) => entry.add(&count),
                None => {
                    by_key.insert((count.minute, count.queue.clone()), count);
                }
            }
        }
        by_key.into_values().collect()
    }
}

/// The first minute a read gives, for reads from `since` at `now`: none
/// older than [`COUNTS_KEPT`].
pub fn first_kept_minute(since: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let kept = chrono::Duration::from_std(COUNTS_KEPT).unwrap_or(chrono::Duration::MAX);
    minute_of(since.max(now.checked_sub_signed(kept).unwrap_or(now)))
}

/// The minute `at` falls in.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_sums_per_minute_and_queue_in_order() {
        let minute: DateTime<Utc> = "2026-12-07T10:15:00Z".parse().expect("time");
        assert_eq!(
            minute_of(minute + chrono::Duration::milliseconds(59_999)),
            minute
        );
        let row = |queue: &str, minute, finished| MinuteCounts {
            queue: queue.into(),
            minute,
            finished,
            ..MinuteCounts::default()
        };
        let later = minute + chrono::Duration::minutes(1);
        let merged =
            MinuteCounts::merged([row("b", later, 1), row("a", minute, 2), row("b", later, 3)]);
        assert_eq!(merged, [row("a", minute, 2), row("b", later, 4)]);
    }
}
