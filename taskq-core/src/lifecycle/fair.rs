//! Fairness between keys within a queue: start-time fair queuing with
//! virtual rounds, so one key with 100,000 pending tasks does not delay
//! another key's single task behind all of them.
//!
//! A queue set fair ([`crate::Broker::set_queue_fair`]) gives each task a
//! `fair_round` when it is submitted ([`fair_round`]): the later of its
//! lane's next round and the queue's current round. A lane is a
//! concurrency key ([`fair_lane`]); tasks without one share the lane `""`.
//! The lane's next round becomes one past the task's, so a key's tasks
//! take consecutive rounds, and the claim order ([`super::claim_order`])
//! puts the round right after the priority: among equal priority, each
//! round holds at most one task of each lane that was submitted into it,
//! and claims go round by round. The queue's current round is the highest
//! round a claim took ([`fair_claimed`]), so a key that arrives late starts
//! at the rounds being claimed now, not behind the big key's backlog.
//!
//! The state is two numbers per queue and lane, read and moved at submit
//! and claim: no claim scans a key's tasks, and the claim order stays one
//! index (SQL) or one sorted set (Redis).
//!
//! - Rounds start at [`FIRST_ROUND`]; 0 is the round of every task of a
//!   queue that is not fair (and of the tasks submitted before a queue was
//!   set fair), so a queue that never was fair keeps its order, and tasks
//!   from before the switch run before those that got rounds.
//! - Setting a queue not fair again keeps the rounds its pending tasks
//!   have (new ones get 0, so they go first, in `seq` order) and forgets
//!   the queue's current round and its lanes' next rounds.
//! - A task keeps its round through a retry, a snooze, a release and a
//!   rescue: it was owed its turn, and runs at its round as soon as it is
//!   due. A task submitted with an ETA gets its round at submit too.
//! - A reorder moves a task among rounds ([`super::reorder`]): to the front
//!   takes the first round of the top priority, to the back the last.
//! - Pending tasks cancelled, expired or deleted before they ran keep
//!   their lane's next round where they left it: the lane's next task
//!   waits until the queue's current round passes theirs.

use std::collections::HashMap;

use crate::task::{TaskRecord, TaskState};

/// The first round of a fair queue (0 means "not fair").
pub const FIRST_ROUND: u64 = 1;

/// The lane a task takes turns in: its concurrency key, or `""`.
pub fn fair_lane(record: &TaskRecord) -> &str {
    record.concurrency_key.as_deref().unwrap_or("")
}

/// The round of a task submitted to a fair queue whose current round is
/// `current`, in a lane whose next round is `lane_next` (0 if the lane
/// has none yet); the lane's next round becomes the result + 1.
pub fn fair_round(current: u64, lane_next: u64) -> u64 {
    current.max(lane_next).max(FIRST_ROUND)
}

/// The queue's current round after a claim of a task of round `claimed`.
/// Monotonic: a retried task of an old round does not take it back.
pub fn fair_claimed(current: u64, claimed: u64) -> u64 {
    current.max(claimed)
}

/// A fair queue's stored state: its current round and each lane's next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FairRounds {
    /// The highest round a claim took ([`fair_claimed`]).
    pub current: u64,
    /// Each lane's next round.
    pub next: HashMap<String, u64>,
}

impl FairRounds {
    /// Gives each of `records` its round ([`fair_round`]), moving the
    /// lanes' next rounds: the submit of a batch to this queue. The
    /// workflow steps that wait for parents take theirs first, then the
    /// others, each in the batch's order: the order the Redis scripts
    /// write them in (a step is stored before its parents may run).
    pub fn assign<'a>(&mut self, records: impl IntoIterator<Item = &'a mut TaskRecord>) {
        let mut records: Vec<&mut TaskRecord> = records.into_iter().collect();
        records.sort_by_key(|r| r.state != TaskState::Waiting);
        for record in records {
            let lane = fair_lane(record);
            let next = self.next.get(lane).copied().unwrap_or(0);
            let round = fair_round(self.current, next);
            self.next.insert(lane.to_owned(), round + 1);
            record.fair_round = round;
        }
    }

    /// After a claim took `record`.
    pub fn claimed(&mut self, record: &TaskRecord) {
        self.current = fair_claimed(self.current, record.fair_round);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::claim_order;
    use crate::lifecycle::test_record::pending;

    fn keyed(key: Option<&str>) -> TaskRecord {
        let mut r = pending(chrono::Utc::now());
        r.concurrency_key = key.map(str::to_owned);
        r
    }

    #[test]
    fn a_lane_takes_consecutive_rounds_from_the_current_one() {
        assert_eq!(fair_round(0, 0), FIRST_ROUND);
        assert_eq!(fair_round(7, 0), 7);
        assert_eq!(fair_round(7, 12), 12);
        assert_eq!(fair_round(7, 3), 7, "a lane idle for a while starts now");
        assert_eq!(fair_claimed(9, 4), 9, "an old round claimed late");
        assert_eq!(fair_claimed(9, 10), 10);
    }

    #[test]
    fn a_small_key_goes_second_behind_a_big_keys_backlog() {
        let mut rounds = FairRounds::default();
        let mut big: Vec<_> = (0..100).map(|_| keyed(Some("big"))).collect();
        rounds.assign(big.iter_mut());
        assert_eq!(big.last().map(|r| r.fair_round), Some(100));
        // Three of the big key's tasks were claimed.
        for r in &big[..3] {
            rounds.claimed(r);
        }
        let mut small = [keyed(Some("small")), keyed(None)];
        rounds.assign(small.iter_mut());
        assert_eq!(small[0].fair_round, 3);
        assert_eq!(small[1].fair_round, 3, "no key: the lane \"\"");
        let mut pending: Vec<_> = big[3..].iter().chain(small.iter()).collect();
        pending.sort_by_key(|r| claim_order(r));
        let first: Vec<_> = pending[..3].iter().map(|r| r.id).collect();
        assert!(first.contains(&small[0].id) && first.contains(&small[1].id));
    }

    #[test]
    fn waiting_steps_of_a_batch_take_their_rounds_first() {
        let mut rounds = FairRounds::default();
        let mut batch = [keyed(None), keyed(None)];
        batch[1].state = TaskState::Waiting;
        rounds.assign(batch.iter_mut());
        assert_eq!((batch[0].fair_round, batch[1].fair_round), (2, 1));
    }

    #[test]
    fn priority_stays_before_the_round() {
        let mut rounds = FairRounds::default();
        let mut tasks = [keyed(Some("a")), keyed(Some("a"))];
        tasks[1].priority = 5;
        rounds.assign(tasks.iter_mut());
        assert!(claim_order(&tasks[1]) < claim_order(&tasks[0]));
    }
}
