//! [`ScheduleStore`] in Redis: one hash per schedule, a due sorted set
//! (scored by next run, µs; enabled schedules with a next run only) and a
//! name index, all under the hash tag `{<prefix>:schedules}` so the scripts
//! below stay atomic on Redis Cluster.
//!
//! A firing is a compare-and-set script on the schedule's `next` field
//! (and `enabled`), then the enqueue of its tasks. The two cannot share one
//! script (tasks live in their queue's slot), so a process that dies
//! between them loses that tick — it never fires it twice.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use fred::prelude::*;
use fred::types::scripts::Script;
use tokio::sync::Notify;

use super::RedisBackend;
use crate::backend::{Broker, Page, PageRequest, ScheduleStore};
use crate::error::Error;
use crate::schedule::{Schedule, ScheduleDef, ScheduleFiring};

/// KEYS: hash, due, names. ARGV: name, def, created, updated, next, enabled,
/// score, mode (`create` or `update`). Returns 0 when the name is taken
/// (create) or missing (update).
static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[8] == 'create' and exists then return 0 end
if ARGV[8] == 'update' and not exists then return 0 end
redis.call('HSET', KEYS[1], 'def', ARGV[2], 'updated_at', ARGV[4], 'next', ARGV[5], 'enabled', ARGV[6])
if ARGV[8] == 'create' then
  redis.call('HSET', KEYS[1], 'created_at', ARGV[3], 'last_run', '', 'run_count', '0', 'last_task', '')
  redis.call('ZADD', KEYS[3], 0, ARGV[1])
end
if ARGV[6] == '1' and ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
"#,
    )
});

/// KEYS: hash, due, names. ARGV: name.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"#,
    )
});

/// KEYS: hash, due. ARGV: name, expected next, new next, new score, task
/// count, fired at, last task id. Returns 1 if applied.
static FIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('HGET', KEYS[1], 'enabled') ~= '1' then return 0 end
if redis.call('HGET', KEYS[1], 'next') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'next', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'run_count', ARGV[5])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'last_run', ARGV[6], 'last_task', ARGV[7])
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
return 1
"#,
    )
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
        self.schedule_signal.notify_waiters();
        Ok(())
    }

    async fn update_schedule(&self, schedule: &Schedule) -> Result<(), Error> {
        if !self.write_schedule(schedule, "update").await? {
            return Err(Error::ScheduleNotFound(schedule.def.name.clone()));
        }
        self.schedule_signal.notify_waiters();
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
            let keys = vec![self.schedule_key(&firing.name), self.schedule_due()];
            let args = vec![
                firing.name.clone(),
                time_text(Some(firing.expected_next_run_at)),
                time_text(firing.next_run_at),
                score(firing.next_run_at),
                firing.tasks.len().to_string(),
                time_text(Some(firing.fired_at)),
                firing
                    .tasks
                    .last()
                    .map(|t| t.id.to_string())
                    .unwrap_or_default(),
            ];
            let claimed: i64 = FIRE
                .evalsha_with_reload(self.pool.next(), keys, args)
                .await
                .map_err(Error::backend)?;
            applied.push(claimed == 1);
            if claimed == 1 && !firing.tasks.is_empty() {
                self.enqueue(firing.tasks).await?;
            }
        }
        Ok(applied)
    }

    fn schedule_signal(&self) -> Option<Arc<Notify>> {
        Some(self.schedule_signal.clone())
    }
}
