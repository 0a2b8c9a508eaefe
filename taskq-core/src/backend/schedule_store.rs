//! [`ScheduleStore`]: how a backend keeps and fires schedules.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::{Page, PageRequest};
use crate::error::Error;
use crate::schedule::{Schedule, ScheduleFiring};

/// Schedules: their definitions, bookkeeping and firing.
///
/// # Rules
/// - **Names are unique.** Creating a taken name is
///   [`Error::ScheduleExists`]; editing or deleting a missing one is
///   [`Error::ScheduleNotFound`].
/// - **One firing per tick.** [`ScheduleStore::fire_schedules`] applies a
///   firing only while the schedule's `next_run_at` and `revision` equal
///   the firing's `expected_next_run_at` and `expected_revision`: of
///   several schedulers that planned the same tick, exactly one moves the
///   schedule on, and a firing planned before an edit (or an enable or
///   disable, which are edits) is refused — the scheduler reads again.
/// - **Each tick's task is queued at most once.** A tick's task has the id
///   [`Schedule::task_id_for`] gives it; a firing never queues an id that
///   is already stored (it counts as queued) and never fails because of
///   one. On SQL stores the tasks and the compare-and-set commit together.
///   On Redis (tasks and schedules live in different slots) the tasks are
///   queued first and the schedule moved after, so a scheduler dying in
///   between leaves the tick due and the next firing of it finds its task
///   already there: the tick is neither lost nor doubled.
/// - **Edits bump the revision.** [`ScheduleStore::update_schedule`] adds
///   one to `revision`; firings leave it alone.
/// - **Proportional cost.** [`ScheduleStore::due_schedules`] and
///   [`ScheduleStore::next_schedule_due`] read an index on `next_run_at`,
///   not every schedule.
#[async_trait]
pub trait ScheduleStore: Send + Sync + 'static {
    /// Stores a new schedule.
    async fn create_schedule(&self, schedule: Schedule) -> Result<(), Error>;

    /// Replaces a schedule's definition, `enabled`, `next_run_at` and
    /// `updated_at`, and adds one to its `revision`; the run bookkeeping
    /// (last run, run count, last task) is kept as stored, so an edit
    /// racing a firing loses neither.
    async fn update_schedule(&self, schedule: &Schedule) -> Result<(), Error>;

    /// Deletes a schedule; `false` if there was none.
    async fn delete_schedule(&self, name: &str) -> Result<bool, Error>;

    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>, Error>;

    /// Schedules by name.
    async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>, Error>;

    /// Up to `limit` enabled schedules with `next_run_at <= now`, earliest
    /// first.
    async fn due_schedules(&self, now: DateTime<Utc>, limit: usize)
    -> Result<Vec<Schedule>, Error>;

    /// The earliest `next_run_at` of the enabled schedules.
    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, Error>;

    /// Applies each firing whose schedule still has its
    /// `expected_next_run_at` and `expected_revision` (see the rules; the
    /// enabled flag is not checked again: the revision covers it, and a
    /// manual firing may run a disabled schedule). On SQL stores the whole
    /// batch is one transaction (a tick with several due schedules costs
    /// one durable commit). Returns, per firing in order, whether it
    /// applied. An applied firing sets `next_run_at` to the firing's, adds
    /// its task count to `run_count`, stores those of its tasks not stored
    /// yet and, if it has any, sets `last_run_at` to `fired_at` and
    /// `last_task_id` to the last task's id.
    async fn fire_schedules(&self, firings: Vec<ScheduleFiring>) -> Result<Vec<bool>, Error>;

    /// [`ScheduleStore::fire_schedules`] for one firing.
    async fn fire_schedule(&self, firing: ScheduleFiring) -> Result<bool, Error> {
        Ok(self.fire_schedules(vec![firing]).await?.first() == Some(&true))
    }

    /// A signal fired when this process created or edited a schedule, so
    /// a sleeping scheduler looks again.
    fn schedule_signal(&self) -> Option<Arc<Notify>> {
        None
    }
}
