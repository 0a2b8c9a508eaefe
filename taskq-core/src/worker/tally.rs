//! A worker's count of the attempts it ended, per minute and queue, until
//! its next heartbeat reports them ([`crate::throughput`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::backend::Outcome;
use crate::throughput::{MinuteCounts, minute_of};

/// A worker's counts not yet reported, per minute, then queue: a count
/// looks its queue up by `&str`, so only a new minute or queue allocates
/// (it runs once per ended attempt).
#[derive(Debug, Default)]
pub(super) struct Tally(BTreeMap<DateTime<Utc>, BTreeMap<String, MinuteCounts>>);

impl Tally {
    /// Counts one attempt of `queue` that ended with `outcome` at `at`.
    pub(super) fn count(&mut self, queue: &str, outcome: &Outcome, at: DateTime<Utc>) {
        let entry = self.entry(minute_of(at), queue);
        match outcome {
            Outcome::Finished(_) => entry.finished += 1,
            Outcome::Failed(_) => entry.failed += 1,
            // A snooze runs again later too: counted with the retries (the
            // chart's "run again"), not as a bucket of its own.
            Outcome::Retry { .. } | Outcome::Snooze { .. } => entry.retried += 1,
            Outcome::Cancelled(_) => entry.cancelled += 1,
        }
    }

    /// Adds counts (a report that failed, put back).
    pub(super) fn add(&mut self, counts: MinuteCounts) {
        self.entry(counts.minute, &counts.queue).add(&counts);
    }

    /// The counts so far, by minute then queue, leaving the tally empty.
    pub(super) fn take(&mut self) -> Vec<MinuteCounts> {
        std::mem::take(&mut self.0)
            .into_values()
            .flat_map(BTreeMap::into_values)
            .collect()
    }

    fn entry(&mut self, minute: DateTime<Utc>, queue: &str) -> &mut MinuteCounts {
        let per_queue = self.0.entry(minute).or_default();
        if !per_queue.contains_key(queue) {
            let counts = MinuteCounts {
                queue: queue.to_owned(),
                minute,
                ..MinuteCounts::default()
            };
            per_queue.insert(queue.to_owned(), counts);
        }
        per_queue
            .get_mut(queue)
            .expect("inserted above when missing")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{ErrorKind, TaskFailure};

    #[test]
    fn a_tally_counts_by_minute_queue_and_outcome() {
        let at: DateTime<Utc> = "2026-12-07T10:15:42.5Z".parse().expect("time");
        let failure = TaskFailure {
            kind: ErrorKind::Permanent,
            message: "no".into(),
        };
        let mut tally = Tally::default();
        tally.count("a", &Outcome::Finished(serde_json::Value::Null), at);
        tally.count("a", &Outcome::Finished(serde_json::Value::Null), at);
        tally.count("a", &Outcome::Failed(failure.clone()), at);
        tally.count("b", &Outcome::Cancelled(failure.clone()), at);
        let next = at + chrono::Duration::seconds(30);
        tally.count(
            "a",
            &Outcome::Retry {
                error: failure,
                run_at: next,
            },
            next,
        );
        let counts = tally.take();
        assert!(tally.take().is_empty());
        let minute: DateTime<Utc> = "2026-12-07T10:15:00Z".parse().expect("time");
        let row = |queue: &str, minute, f, x, r, c| MinuteCounts {
            queue: queue.into(),
            minute,
            finished: f,
            failed: x,
            retried: r,
            cancelled: c,
        };
        assert_eq!(
            counts,
            [
                row("a", minute, 2, 1, 0, 0),
                row("b", minute, 0, 0, 0, 1),
                row("a", minute + chrono::Duration::minutes(1), 0, 0, 1, 0),
            ]
        );
        tally.add(counts[0].clone());
        tally.add(counts[0].clone());
        assert_eq!(tally.take(), [row("a", minute, 4, 2, 0, 0)]);
    }
}
