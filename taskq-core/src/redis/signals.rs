//! Wake-ups from Redis pub/sub: one subscriber connection turns the
//! channels' announcements into this process's work, cancel, schedule and
//! control signals, and one timer wakes workers when a delayed task comes
//! due (see the module docs' "Wake-ups").

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fred::prelude::*;
use tokio::sync::Notify;
use tracing::warn;

use super::keys::Keys;
use crate::ends::TaskEnds;

/// Every channel the listener subscribes to.
pub(super) fn channels(keys: &Keys) -> Vec<String> {
    vec![
        keys.work_channel(),
        keys.cancel_channel(),
        keys.schedule_channel(),
        keys.control_channel(),
        keys.ended_channel(),
    ]
}

/// What the pub/sub listener fires.
pub(super) struct Signals {
    pub(super) work: Arc<Notify>,
    pub(super) cancel: Arc<Notify>,
    pub(super) schedules: Arc<Notify>,
    pub(super) control: Arc<Notify>,
    pub(super) due: Arc<DueTimer>,
    pub(super) ends: Arc<TaskEnds>,
}

/// Turns announcements into wake-ups: `<queue>` (work is due) and
/// `<queue> <µs>` (a delayed task is due then) on the work channel, task
/// ids on the cancel channel, schedule names on the schedule channel,
/// worker ids on the control channel, ended task ids on the ended channel.
/// After a reconnect, subscribes again and wakes everyone (announcements
/// may have been missed).
pub(super) async fn listen(subscriber: Client, keys: Keys, signals: Signals) {
    use tokio::sync::broadcast::error::RecvError;
    let cancel_channel = keys.cancel_channel();
    let schedule_channel = keys.schedule_channel();
    let control_channel = keys.control_channel();
    let ended_channel = keys.ended_channel();
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    let wake_all = || {
        signals.work.notify_waiters();
        signals.cancel.notify_waiters();
        signals.schedules.notify_waiters();
        signals.control.notify_waiters();
        signals.ends.wake_all();
    };
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Ok(message) if *message.channel == *cancel_channel => {
                    signals.cancel.notify_waiters();
                }
                Ok(message) if *message.channel == *schedule_channel => {
                    signals.schedules.notify_waiters();
                }
                Ok(message) if *message.channel == *control_channel => {
                    signals.control.notify_waiters();
                }
                Ok(message) if *message.channel == *ended_channel => {
                    match message.value.as_str() {
                        Some(ids) if ids != "*" => signals
                            .ends
                            .ended(ids.split(' ').filter_map(|id| id.parse().ok())),
                        _ => signals.ends.wake_all(),
                    }
                }
                Ok(message) => {
                    let due = message
                        .value
                        .as_str()
                        .and_then(|text| text.rsplit_once(' ').and_then(|(_, at)| at.parse().ok()));
                    match due {
                        Some(due) => signals.due.set(due),
                        None => signals.work.notify_waiters(),
                    }
                }
                Err(RecvError::Lagged(_)) => wake_all(),
                Err(RecvError::Closed) => return,
            },
            reconnect = reconnects.recv() => match reconnect {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if let Err(err) = subscriber.subscribe(channels(&keys)).await {
                        warn!(error = %err, "could not subscribe to announcements");
                    }
                    wake_all();
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// One timer per process for delayed tasks (ETAs, retry backoffs): it
/// holds the earliest due time learnt from claims and announcements and,
/// when it passes, wakes the workers, whose claim promotes the task and
/// reports the next due time. Workers sleep until then instead of polling.
#[derive(Default)]
pub(super) struct DueTimer {
    /// The earliest due time (µs since the epoch) not yet signalled.
    due: Mutex<Option<i64>>,
    changed: Notify,
}

impl DueTimer {
    fn lock(&self) -> MutexGuard<'_, Option<i64>> {
        self.due
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes at `due` unless an earlier wake-up is set.
    pub(super) fn set(&self, due: i64) {
        let mut current = self.lock();
        if current.is_none_or(|c| due < c) {
            *current = Some(due);
            self.changed.notify_one();
        }
    }

    pub(super) async fn run(self: Arc<Self>, work: Arc<Notify>) {
        loop {
            let due = *self.lock();
            let Some(due) = due else {
                self.changed.notified().await;
                continue;
            };
            // Wall clock to monotonic; a little late rather than early, so
            // the claim it triggers finds the task due.
            let wait_micros = due.saturating_sub(chrono::Utc::now().timestamp_micros()) + 500;
            let wake = tokio::time::Instant::now()
                + Duration::from_micros(u64::try_from(wait_micros).unwrap_or(0));
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {
                    let mut current = self.lock();
                    if *current == Some(due) {
                        *current = None;
                    }
                    drop(current);
                    work.notify_waiters();
                }
                _ = self.changed.notified() => {}
            }
        }
    }
}
