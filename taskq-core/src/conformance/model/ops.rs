//! The operations a model case is made of, and the proptest strategy that
//! draws them. Tasks are named by a [`Target`], resolved when the step
//! runs against the ids submitted so far, so a shrunk sequence still makes
//! sense.

use proptest::prelude::*;
use proptest::sample::Index;

/// Queues a case spreads its tasks over.
pub const QUEUES: [&str; 2] = ["q0", "q1"];
/// Workers that claim, heartbeat and release.
pub const WORKERS: [&str; 2] = ["w0", "w1"];
/// The task types submitted.
pub const TASK_TYPES: [&str; 2] = ["model_task", "model_other"];
/// The unique keys a case's unique submissions take, so that they clash.
pub const UNIQUE_KEYS: [&str; 2] = ["k0", "k1"];
/// The states in which a unique task holds its key.
pub const UNIQUE_STATES: [&[crate::task::TaskState]; 3] = [
    crate::task::Unique::ACTIVE,
    &[crate::task::TaskState::Pending],
    &crate::task::TaskState::ALL,
];

/// What a claim takes: any type, each type alone, both, or none (a worker
/// with no handler for anything queued).
pub const CLAIM_TYPES: [Option<&[&str]>; 5] = [
    None,
    Some(&["model_task"]),
    Some(&["model_other"]),
    Some(&["model_other", "model_task"]),
    Some(&[]),
];

/// The task an operation acts on: with `aim`, one of the tasks whose
/// state the operation accepts (running ones for a settle, ended ones for
/// a retry, …) when there is one; else any task submitted so far.
#[derive(Debug, Clone)]
pub struct Target {
    pub index: Index,
    pub aim: bool,
}

/// One step of a case.
#[derive(Debug, Clone)]
pub enum Op {
    /// Enqueue `count` new tasks in one call.
    Submit {
        queue: usize,
        priority: i32,
        /// Due this many ms after now (0: due at once).
        delay_ms: u32,
        max_retries: u32,
        count: usize,
        /// An index into `TASK_TYPES`.
        task_type: usize,
        /// Unique by `UNIQUE_KEYS[.0]`, held in `UNIQUE_STATES[.1]`;
        /// every task of the batch takes the key.
        unique: Option<(usize, usize)>,
        /// A deadline to start this many ms after now.
        expires_ms: Option<u32>,
        /// The batch's concurrency key: `k1`, `k2`, or none (0), the
        /// lanes of a fair queue.
        key: usize,
    },
    /// Enqueue a small workflow in one call: `shape` 0 a chain of two, 1
    /// a chord of two and a callback, 2 a chain of three; the first step
    /// in `queue`, the others in the other queue; `completed`: the last
    /// step runs whatever its parents' outcome.
    SubmitWorkflow {
        queue: usize,
        shape: usize,
        completed: bool,
    },
    /// Enqueue a new task together with one whose id is already stored:
    /// all or none, so nothing changes.
    SubmitDuplicate {
        task: Target,
    },
    Claim {
        queue: usize,
        limit: usize,
        worker: usize,
        lease_secs: u32,
        /// An index into `CLAIM_TYPES`: which types the claim takes.
        types: usize,
    },
    /// Renew the lease of a task as its worker (or, `wrong_worker`, as
    /// the other one); `stale` uses the attempt before the current one.
    Heartbeat {
        task: Target,
        wrong_worker: bool,
        stale: bool,
    },
    /// Settle one task, or the same settlement twice in one batch.
    Settle {
        task: Target,
        stale: bool,
        outcome: OutcomeKind,
        repeat: bool,
    },
    Release {
        task: Target,
        wrong_worker: bool,
    },
    Progress {
        task: Target,
        stale: bool,
    },
    /// Move the virtual clock on.
    Advance {
        ms: u32,
    },
    Rescue,
    /// The expiry sweep (`Broker::expire_overdue`) at now, taking every
    /// overdue task.
    Expire,
    Cancel {
        task: Target,
    },
    Retry {
        task: Target,
    },
    Reorder {
        task: Target,
        to: ReorderTo,
    },
    Pause {
        queue: usize,
        paused: bool,
    },
    /// Set the queue fair or not (`Broker::set_queue_fair`).
    Fair {
        queue: usize,
        fair: bool,
    },
    /// Set the queue's rate limit to `starts` per `period_ms`, or clear it
    /// (`starts` 0).
    RateLimit {
        queue: usize,
        starts: u32,
        period_ms: u64,
    },
    /// Set the task type's limit to `limit`, or clear it (`limit` 0).
    TypeLimit {
        /// An index into `TASK_TYPES`.
        task_type: usize,
        limit: u32,
    },
    /// Set the task type's key limit to `limit`, or clear it (`limit` 0).
    KeyLimit {
        /// An index into `TASK_TYPES`.
        task_type: usize,
        limit: u32,
    },
    /// Set the task type's rate limit to `starts` per `period_ms`, or
    /// clear it (`starts` 0).
    TypeRateLimit {
        /// An index into `TASK_TYPES`.
        task_type: usize,
        starts: u32,
        period_ms: u64,
    },
    /// Set the task type's key rate limit to `starts` per `period_ms`,
    /// or clear it (`starts` 0).
    KeyRateLimit {
        /// An index into `TASK_TYPES`.
        task_type: usize,
        starts: u32,
        period_ms: u64,
    },
    /// Set the weight of concurrency key `k{key}` in the queue, or clear
    /// it (`None`); `Some(0)` is refused.
    FairWeight {
        queue: usize,
        /// 1 or 2: the keys submissions take.
        key: usize,
        weight: Option<u32>,
    },
    Delete {
        task: Target,
    },
    /// Purge the chosen terminal states (bit 0 finished, 1 failed, 2
    /// cancelled, 3 expired; 0 asks for `PENDING`, which is refused) ended before
    /// now minus `age_ms`.
    Purge {
        states: u8,
        age_ms: u32,
    },
    /// Fire the schedule's current tick; `stale` plans it from an old
    /// revision; `with_previous` also carries the previous tick's task.
    FireSchedule {
        stale: bool,
        with_previous: bool,
    },
    /// Edit the schedule: its next run moves to now plus `in_secs`, and
    /// `enabled` is set.
    EditSchedule {
        in_secs: u32,
        enabled: bool,
    },
}

/// How a settled attempt ended.
#[derive(Debug, Clone, Copy)]
pub enum OutcomeKind {
    Finished,
    Failed,
    Cancelled,
    /// Back to pending after this many ms.
    Retry(u32),
    /// Snoozed: back to pending after this many ms, the attempt given back.
    Snooze(u32),
}

/// Where a reorder moves a task.
#[derive(Debug, Clone)]
pub enum ReorderTo {
    Front,
    Back,
    Before(Target),
}

fn task() -> impl Strategy<Value = Target> {
    (any::<Index>(), prop::bool::weighted(0.8)).prop_map(|(index, aim)| Target { index, aim })
}

fn outcome() -> impl Strategy<Value = OutcomeKind> {
    prop_oneof![
        Just(OutcomeKind::Finished),
        Just(OutcomeKind::Failed),
        Just(OutcomeKind::Cancelled),
        prop::sample::select(vec![0u32, 1_000, 5_000]).prop_map(OutcomeKind::Retry),
        prop::sample::select(vec![0u32, 1_000, 5_000]).prop_map(OutcomeKind::Snooze),
    ]
}

fn reorder_to() -> impl Strategy<Value = ReorderTo> {
    prop_oneof![
        Just(ReorderTo::Front),
        Just(ReorderTo::Back),
        task().prop_map(ReorderTo::Before),
    ]
}

/// A rate limit's period, in ms: a few claims apart, or the whole case.
fn rate_period() -> impl Strategy<Value = u64> {
    prop::sample::select(vec![700u64, 3_000, 60_000])
}

/// One operation, weighted so that tasks get submitted, claimed and
/// settled often and the rarer operator calls still come up.
pub fn op() -> impl Strategy<Value = Op> {
    let queue = 0..QUEUES.len();
    let worker = 0..WORKERS.len();
    prop_oneof![
        6 => (
            queue.clone(),
            0..3i32,
            prop::sample::select(vec![0u32, 0, 500, 3_000]),
            0..3u32,
            1..4usize,
            prop::sample::select(vec![0usize, 0, 0, 1]),
            prop::option::weighted(0.3, (0..UNIQUE_KEYS.len(), 0..UNIQUE_STATES.len())),
            prop::option::weighted(0.3, prop::sample::select(vec![1u32, 1_000, 4_000, 20_000])),
            0..3usize,
        )
            .prop_map(
                |(queue, priority, delay_ms, max_retries, count, task_type, unique, expires_ms, key)| {
                    Op::Submit {
                        queue,
                        priority,
                        delay_ms,
                        max_retries,
                        count,
                        task_type,
                        unique,
                        expires_ms,
                        key,
                    }
                }
            ),
        1 => task().prop_map(|task| Op::SubmitDuplicate { task }),
        2 => (queue.clone(), 0..3usize, prop::bool::weighted(0.3))
            .prop_map(|(queue, shape, completed)| Op::SubmitWorkflow { queue, shape, completed }),
        6 => (
            queue.clone(),
            1..4usize,
            worker.clone(),
            prop::sample::select(vec![1u32, 5, 30]),
            // Mostly a worker with every handler, as in production.
            prop::sample::select(vec![0usize, 0, 0, 1, 2, 3, 4]),
        )
            .prop_map(|(queue, limit, worker, lease_secs, types)| Op::Claim {
                queue,
                limit,
                worker,
                lease_secs,
                types,
            }),
        3 => (task(), prop::bool::weighted(0.3), prop::bool::weighted(0.2))
            .prop_map(|(task, wrong_worker, stale)| Op::Heartbeat { task, wrong_worker, stale }),
        4 => (task(), prop::bool::weighted(0.15), outcome(), prop::bool::weighted(0.15))
            .prop_map(|(task, stale, outcome, repeat)| Op::Settle {
                task,
                stale,
                outcome,
                repeat,
            }),
        2 => (task(), prop::bool::weighted(0.3))
            .prop_map(|(task, wrong_worker)| Op::Release { task, wrong_worker }),
        2 => (task(), prop::bool::weighted(0.2)).prop_map(|(task, stale)| Op::Progress { task, stale }),
        4 => prop::sample::select(vec![1u32, 400, 1_500, 6_000, 40_000])
            .prop_map(|ms| Op::Advance { ms }),
        3 => Just(Op::Rescue),
        2 => Just(Op::Expire),
        2 => task().prop_map(|task| Op::Cancel { task }),
        2 => task().prop_map(|task| Op::Retry { task }),
        2 => (task(), reorder_to()).prop_map(|(task, to)| Op::Reorder { task, to }),
        1 => (queue.clone(), any::<bool>()).prop_map(|(queue, paused)| Op::Pause { queue, paused }),
        1 => (queue.clone(), prop::bool::weighted(0.7)).prop_map(|(queue, fair)| Op::Fair { queue, fair }),
        1 => (queue, 0..4u32, rate_period())
            .prop_map(|(queue, starts, period_ms)| Op::RateLimit { queue, starts, period_ms }),
        1 => (0..TASK_TYPES.len(), 0..3u32)
            .prop_map(|(task_type, limit)| Op::TypeLimit { task_type, limit }),
        1 => (0..TASK_TYPES.len(), 0..3u32)
            .prop_map(|(task_type, limit)| Op::KeyLimit { task_type, limit }),
        1 => (0..TASK_TYPES.len(), 0..4u32, rate_period())
            .prop_map(|(task_type, starts, period_ms)| Op::TypeRateLimit { task_type, starts, period_ms }),
        1 => (0..TASK_TYPES.len(), 0..3u32, rate_period())
            .prop_map(|(task_type, starts, period_ms)| Op::KeyRateLimit { task_type, starts, period_ms }),
        1 => (
            0..QUEUES.len(),
            1..3usize,
            prop::sample::select(vec![None, Some(0u32), Some(1), Some(2), Some(3), Some(3)]),
        )
            .prop_map(|(queue, key, weight)| Op::FairWeight { queue, key, weight }),
        1 => task().prop_map(|task| Op::Delete { task }),
        1 => (0..16u8, prop::sample::select(vec![0u32, 0, 1_000]))
            .prop_map(|(states, age_ms)| Op::Purge { states, age_ms }),
        1 => (prop::bool::weighted(0.3), any::<bool>())
            .prop_map(|(stale, with_previous)| Op::FireSchedule { stale, with_previous }),
        1 => (0..120u32, prop::bool::weighted(0.8))
            .prop_map(|(in_secs, enabled)| Op::EditSchedule { in_secs, enabled }),
    ]
}
