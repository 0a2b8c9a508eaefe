//! [`WorkerRegistry`] for the in-memory backend.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::MemoryBackend;
use crate::backend::{WorkerControl, WorkerInfo, WorkerRegistry, WorkerState};
use crate::error::Error;
use crate::throughput::{MinuteCounts, first_kept_minute};

#[async_trait]
impl WorkerRegistry for MemoryBackend {
    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), Error> {
        let mut worker = worker.clone();
        worker.requested = None;
        self.lock().workers.insert(worker.id.clone(), worker);
        Ok(())
    }

    async fn worker_heartbeat(&self, worker: &WorkerInfo) -> Result<Option<WorkerState>, Error> {
        let mut state = self.lock();
        let requested = state
            .workers
            .get(&worker.id)
            .and_then(|stored| stored.requested);
        let mut worker = worker.clone();
        worker.requested = requested;
        state.workers.insert(worker.id.clone(), worker);
        Ok(requested)
    }

    async fn deregister_worker(&self, id: &str) -> Result<bool, Error> {
        Ok(self.lock().workers.remove(id).is_some())
    }

    async fn list_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerInfo>, Error> {
        let mut state = self.lock();
        state.workers.retain(|_, worker| worker.forget_at() >= now);
        Ok(state
            .workers
            .values()
            .filter_map(|worker| worker.clone().seen_at(now))
            .collect())
    }

    async fn control_worker(
        &self,
        id: &str,
        control: WorkerControl,
        now: DateTime<Utc>,
    ) -> Result<WorkerInfo, Error> {
        let mut state = self.lock();
        let not_found = || Error::WorkerNotFound(id.to_owned());
        let stored = state.workers.get_mut(id).ok_or_else(not_found)?;
        let mut seen = stored.clone().seen_at(now).ok_or_else(not_found)?;
        let target = control.target(&seen)?;
        stored.requested = Some(target);
        seen.requested = Some(target);
        self.control_signal.notify_waiters();
        Ok(seen)
    }

    fn control_signal(&self) -> Option<Arc<Notify>> {
        Some(self.control_signal.clone())
    }

    async fn add_counts(&self, counts: &[MinuteCounts], now: DateTime<Utc>) -> Result<(), Error> {
        let mut state = self.lock();
        for count in counts {
            state
                .counts
                .entry((count.minute, count.queue.clone()))
                .or_insert_with(|| MinuteCounts {
                    queue: count.queue.clone(),
                    minute: count.minute,
                    ..MinuteCounts::default()
                })
                .add(count);
        }
        let oldest = first_kept_minute(DateTime::<Utc>::MIN_UTC, now);
        state.counts = state.counts.split_off(&(oldest, String::new()));
        Ok(())
    }

    async fn counts_since(&self, since: DateTime<Utc>) -> Result<Vec<MinuteCounts>, Error> {
        let state = self.lock();
        Ok(state
            .counts
            .range((first_kept_minute(since, Utc::now()), String::new())..)
            .map(|(_, count)| count.clone())
            .collect())
    }
}
