//! [`ScheduleStore`] for the in-memory backend.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::{MemoryBackend, due_key};
use crate::backend::{Page, PageRequest, ScheduleStore};
use crate::error::Error;
use crate::lifecycle;
use crate::schedule::{Schedule, ScheduleFiring};

#[async_trait]
impl ScheduleStore for MemoryBackend {
    async fn create_schedule(&self, schedule: Schedule) -> Result<(), Error> {
        {
            let mut state = self.lock();
            if state.schedules.contains_key(&schedule.def.name) {
                return Err(Error::ScheduleExists(schedule.def.name));
            }
            state.put_schedule(schedule);
        }
        self.schedule_signal.notify_waiters();
        Ok(())
    }

    async fn update_schedule(&self, schedule: &Schedule) -> Result<(), Error> {
        {
            let mut state = self.lock();
            let stored = state
                .schedules
                .get(&schedule.def.name)
                .ok_or_else(|| Error::ScheduleNotFound(schedule.def.name.clone()))?;
            let updated = Schedule {
                def: schedule.def.clone(),
                next_run_at: schedule.next_run_at,
                updated_at: schedule.updated_at,
                revision: stored.revision + 1,
                ..stored.clone()
            };
            state.put_schedule(updated);
        }
        self.schedule_signal.notify_waiters();
        Ok(())
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool, Error> {
        let mut state = self.lock();
        let Some(removed) = state.schedules.remove(name) else {
            return Ok(false);
        };
        if let Some(key) = due_key(&removed) {
            state.due_schedules.remove(&key);
        }
        Ok(true)
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>, Error> {
        Ok(self.lock().schedules.get(name).cloned())
    }

    async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>, Error> {
        let state = self.lock();
        let items = state
            .schedules
            .values()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.page_size as usize)
            .cloned()
            .collect();
        Ok(Page {
            items,
            total: state.schedules.len() as u64,
            page: page.page,
            page_size: page.page_size,
        })
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Schedule>, Error> {
        let state = self.lock();
        Ok(state
            .due_schedules
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .filter_map(|(_, name)| state.schedules.get(name).cloned())
            .collect())
    }

    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(self.lock().due_schedules.first().map(|(at, _)| *at))
    }

    async fn fire_schedules(&self, firings: Vec<ScheduleFiring>) -> Result<Vec<bool>, Error> {
        let now = Utc::now();
        let mut submitted = false;
        let applied = {
            let mut state = self.lock();
            let mut applied = Vec::with_capacity(firings.len());
            for mut firing in firings {
                lifecycle::name_fired_tasks(&mut firing);
                let Some(stored) = state.schedules.get(&firing.name) else {
                    applied.push(false);
                    continue;
                };
                if stored.next_run_at != firing.expected_next_run_at
                    || stored.revision != firing.expected_revision
                {
                    applied.push(false);
                    continue;
                }
                let mut updated = stored.clone();
                updated.next_run_at = firing.next_run_at;
                updated.run_count += firing.runs() as u64;
                if let Some(last) = firing.last_task() {
                    updated.last_run_at = Some(firing.fired_at);
                    updated.last_task_id = Some(last.id);
                }
                state.put_schedule(updated);
                // Those already queued by an earlier firing of the tick
                // are left out.
                let new: Vec<_> = firing
                    .tasks
                    .into_iter()
                    .filter(|task| !state.tasks.contains_key(&task.id))
                    .collect();
                submitted |= !new.is_empty();
                state.insert_batch(new, now);
                applied.push(true);
            }
            applied
        };
        if submitted {
            self.signal.notify_waiters();
        }
        Ok(applied)
    }

    fn schedule_signal(&self) -> Option<Arc<Notify>> {
        Some(self.schedule_signal.clone())
    }
}
