//! The data the backend traits take and answer: claim requests,
//! settlements and their outcomes, list filters and pages, queue stats,
//! reports, and what an enqueue stored.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rate_limit::RateLimit;
use crate::task::{TaskFailure, TaskId, TaskState};

/// What a worker asks for when it has free slots.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub queue: &'a str,
    /// At most this many tasks (the worker's free slots for the queue).
    pub limit: usize,
    pub worker_id: &'a str,
    /// The claimed tasks' lease runs until `now + lease`.
    pub lease: Duration,
    pub now: DateTime<Utc>,
    /// Only tasks of these types (the worker's handlers); `None`: any.
    /// Tasks of other types stay pending, in their place, for a worker
    /// that can run them ([`lifecycle::accepts_type`](crate::lifecycle::accepts_type)).
    pub task_types: Option<&'a [&'a str]>,
}

/// How a running attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// → `FINISHED` with the result.
    Finished(Value),
    /// → `FAILED` with the error.
    Failed(TaskFailure),
    /// → `PENDING` again, not before `run_at`, keeping the error.
    Retry {
        error: TaskFailure,
        run_at: DateTime<Utc>,
    },
    /// → `CANCELLED`.
    Cancelled(TaskFailure),
    /// → `PENDING` again, not before `run_at`, the attempt given back and
    /// one more snooze counted ([`lifecycle::after_snooze`](crate::lifecycle::after_snooze)).
    Snooze { run_at: DateTime<Utc> },
}

impl Outcome {
    /// Whether the task runs again (`Retry`, `Snooze`): it did not end.
    pub fn requeues(&self) -> bool {
        matches!(self, Outcome::Retry { .. } | Outcome::Snooze { .. })
    }
}

/// One finished attempt, reported by the worker that ran it.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub id: TaskId,
    pub attempt: u32,
    pub outcome: Outcome,
    pub at: DateTime<Utc>,
}

/// What a lease renewal found for one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Still ours; the lease was extended.
    Held,
    /// Still ours and extended, but someone asked to cancel it.
    CancelRequested,
    /// No longer ours (rescued, settled, or another attempt runs it).
    Lost,
}

/// Where to move a pending task among its queue's pending tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "to", content = "task")]
pub enum Position {
    /// Next to run: takes the highest pending priority of the queue.
    Front,
    /// Last to run: takes the lowest pending priority of the queue.
    Back,
    /// Just before another pending task of the same queue, taking its
    /// priority.
    Before(TaskId),
}

/// What a rescue pass did with expired leases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Returned to `PENDING` for another attempt.
    pub requeued: u64,
    /// Retries spent: `FAILED` with [`crate::ErrorKind::LeaseExpired`].
    pub failed: u64,
    /// Cancel had been requested: `CANCELLED`.
    pub cancelled: u64,
}

/// What a [`Broker::reconcile`](super::Broker::reconcile) pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// The pass looked at every pending task (a sweep), not only at
    /// whether the delivery path lost data.
    pub swept: bool,
    /// Tasks put back into the delivery path (on Redis: workflow step
    /// ends carried from an outbox).
    pub restored: u64,
}

/// Filters for [`Store::list`](super::Store::list); empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskFilter {
    pub state: Option<TaskState>,
    pub task_type: Option<String>,
    pub queue: Option<String>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created strictly before.
    pub created_before: Option<DateTime<Utc>>,
    /// Carrying every one of these tags ([`lifecycle::has_tags`](crate::lifecycle::has_tags)).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Queued by a firing of this schedule.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Whose metadata has every one of these top-level keys with an equal
    /// value of the same JSON type ([`lifecycle::has_metadata`](crate::lifecycle::has_metadata):
    /// `"7"` is no match for `7`, numbers compare by value). Keys as
    /// [`lifecycle::is_valid_metadata_key`](crate::lifecycle::is_valid_metadata_key),
    /// scalar values, at most [`lifecycle::MAX_METADATA_FILTERS`](crate::lifecycle::MAX_METADATA_FILTERS).
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

/// A page request: 1-based page number, page size capped at
/// [`PageRequest::MAX_PAGE_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    pub page: u64,
    pub page_size: u64,
}

impl PageRequest {
    /// The largest page a list call returns.
    pub const MAX_PAGE_SIZE: u64 = 100;
    /// The page size when none is given (as in the seeds' list API).
    pub const DEFAULT_PAGE_SIZE: u64 = 20;

    /// A page request, with `page` at least 1 and `page_size` within
    /// 1..=[`Self::MAX_PAGE_SIZE`].
    pub fn new(page: u64, page_size: u64) -> PageRequest {
        PageRequest {
            page: page.max(1),
            page_size: page_size.clamp(1, Self::MAX_PAGE_SIZE),
        }
    }

    /// Rows to skip; saturates instead of overflowing on absurd pages.
    pub fn offset(&self) -> u64 {
        (self.page.max(1) - 1).saturating_mul(self.page_size)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest::new(1, Self::DEFAULT_PAGE_SIZE)
    }
}

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Matching items over all pages.
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// Counts for one queue.
///
/// [`Store::queue_stats`](super::Store::queue_stats) fills the counts and the pause flag;
/// [`Client::queue_stats`](crate::Client::queue_stats) also fills
/// `live_workers`, `unclaimable` and `unclaimable_types` from the worker
/// registry and [`Store::pending_by_type`](super::Store::pending_by_type) (a backend leaves them empty).
/// A concurrency key's weight in a fair queue
/// ([`Broker::set_fair_weight`](super::Broker::set_fair_weight)): its tasks
/// take `weight` turns to a key of weight 1's one.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairWeight {
    pub key: String,
    pub weight: u32,
}

#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    pub queue: String,
    /// Pending and due now.
    pub pending: u64,
    /// Pending with an ETA or retry time in the future.
    pub scheduled: u64,
    pub running: u64,
    pub paused: bool,
    /// At most this many of the queue's tasks run at once, on every
    /// worker and host together ([`Broker::set_queue_limit`](super::Broker::set_queue_limit)); `None`: no
    /// limit. `running` may exceed it for a while after it was lowered.
    #[serde(default)]
    pub limit: Option<u32>,
    /// At most `starts` of the queue's tasks start per `period`
    /// ([`Broker::set_queue_rate_limit`](super::Broker::set_queue_rate_limit)); `None`: no rate limit.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Set while the rate limit's bucket is empty: its tasks are held back
    /// (they stay `PENDING`) until this time, when the next may start.
    #[serde(default)]
    pub rate_held_until: Option<DateTime<Utc>>,
    /// Its concurrency keys take turns ([`Broker::set_queue_fair`](super::Broker::set_queue_fair)).
    #[serde(default)]
    pub fair: bool,
    /// Live workers (running or paused, not stopping or gone) that serve
    /// this queue, on any host.
    #[serde(default)]
    pub live_workers: u64,
    /// Pending tasks (due or scheduled) that no live worker serving this
    /// queue has a handler for: they wait until a worker that links their
    /// task type's crate starts. Every pending task counts when no live
    /// worker serves the queue at all (`live_workers == 0`).
    #[serde(default)]
    pub unclaimable: u64,
    /// The types of those tasks with their counts, by name; the counts add
    /// up to `unclaimable`.
    #[serde(default)]
    pub unclaimable_types: Vec<TypeCount>,
}

/// A task type's limit, its key limit and its running tasks: a row of
/// [`Store::type_limits`](super::Store::type_limits), for a type with
/// either limit.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeLimitStats {
    pub task_type: String,
    /// At most this many of the type's tasks run at once
    /// ([`Broker::set_type_limit`](super::Broker::set_type_limit)).
    pub limit: Option<u32>,
    /// At most this many of the type's tasks with one concurrency key run
    /// at once ([`Broker::set_key_limit`](super::Broker::set_key_limit)).
    #[serde(default)]
    pub key_limit: Option<u32>,
    /// The type's tasks in `RUNNING` now (on Redis: in every queue
    /// together). May exceed `limit` for a while after it was lowered.
    pub running: u64,
    /// For a type with a key limit: how many concurrency keys have tasks
    /// of the type in `RUNNING` now (0 without a key limit).
    #[serde(default)]
    pub running_keys: u64,
    /// For a type with a key limit: the keys with the most running tasks,
    /// most first (ties by key), at most [`TypeLimitStats::TOP_KEYS`]; on
    /// Redis, each key's count is its running tasks in every queue
    /// together.
    #[serde(default)]
    pub top_keys: Vec<KeyRunning>,
    /// At most `starts` of the type's tasks start per `period`
    /// ([`Broker::set_type_rate_limit`](super::Broker::set_type_rate_limit)).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// At most `starts` of the type's tasks with one concurrency key start
    /// per `period`, per key
    /// ([`Broker::set_key_rate_limit`](super::Broker::set_key_rate_limit)).
    #[serde(default)]
    pub key_rate_limit: Option<RateLimit>,
    /// Set while the type's rate bucket is spent: its tasks are held back
    /// (they stay `PENDING`) until this time, when the next may start (on
    /// Redis: the latest over the queues).
    #[serde(default)]
    pub rate_held_until: Option<DateTime<Utc>>,
    /// For a type with a key rate limit: how many of its keys' buckets
    /// are spent now (their tasks held back until they refill; on Redis,
    /// summed over the queues).
    #[serde(default)]
    pub held_keys: u64,
}

impl TypeLimitStats {
    /// How many keys [`TypeLimitStats::top_keys`] lists at most.
    pub const TOP_KEYS: usize = 10;

    /// Sets [`running_keys`](TypeLimitStats::running_keys) and
    /// [`top_keys`](TypeLimitStats::top_keys) from the running count of
    /// each key with running tasks (in any order; a key given twice, as
    /// from two queues, is summed; a zero count is no running key).
    pub fn set_key_counts(&mut self, counts: impl IntoIterator<Item = (String, u64)>) {
        let mut summed: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for (key, running) in counts {
            if running > 0 {
                *summed.entry(key).or_default() += running;
            }
        }
        self.running_keys = summed.len() as u64;
        let mut keys: Vec<KeyRunning> = summed
            .into_iter()
            .map(|(key, running)| KeyRunning { key, running })
            .collect();
        keys.sort_by(|a, b| b.running.cmp(&a.running).then_with(|| a.key.cmp(&b.key)));
        keys.truncate(Self::TOP_KEYS);
        self.top_keys = keys;
    }
}

/// A concurrency key and its type's running tasks with it: an item of
/// [`TypeLimitStats::top_keys`].
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRunning {
    pub key: String,
    pub running: u64,
}

/// A number of tasks of one type.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCount {
    pub task_type: String,
    pub count: u64,
}

/// How many pending tasks (due or scheduled) of one type one queue holds:
/// a row of [`Store::pending_by_type`](super::Store::pending_by_type).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingByType {
    pub queue: String,
    pub task_type: String,
    /// At least 1: a backend lists no empty pairs.
    pub count: u64,
}

/// What [`Broker::enqueue`](super::Broker::enqueue) did with a batch: it stored every task but
/// the duplicates listed here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// The tasks not stored because their unique key was held
    /// ([`lifecycle::holds_unique`](crate::lifecycle::holds_unique), or an
    /// earlier task of the batch with the key): each task's position in
    /// the batch and the holder's id, in batch order.
    pub duplicates: Vec<(usize, TaskId)>,
}

impl Enqueued {
    /// Every task was stored.
    pub const ALL: Enqueued = Enqueued {
        duplicates: Vec::new(),
    };

    /// The items of `batch` (the batch these duplicates are positions of,
    /// or anything in its order) that are not duplicates: the ones to store.
    pub fn stored<T>(&self, batch: Vec<T>) -> Vec<T> {
        if self.duplicates.is_empty() {
            return batch;
        }
        let mut duplicates = self.duplicates.iter().map(|(at, _)| *at).peekable();
        batch
            .into_iter()
            .enumerate()
            .filter(|(i, _)| duplicates.next_if_eq(i).is_none())
            .map(|(_, task)| task)
            .collect()
    }
}
