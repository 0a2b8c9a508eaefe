//! Where waiters learn that a task may have ended: [`TaskEnds`], one hub
//! per backend instance, that a backend's signals (in-process notify,
//! PostgreSQL `LISTEN`, Redis pub/sub) fire and one shared poller backs.
//!
//! A wake-up is a hint, never the answer: a waiter always reads the record
//! again after one. So a backend may fire too often (every id of a batch,
//! everyone after a reconnect) but never needs to be exact, and a missed
//! signal costs at most the poll interval.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::task::TaskId;

/// How often the shared poller checks the awaited tasks of a backend that
/// cannot push ends across processes (SQLite, MySQL, a third-party
/// backend without a hub): one query per interval for all waiters.
pub const POLL_INTERVAL_DEFAULT: Duration = Duration::from_millis(200);

/// How often the shared poller checks on a backend that pushes ends
/// (memory, PostgreSQL, Redis): only to catch a signal lost while a
/// listener reconnected.
pub const PUSHED_FALLBACK_DEFAULT: Duration = Duration::from_secs(1);

/// The most ids the poller asks about in one query (SQL parameter limits);
/// more waiters mean one query per this many each interval.
pub const POLL_BATCH: usize = 500;

/// The waiters of one backend instance, by task id, and the wake-ups that
/// reach them. Backends return theirs from
/// [`Store::task_ends`](crate::backend::Store::task_ends) and call
/// [`TaskEnds::ended`] when a task may have ended.
///
/// ```
/// use std::time::Duration;
/// use taskq_core::ends::TaskEnds;
///
/// // A backend keeps one, built with how often its fallback poll runs.
/// let ends = TaskEnds::new(Duration::from_millis(200));
/// let id = uuid::Uuid::now_v7();
/// ends.ended([id]); // nobody waits: a no-op
/// assert_eq!(ends.waiting(), 0);
/// ```
pub struct TaskEnds {
    state: Mutex<Waiters>,
    interval: Duration,
    polls: AtomicU64,
}

#[derive(Default)]
struct Waiters {
    by_id: HashMap<TaskId, Vec<(u64, Arc<Notify>)>>,
    next_key: u64,
    /// A poller task runs for this hub (started by the first waiter,
    /// stopped by itself when nobody waits).
    poller: bool,
}

impl fmt::Debug for TaskEnds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskEnds")
            .field("waiting", &self.waiting())
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl TaskEnds {
    /// A hub whose fallback poll runs every `poll_interval` while anyone
    /// waits ([`POLL_INTERVAL_DEFAULT`] without push across processes,
    /// [`PUSHED_FALLBACK_DEFAULT`] with it).
    pub fn new(poll_interval: Duration) -> TaskEnds {
        TaskEnds {
            state: Mutex::new(Waiters::default()),
            interval: poll_interval.max(Duration::from_millis(10)),
            polls: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // Only maps and flags live here: a panic elsewhere leaves them whole.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// These tasks may have ended (settled, cancelled, rescued, deleted):
    /// their waiters read their records again.
    pub fn ended(&self, ids: impl IntoIterator<Item = TaskId>) {
        let state = self.lock();
        if state.by_id.is_empty() {
            return;
        }
        for id in ids {
            for (_, notify) in state.by_id.get(&id).into_iter().flatten() {
                // `notify_one` keeps a permit: a waiter between its read and
                // its wait still wakes.
                notify.notify_one();
            }
        }
    }

    /// Signals may have been lost (a listener reconnected, a broadcast of
    /// unknown ids): every waiter reads its record again.
    pub fn wake_all(&self) {
        for notify in self.lock().by_id.values().flatten() {
            notify.1.notify_one();
        }
    }

    /// How many tasks are awaited now.
    pub fn waiting(&self) -> usize {
        self.lock().by_id.len()
    }

    /// The fallback poll's interval.
    pub fn poll_interval(&self) -> Duration {
        self.interval
    }

    /// How many store queries the fallback poll has made so far (one per
    /// [`POLL_BATCH`] awaited ids per interval).
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    pub(crate) fn count_poll(&self) {
        self.polls.fetch_add(1, Ordering::Relaxed);
    }

    /// Registers a waiter for `id`; the returned watch wakes on
    /// [`TaskEnds::ended`] of it. `true` when no poller runs yet: the
    /// caller starts one (and the hub counts it as running).
    pub(crate) fn watch(self: &Arc<Self>, id: TaskId) -> (Watch, bool) {
        let notify = Arc::new(Notify::new());
        let mut state = self.lock();
        let key = state.next_key;
        state.next_key += 1;
        state
            .by_id
            .entry(id)
            .or_default()
            .push((key, notify.clone()));
        let start_poller = !state.poller;
        state.poller = true;
        drop(state);
        let watch = Watch {
            ends: self.clone(),
            id,
            key,
            notify,
        };
        (watch, start_poller)
    }

    /// The awaited ids, for the poller; `None` (and the poller counts as
    /// stopped) when nobody waits — decided under the lock a new waiter
    /// takes, so a waiter never finds a poller that is about to leave.
    pub(crate) fn awaited_or_stop(&self) -> Option<Vec<TaskId>> {
        let mut state = self.lock();
        if state.by_id.is_empty() {
            state.poller = false;
            return None;
        }
        Some(state.by_id.keys().copied().collect())
    }

    /// The poller left without being asked (its backend is gone).
    pub(crate) fn poller_stopped(&self) {
        self.lock().poller = false;
    }
}

/// One waiter's registration: wakes on its task's end signals, and leaves
/// the hub when dropped.
pub(crate) struct Watch {
    ends: Arc<TaskEnds>,
    id: TaskId,
    key: u64,
    notify: Arc<Notify>,
}

impl Watch {
    /// Until the next wake-up for this task (at once if one came since the
    /// last).
    pub(crate) async fn changed(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut state = self.ends.lock();
        if let Some(waiters) = state.by_id.get_mut(&self.id) {
            waiters.retain(|(key, _)| *key != self.key);
            if waiters.is_empty() {
                state.by_id.remove(&self.id);
            }
        }
    }
}
