//! PostgreSQL's `LISTEN` task: one connection per backend (and its
//! clones) that wakes this process's workers, schedulers and result
//! waiters on other processes' `NOTIFY`s.

use std::sync::Arc;
#[cfg(feature = "postgres")]
use std::time::Duration;

#[cfg(feature = "postgres")]
use taskq_core::ends::TaskEnds;
use tokio::sync::Notify;

#[cfg(feature = "postgres")]
use super::{ENDED_CHANNEL, NOTIFY_CHANNEL, SCHEDULE_CHANNEL};

/// The PostgreSQL `LISTEN` task's switch: started at most once, told to
/// stop when dropped.
#[derive(Debug)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(super) struct Listener {
    pub(super) started: std::sync::Once,
    pub(super) stop: Arc<Notify>,
}

impl Default for Listener {
    fn default() -> Self {
        Listener {
            started: std::sync::Once::new(),
            stop: Arc::new(Notify::new()),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // `notify_one` keeps a permit, so a task not yet waiting still stops.
        self.stop.notify_one();
    }
}

/// What the `LISTEN` task wakes: workers and schedulers of this process.
#[cfg(feature = "postgres")]
pub(super) struct Signals {
    pub(super) work: std::sync::Weak<Notify>,
    pub(super) schedules: std::sync::Weak<Notify>,
    pub(super) ends: std::sync::Weak<TaskEnds>,
}

/// Runs the `LISTEN` loop until `stop` fires or the backend is gone,
/// reconnecting with backoff when the connection drops.
#[cfg(feature = "postgres")]
pub(super) fn listen(pool: sea_orm::sqlx::PgPool, signals: Signals, stop: Arc<Notify>) {
    use sea_orm::sqlx::postgres::PgListener;

    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // Outside a runtime there is no worker to wake; workers poll.
        return;
    };
    // Wakes the signal for `channel` (all for `None`: notifications may
    // have been lost); `false` once the backend is gone.
    let wake = move |channel: Option<&str>, payload: &str| {
        if let Some(ends) = signals.ends.upgrade() {
            match channel {
                None => ends.wake_all(),
                Some(ENDED_CHANNEL) => {
                    ends.ended(payload.split(' ').filter_map(|id| id.parse().ok()));
                    return signals.work.strong_count() > 0;
                }
                Some(_) => {}
            }
        }
        let work = channel != Some(SCHEDULE_CHANNEL);
        let schedules = channel.is_none_or(|c| c == SCHEDULE_CHANNEL);
        for (wanted, signal) in [(work, &signals.work), (schedules, &signals.schedules)] {
            if wanted && let Some(signal) = signal.upgrade() {
                signal.notify_waiters();
            }
        }
        signals.work.strong_count() > 0
    };
    runtime.spawn(async move {
        let session = async {
            let mut failures = 0u32;
            loop {
                let listener = async {
                    let mut listener = PgListener::connect_with(&pool).await?;
                    listener
                        .listen_all([NOTIFY_CHANNEL, SCHEDULE_CHANNEL, ENDED_CHANNEL])
                        .await?;
                    Ok::<_, sea_orm::sqlx::Error>(listener)
                };
                match listener.await {
                    Ok(mut listener) => {
                        failures = 0;
                        // Work or edits may have arrived while we were not
                        // listening.
                        if !wake(None, "") {
                            return;
                        }
                        loop {
                            match listener.try_recv().await {
                                // A notification; or `None`: the connection
                                // dropped and reconnected (notifications in
                                // between are lost, so wake both).
                                Ok(notification) => {
                                    let channel = notification.as_ref().map(|n| n.channel());
                                    let payload = notification.as_ref().map_or("", |n| n.payload());
                                    if !wake(channel, payload) {
                                        return;
                                    }
                                }
                                Err(err) => {
                                    tracing::warn!(error = %err, "taskq LISTEN connection failed");
                                    break;
                                }
                            }
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "taskq could not LISTEN; retrying");
                    }
                }
                failures = failures.saturating_add(1);
                let backoff = Duration::from_millis(100 << failures.min(6));
                tokio::time::sleep(backoff).await;
            }
        };
        tokio::select! {
            () = session => {}
            () = stop.notified() => {}
        }
    });
}
