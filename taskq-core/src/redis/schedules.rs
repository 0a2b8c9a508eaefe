//! [`ScheduleStore`] in Redis: one hash per schedule, a due sorted set
//! (scored by next run, µs; enabled schedules with a next run only) and a
//! name index, all under the hash tag `{<prefix>:schedules}` so the scripts
//! below stay atomic on Redis Cluster.
//!
//! A firing cannot be one script (tasks live in their queue's slot), so it
//! is three steps: a check that the schedule still has the `next` and
//! `revision` the firing was planned from (so a stale plan queues
//! nothing), the enqueue of the tasks not stored yet (their ids are their
//! ticks', [`crate::Schedule::task_id_for`]), then the compare-and-set of
//! `next`, `revision` and the bookkeeping. A process that dies after the
//! enqueue leaves the tick due; whichever scheduler fires it next finds its
//! task stored and only moves the schedule on — the tick is neither lost
//! nor queued twice. An edit landing between the check and the enqueue can
//! still let that one tick run with the definition read before it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use fred::prelude::*;
use fred::types::scripts::Script;
use tokio::sync::Notify;

use super::RedisBackend;
use super::enqueue::EnqueueMode;
use crate::backend::{Page, PageRequest, ScheduleStore};
use crate::error::Error;
use crate::schedule::{Schedule, ScheduleDef, ScheduleFiring};

/// KEYS: hash, due, names. ARGV: name, def, created, updated, next, enabled,
/// score, mode (`create` or `update`). Returns 0 when the name is taken
/// (create) or missing (update).
static WRITE: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("scripts/schedule_write.lua")));

/// KEYS: hash, due, names. ARGV: name.
static DELETE: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("scripts/schedule_delete.lua")));

/// Whether the schedule (KEYS[1]) still has the expected next run
/// (ARGV[2], `''` for none) and revision (ARGV[3]).
const CURRENT: &str = include_str!("scripts/schedule_current.lua");

/// KEYS: hash. ARGV: name, expected next, expected revision. Returns 1 if
/// a firing planned from them would apply.
static CHECK: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        "{CURRENT}\nif current() then return 1 end\nreturn 0"
    ))
});

/// KEYS: hash, due. ARGV: name, expected next, expected revision, new
/// next, new score, task count, fired at, last task id. Returns 1 if
/// applied.
static FIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        "{CURRENT}\n{}",
        include_str!("scripts/schedule_fire.lua")
    ))
});

fn time_text(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

fn score(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.timestamp_micros().to_string())
        .unwrap_or_default()
}

impl RedisBackend {
    fn schedule_tag(&self) -> String {
        format!("{{{}:schedules}}", self.config.prefix)
    }

    fn schedule_key(&self, name: &str) -> String {
        format!("{}:s:{name}", self.schedule_tag())
    }

    fn schedule_due(&self) -> String {
        format!("{}:due", self.schedule_tag())
    }

    fn schedule_names(&self) -> String {
        format!("{}:names", self.schedule_tag())
    }

    async fn write_schedule(&self, schedule: &Schedule, mode: &str) -> Result<bool, Error> {
        let def = serde_json::to_string(&schedule.def).map_err(Error::Serialization)?;
        let name = &schedule.def.name;
        let keys = vec![
            self.schedule_key(name),
            self.schedule_due(),
            self.schedule_names(),
        ];
        let args = vec![
            name.clone(),
            def,
            time_text(Some(schedule.created_at)),
            time_text(Some(schedule.updated_at)),
            time_text(schedule.next_run_at),
            if schedule.def.enabled { "1" } else { "0" }.to_owned(),
            score(schedule.next_run_at),
            mode.to_owned(),
        ];
        let written: i64 = WRITE
            .evalsha_with_reload(self.pool.next(), keys, args)
            .await
            .map_err(Error::backend)?;
        Ok(written == 1)
    }

    /// After a schedule write: wakes this process's schedulers, and
    /// announces it to other processes' (on `<prefix>:schedules-changed`).
    /// A failed announcement is logged, not returned: the write happened,
    /// and schedulers poll anyway.
    ///
    /// Public for stores that keep schedules elsewhere and use this
    /// backend's pub/sub to wake schedulers (`taskq_sea::SeaRedisBackend`).
    pub async fn schedules_changed(&self, name: &str) {
        self.schedule_signal.notify_waiters();
        let published: Result<i64, _> = self
            .pool
            .next()
            .publish(self.keys.schedule_channel(), name)
            .await;
        if let Err(err) = published {
            tracing::warn!(error = %err, "could not announce a schedule write");
        }
    }

    async fn read_schedules(&self, names: &[String]) -> Result<Vec<Schedule>, Error> {
        let mut schedules = Vec::with_capacity(names.len());
        for name in names {
            if let Some(schedule) = self.get_schedule(name).await? {
                schedules.push(schedule);
            }
        }
        Ok(schedules)
    }
}

fn parse_time(
    name: &str,
    field: &str,
    text: Option<&String>,
) -> Result<Option<DateTime<Utc>>, Error> {
    match text.map(String::as_str) {
        None | Some("") => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| Error::backend(format!("schedule `{name}`: stored {field} is invalid"))),
    }
}

fn from_hash(name: &str, hash: HashMap<String, String>) -> Result<Schedule, Error> {
    let corrupt =
        |field: &str| Error::backend(format!("schedule `{name}`: stored {field} is invalid"));
    let def: ScheduleDef = hash
        .get("def")
        .ok_or_else(|| corrupt("def"))
        .and_then(|d| serde_json::from_str(d).map_err(|_| corrupt("def")))?;
    Ok(Schedule {
        def,
        last_run_at: parse_time(name, "last_run", hash.get("last_run"))?,
        next_run_at: parse_time(name, "next", hash.get("next"))?,
        run_count: hash
            .get("run_count")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| corrupt("run_count"))?,
        last_task_id: match hash.get("last_task").map(String::as_str) {
            None | Some("") => None,
            Some(id) => Some(id.parse().map_err(|_| corrupt("last_task"))?),
        },
        // Absent in schedules stored before revisions existed.
        revision: match hash.get("revision") {
            None => 0,
            Some(n) => n.parse().map_err(|_| corrupt("revision"))?,
        },
        created_at: parse_time(name, "created_at", hash.get("created_at"))?
            .ok_or_else(|| corrupt("created_at"))?,
        updated_at: parse_time(name, "updated_at", hash.get("updated_at"))?
            .ok_or_else(|| corrupt("updated_at"))?,
    })
}

#[async_trait]
impl ScheduleStore for RedisBackend {
    async fn create_schedule(&self, schedule: Schedule) -> Result<(), Error> {
        if !self.write_schedule(&schedule, "create").await? {
            return Err(Error::ScheduleExists(schedule.def.name));
        }
        self.schedules_changed(&schedule.def.name).await;
        Ok(())
    }

    async fn update_schedule(&self, schedule: &Schedule) -> Result<(), Error> {
        if !self.write_schedule(schedule, "update").await? {
            return Err(Error::ScheduleNotFound(schedule.def.name.clone()));
        }
        self.schedules_changed(&schedule.def.name).await;
        Ok(())
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool, Error> {
        let keys = vec![
            self.schedule_key(name),
            self.schedule_due(),
            self.schedule_names(),
        ];
        let deleted: i64 = DELETE
            .evalsha_with_reload(self.pool.next(), keys, vec![name.to_owned()])
            .await
            .map_err(Error::backend)?;
        if deleted == 1 {
            self.schedules_changed(name).await;
        }
        Ok(deleted == 1)
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>, Error> {
        let hash: HashMap<String, String> = self
            .pool
            .next()
            .hgetall(self.schedule_key(name))
            .await
            .map_err(Error::backend)?;
        if hash.is_empty() {
            return Ok(None);
        }
        from_hash(name, hash).map(Some)
    }

    async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>, Error> {
        let client = self.pool.next();
        let total: u64 = client
            .zcard(self.schedule_names())
            .await
            .map_err(Error::backend)?;
        let start = i64::try_from(page.offset()).unwrap_or(i64::MAX);
        let stop = start.saturating_add(i64::try_from(page.page_size).unwrap_or(0) - 1);
        let names: Vec<String> = client
            .zrange(self.schedule_names(), start, stop, None, false, None, false)
            .await
            .map_err(Error::backend)?;
        Ok(Page {
            items: self.read_schedules(&names).await?,
            total,
            page: page.page,
            page_size: page.page_size,
        })
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Schedule>, Error> {
        let names: Vec<String> = self
            .pool
            .next()
            .zrangebyscore(
                self.schedule_due(),
                "-inf",
                now.timestamp_micros(),
                false,
                Some((0, i64::try_from(limit).unwrap_or(i64::MAX))),
            )
            .await
            .map_err(Error::backend)?;
        self.read_schedules(&names).await
    }

    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let first: Vec<(String, f64)> = self
            .pool
            .next()
            .zrange(self.schedule_due(), 0, 0, None, false, None, true)
            .await
            .map_err(Error::backend)?;
        Ok(first
            .first()
            .and_then(|(_, micros)| DateTime::from_timestamp_micros(*micros as i64)))
    }

    async fn fire_schedules(&self, firings: Vec<ScheduleFiring>) -> Result<Vec<bool>, Error> {
        let mut applied = Vec::with_capacity(firings.len());
        for firing in firings {
            let expected = vec![
                firing.name.clone(),
                time_text(firing.expected_next_run_at),
                firing.expected_revision.to_string(),
            ];
            if !firing.tasks.is_empty() {
                let current: i64 = CHECK
                    .evalsha_with_reload(
                        self.pool.next(),
                        vec![self.schedule_key(&firing.name)],
                        expected.clone(),
                    )
                    .await
                    .map_err(Error::backend)?;
                if current != 1 {
                    applied.push(false);
                    continue;
                }
            }
            let last_task = firing
                .last_task()
                .map(|t| t.id.to_string())
                .unwrap_or_default();
            let count = firing.runs();
            // Queued before the compare-and-set: see the module's notes.
            self.enqueue_records(firing.tasks, EnqueueMode::Missing)
                .await?;
            let keys = vec![self.schedule_key(&firing.name), self.schedule_due()];
            let mut args = expected;
            args.extend([
                time_text(firing.next_run_at),
                score(firing.next_run_at),
                count.to_string(),
                time_text(Some(firing.fired_at)),
                last_task,
            ]);
            let claimed: i64 = FIRE
                .evalsha_with_reload(self.pool.next(), keys, args)
                .await
                .map_err(Error::backend)?;
            applied.push(claimed == 1);
        }
        Ok(applied)
    }

    fn schedule_signal(&self) -> Option<Arc<Notify>> {
        Some(self.schedule_signal.clone())
    }
}
