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
//! - A lane's next round counts only while a task of the lane still
//!   holds a round not behind the current one ([`owed_next`]): the latest
//!   round a `PENDING` or `WAITING` task of it holds says where the lane
//!   is. So a key whose pending tasks were cancelled, expired or deleted
//!   before they ran starts again at the current round, not behind the
//!   rounds they had. SQL reads that round with one indexed read per
//!   state at submit, and only when the lane's next round is ahead of the
//!   current one; memory and Redis keep each lane's held rounds
//!   ([`HeldRounds`]; Redis: the sorted set `{queue}:fair:held`), moved
//!   where a task is filed as or taken out of pending or waiting. A queue
//!   set fair again holds only the rounds given since: a pending task's
//!   round from before counts on SQL alone.
//! - A key's weight ([`crate::Broker::set_fair_weight`], 1 by default, at
//!   most [`MAX_FAIR_WEIGHT`]) is how many of its tasks share one round
//!   ([`fair_turn`]): a key of weight 3 gets three turns to a weight-1
//!   key's one. A change applies to the tasks submitted after it; the
//!   weights are kept apart from the rounds, so setting a queue not fair
//!   and fair again keeps them.

use std::collections::{BTreeSet, HashMap};

use crate::error::Error;
use crate::task::{TaskId, TaskRecord, TaskState};

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

/// A lane's next round as far as it is still owed: `stored`, the round
/// past the lane's last task's, while `latest_held`, the latest round a
/// `PENDING` or `WAITING` task of the lane holds that is *not behind* the
/// queue's current round, is some; 0 (the lane starts at the current
/// round) when none is. The lesser of the two: a round held by a task from
/// before the queue was last set fair does not push the lane.
///
/// ```
/// use taskq_core::lifecycle::{fair_round, owed_next};
/// // A key took rounds 5..=104, then cancelled them all: current is 5.
/// assert_eq!(fair_round(5, owed_next(105, None)), 5);
/// // Its tasks up to round 9 are still pending.
/// assert_eq!(fair_round(5, owed_next(105, Some(9))), 10);
/// ```
pub fn owed_next(stored: u64, latest_held: Option<u64>) -> u64 {
    latest_held.map_or(0, |held| stored.min(held.saturating_add(1)))
}

/// The rounds a fair queue's `PENDING` and `WAITING` tasks hold, by
/// lane: what a backend without an index over a lane's tasks reads
/// [`owed_next`]'s `latest_held` from (memory; the Redis scripts keep the
/// same in a sorted set). The backend holds a task's round where it files
/// the task as pending or waiting, and leaves it where it takes it out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldRounds(HashMap<String, BTreeSet<(u64, TaskId)>>);

impl HeldRounds {
    /// Task `id` of `lane` holds `round` (0: none, not kept).
    pub fn hold(&mut self, lane: &str, round: u64, id: TaskId) {
        if round > 0 {
            self.0
                .entry(lane.to_owned())
                .or_default()
                .insert((round, id));
        }
    }

    /// Task `id` of `lane` no longer holds `round`.
    pub fn leave(&mut self, lane: &str, round: u64, id: TaskId) {
        if let Some(held) = self.0.get_mut(lane) {
            held.remove(&(round, id));
            if held.is_empty() {
                self.0.remove(lane);
            }
        }
    }

    /// The latest round a task of `lane` holds, if it is not behind
    /// `current`; drops the holds behind it (a round behind the current
    /// one never counts again: the current round only grows).
    ///
    /// ```
    /// use taskq_core::lifecycle::HeldRounds;
    /// let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
    /// let mut held = HeldRounds::default();
    /// held.hold("k", 3, a);
    /// held.hold("k", 7, b);
    /// assert_eq!(held.latest("k", 4), Some(7));
    /// held.leave("k", 7, b); // b was cancelled
    /// assert_eq!(held.latest("k", 4), None);
    /// ```
    pub fn latest(&mut self, lane: &str, current: u64) -> Option<u64> {
        let held = self.0.get_mut(lane)?;
        *held = held.split_off(&(current, TaskId::nil()));
        let latest = held.last().map(|&(round, _)| round);
        if latest.is_none() {
            self.0.remove(lane);
        }
        latest
    }
}

/// The weight of a key that has none set: one turn a round.
pub const DEFAULT_FAIR_WEIGHT: u32 = 1;

/// The highest weight a key may have ([`check_fair_weight`]).
pub const MAX_FAIR_WEIGHT: u32 = 1000;

/// The longest key a weight is set for (a concurrency key's bound in
/// SQL, `taskq_fair_lanes.lane`).
pub const MAX_FAIR_KEY_LEN: usize = 255;

/// Refuses a weight of 0 or above [`MAX_FAIR_WEIGHT`], and an empty key
/// or one longer than [`MAX_FAIR_KEY_LEN`] bytes, with
/// [`Error::InvalidArgument`]; `None` (back to the default) is fine.
///
/// ```
/// use taskq_core::lifecycle::check_fair_weight;
/// assert!(check_fair_weight("acme", Some(3)).is_ok());
/// assert!(check_fair_weight("acme", None).is_ok());
/// assert!(check_fair_weight("acme", Some(0)).is_err());
/// assert!(check_fair_weight("acme", Some(1001)).is_err());
/// assert!(check_fair_weight("", Some(2)).is_err());
/// ```
pub fn check_fair_weight(key: &str, weight: Option<u32>) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_FAIR_KEY_LEN {
        return Err(Error::InvalidArgument(format!(
            "fair weight key must be 1 to {MAX_FAIR_KEY_LEN} bytes"
        )));
    }
    match weight {
        Some(w) if w == 0 || w > MAX_FAIR_WEIGHT => Err(Error::InvalidArgument(format!(
            "fair weight must be between 1 and {MAX_FAIR_WEIGHT} (null: back to {DEFAULT_FAIR_WEIGHT})"
        ))),
        _ => Ok(()),
    }
}

/// The round of a task of a lane of weight `weight` whose next round is
/// `next` (the one past its last task's; 0: none), `shared` of its tasks
/// having taken its last round, in a queue whose current round is
/// `current`; with how many of the lane's tasks share the round then.
/// The task shares the lane's last round while that round is not behind
/// the current one and fewer than `weight` tasks took it; otherwise it
/// takes [`fair_round`]'s, alone.
///
/// ```
/// use taskq_core::lifecycle::fair_turn;
/// // Weight 3: three tasks to a round.
/// assert_eq!(fair_turn(1, 0, 0, 3), (1, 1));
/// assert_eq!(fair_turn(1, 2, 1, 3), (1, 2));
/// assert_eq!(fair_turn(1, 2, 2, 3), (1, 3));
/// assert_eq!(fair_turn(1, 2, 3, 3), (2, 1));
/// // Weight 1: consecutive rounds, as `fair_round`.
/// assert_eq!(fair_turn(1, 2, 1, 1), (2, 1));
/// // A last round behind the current one is not shared.
/// assert_eq!(fair_turn(5, 2, 1, 3), (5, 1));
/// ```
pub fn fair_turn(current: u64, next: u64, shared: u32, weight: u32) -> (u64, u32) {
    let last = next.saturating_sub(1);
    if next > 0 && last >= current.max(FIRST_ROUND) && shared < weight {
        (last, shared + 1)
    } else {
        (fair_round(current, next), 1)
    }
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
    /// Each lane's next round, as stored: [`owed_next`] says whether it
    /// still counts.
    pub next: HashMap<String, u64>,
    /// Each lane's count of tasks in its last round ([`fair_turn`]; 1
    /// where missing).
    pub shared: HashMap<String, u32>,
    /// The weights of the lanes that have one ([`fair_turn`]): filled by
    /// the backend, from where it keeps them, before an assign.
    pub weights: HashMap<String, u32>,
    /// The rounds the queue's tasks hold, where the backend keeps them
    /// here ([`FairRounds::assign_held`]); empty otherwise.
    pub held: HeldRounds,
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
            let shared = self.shared.get(lane).copied().unwrap_or(1);
            let weight = self.weight(lane);
            let (round, shared) = fair_turn(self.current, next, shared, weight);
            self.next.insert(lane.to_owned(), round + 1);
            self.shared.insert(lane.to_owned(), shared);
            record.fair_round = round;
        }
    }

    /// Sets `lane`'s next round to what is still owed of it
    /// ([`owed_next`]) before an [`FairRounds::assign`]; a lane whose
    /// stored next round is not ahead of the current one needs no look.
    pub fn owe(&mut self, lane: &str, latest_held: Option<u64>) {
        if let Some(next) = self.next.get_mut(lane) {
            let owed = owed_next(*next, latest_held);
            if owed != *next {
                // How many share the held round is not known: the next
                // task takes a round of its own.
                self.shared.insert(lane.to_owned(), u32::MAX);
            }
            *next = owed;
        }
    }

    /// `lane`'s weight ([`DEFAULT_FAIR_WEIGHT`] unless set).
    pub fn weight(&self, lane: &str) -> u32 {
        self.weights
            .get(lane)
            .copied()
            .unwrap_or(DEFAULT_FAIR_WEIGHT)
    }

    /// Whether `lane`'s stored next round is ahead of the current one:
    /// only then does what it still holds matter.
    pub fn ahead(&self, lane: &str) -> bool {
        self.next.get(lane).is_some_and(|&next| next > self.current)
    }

    /// [`FairRounds::assign`] with the lanes' holds kept in
    /// [`FairRounds::held`]: each lane of the batch whose next round is
    /// ahead is owed what a task of it still holds.
    pub fn assign_held<'a>(&mut self, records: impl IntoIterator<Item = &'a mut TaskRecord>) {
        let mut records: Vec<&mut TaskRecord> = records.into_iter().collect();
        let lanes: BTreeSet<String> = records.iter().map(|r| fair_lane(r).to_owned()).collect();
        for lane in lanes {
            if !self.ahead(&lane) {
                continue;
            }
            let latest = self.held.latest(&lane, self.current);
            self.owe(&lane, latest);
        }
        self.assign(records.iter_mut().map(|r| &mut **r));
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
    fn a_lane_whose_tasks_left_starts_at_the_current_round() {
        let mut rounds = FairRounds::default();
        let mut gone: Vec<_> = (0..100).map(|_| keyed(Some("gone"))).collect();
        let mut other: Vec<_> = (0..10).map(|_| keyed(Some("other"))).collect();
        rounds.assign_held(gone.iter_mut().chain(other.iter_mut()));
        for r in gone.iter().chain(&other) {
            rounds.held.hold(fair_lane(r), r.fair_round, r.id);
        }
        rounds.claimed(&other[0]);
        assert_eq!(rounds.current, 1);
        // 96 of `gone`'s tasks were cancelled; rounds 1 to 4 wait.
        for r in &gone[4..] {
            rounds.held.leave("gone", r.fair_round, r.id);
        }
        let mut next = [keyed(Some("gone")), keyed(Some("gone"))];
        rounds.assign_held(next.iter_mut());
        assert_eq!((next[0].fair_round, next[1].fair_round), (5, 6));
        // Now all left: the lane starts at the current round.
        for r in &gone[..4] {
            rounds.held.leave("gone", r.fair_round, r.id);
        }
        let mut again = [keyed(Some("gone"))];
        rounds.assign_held(again.iter_mut());
        assert_eq!(again[0].fair_round, 1);
        assert_eq!(owed_next(7, None), 0);
        assert_eq!(owed_next(7, Some(9)), 7, "a hold from before a switch");
    }

    #[test]
    fn a_weight_3_key_gets_three_turns_to_a_weight_1_keys_one() {
        let mut rounds = FairRounds::default();
        rounds.weights.insert("heavy".into(), 3);
        let mut heavy: Vec<_> = (0..9).map(|_| keyed(Some("heavy"))).collect();
        let mut light: Vec<_> = (0..3).map(|_| keyed(Some("light"))).collect();
        rounds.assign(heavy.iter_mut().chain(light.iter_mut()));
        let heavy_rounds: Vec<u64> = heavy.iter().map(|r| r.fair_round).collect();
        assert_eq!(heavy_rounds, [1, 1, 1, 2, 2, 2, 3, 3, 3]);
        assert_eq!(
            light.iter().map(|r| r.fair_round).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // Back to 1: the next task takes a round of its own.
        rounds.weights.remove("heavy");
        let mut more = [keyed(Some("heavy"))];
        rounds.assign(more.iter_mut());
        assert_eq!(more[0].fair_round, 4);
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
