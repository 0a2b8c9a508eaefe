//! Task type and key limits on Redis: one hash of the limits
//! (`Keys::type_limits`: field `l:<type>` the limit, `k:<type>` the key
//! limit, `r:<type>` the rate limit and `s:<type>` the key rate limit as
//! `starts:period_us`, `#v` its version) outside every queue's slot, and a
//! copy of it in each queue's slot (`KEYS[12]`), which the claim script
//! reads to learn which types it must not claim alone: it lists their
//! tasks as candidates, and the type's own slot counts them over every
//! queue (`permits.rs`). [`Store::type_limits`] sums the running counts
//! over every queue and reads the rate buckets in each type's slot.
//!
//! Why a claim never misses a limit set before it (on any host): the
//! setter changes the global hash and raises its version in one script
//! (`TYPE_LIMIT_SET`), then reads the set of queue names and syncs each
//! queue's copy before it returns. A queue whose copy is missing claims
//! nothing (the claim script answers `-1`); its claimer adds the queue to
//! the set of names, then reads the global hash and syncs the copy
//! ([`RedisBackend::sync_type_limits`]), then claims again. If the
//! claimer's add came before the setter read the names, the setter syncs
//! that queue; otherwise the claimer read the global hash after the
//! setter wrote it. Either way the copy ends at the setter's version or a
//! later one: a sync replaces a copy only with a later version
//! (`TYPE_LIMIT_SYNC`), so syncs racing in any order leave the latest. No
//! queue name ever leaves the set, and no cache in the process is read.
//!
//! The rate limits' buckets live in each type's slot, beside its permits
//! (`permits.rs`): one bucket per type (per key) over every queue.
//!
//! [`Store::type_limits`]: crate::backend::Store::type_limits

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};

use fred::prelude::*;
use fred::types::scripts::Script;

use super::RedisBackend;
use super::scripts;
use crate::backend::TypeLimitStats;
use crate::error::Error;
use crate::lifecycle;
use crate::rate_limit::RateLimit;

/// A type's stored limits.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Limits {
    pub limit: Option<u32>,
    pub key_limit: Option<u32>,
    pub rate: Option<RateLimit>,
    pub key_rate: Option<RateLimit>,
}

/// A rate limit as the copy stores it: `starts:period_us`.
pub(super) fn rate_value(limit: &RateLimit) -> String {
    format!("{}:{}", limit.starts, limit.period_micros())
}

/// A stored `starts:period_us`, if it is one.
fn parse_rate(value: &str) -> Option<RateLimit> {
    let (starts, period) = value.split_once(':')?;
    Some(RateLimit::new(
        starts.parse().ok()?,
        Duration::from_micros(period.parse().ok()?),
    ))
}

/// The version field of the global hash and of each queue's copy.
const VERSION: &str = "#v";

/// KEYS: the global hash. ARGV: field, value (`''`: delete the field).
/// Writes the field and raises the version; returns the whole hash.
static TYPE_LIMIT_SET: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("scripts/type_limit_set.lua")));

/// The global hash as the version and the arguments of a sync
/// (`scripts::TYPE_LIMIT_SYNC`): the version first, then the other
/// fields and values (a hash from before versions counts as version 0).
fn sync_args(stored: HashMap<String, String>) -> Vec<String> {
    let mut args = vec![String::from("0")];
    for (field, value) in stored {
        if field == VERSION {
            args[0] = value;
        } else {
            args.push(field);
            args.push(value);
        }
    }
    args
}

impl RedisBackend {
    /// The stored type and key limits, by type (a stored value that is
    /// not a limit is an error: nothing but the setters write them).
    pub(super) async fn type_limit_map(&self) -> Result<HashMap<String, Limits>, Error> {
        let stored: HashMap<String, String> = self
            .pool
            .next()
            .hgetall(self.keys.type_limits())
            .await
            .map_err(Error::backend)?;
        let mut limits: HashMap<String, Limits> = HashMap::new();
        for (field, value) in stored {
            if field == VERSION {
                continue;
            }
            let bad = || Error::backend(format!("type limit {field}: stored {value} is invalid"));
            let (kind, task_type) = field.split_at_checked(2).ok_or_else(bad)?;
            let entry = limits.entry(task_type.to_owned()).or_default();
            match kind {
                "l:" => entry.limit = Some(value.parse().map_err(|_| bad())?),
                "k:" => entry.key_limit = Some(value.parse().map_err(|_| bad())?),
                "r:" => entry.rate = Some(parse_rate(&value).ok_or_else(bad)?),
                "s:" => entry.key_rate = Some(parse_rate(&value).ok_or_else(bad)?),
                _ => return Err(bad()),
            }
        }
        Ok(limits)
    }

    /// Stores (`Some`) or deletes (`None`) one limit of a type: `kind` is
    /// `l` (the limit), `k` (the key limit), `r` (the rate limit) or `s`
    /// (the key rate limit), `value` as the copy stores it. Then syncs
    /// every queue's copy (module docs) and wakes the workers of every
    /// queue, where a raised or cleared limit may free slots.
    pub(super) async fn store_type_limit(
        &self,
        kind: &str,
        task_type: &str,
        value: Option<String>,
    ) -> Result<(), Error> {
        let client = self.pool.next();
        let field = format!("{kind}:{task_type}");
        let value = value.unwrap_or_default();
        let stored: Vec<String> = TYPE_LIMIT_SET
            .evalsha_with_reload(
                client,
                vec![self.keys.type_limits()],
                vec![field, value.clone()],
            )
            .await
            .map_err(Error::backend)?;
        let mut pairs = stored.into_iter();
        let mut stored = HashMap::new();
        while let (Some(field), Some(value)) = (pairs.next(), pairs.next()) {
            stored.insert(field, value);
        }
        let args = sync_args(stored);
        // Read after the write above: a queue added later syncs itself.
        for queue in self.queue_names().await? {
            self.run(&scripts::TYPE_LIMIT_SYNC, &queue, args.clone())
                .await?;
            let _: () = client
                .publish(self.keys.work_channel(), queue)
                .await
                .map_err(Error::backend)?;
        }
        // Every copy names the new limits now: the next grant of the type
        // counts every task running at this moment (`permits.rs`,
        // "Upgrades and new limits"); a cleared rate forgets its buckets.
        match (kind, value.is_empty()) {
            ("l" | "k", _) => self.reseed_permits(task_type).await?,
            ("r", true) => self.forget_rate_buckets(task_type, false).await?,
            ("s", true) => self.forget_rate_buckets(task_type, true).await?,
            _ => {}
        }
        Ok(())
    }

    /// Syncs `queue`'s copy of the type limits from the global hash, for
    /// a claim that found it missing: adds the queue to the set of names
    /// first, so a setter that reads the names after this syncs it too
    /// (module docs).
    pub(super) async fn sync_type_limits(&self, queue: &str) -> Result<(), Error> {
        let client = self.pool.next();
        let _: () = client
            .sadd(self.keys.queues(), queue)
            .await
            .map_err(Error::backend)?;
        let stored: HashMap<String, String> = client
            .hgetall(self.keys.type_limits())
            .await
            .map_err(Error::backend)?;
        self.run(&scripts::TYPE_LIMIT_SYNC, queue, sync_args(stored))
            .await?;
        Ok(())
    }

    /// Every limited type with its running tasks summed over the queues
    /// (one script per queue) and its buckets read in its slot, by name.
    pub(super) async fn read_type_limits(&self) -> Result<Vec<TypeLimitStats>, Error> {
        let limits = self.type_limit_map().await?;
        let mut rows: Vec<TypeLimitStats> = limits
            .into_iter()
            .map(|(task_type, limits)| TypeLimitStats {
                task_type,
                limit: limits.limit,
                key_limit: limits.key_limit,
                rate_limit: limits.rate,
                key_rate_limit: limits.key_rate,
                ..TypeLimitStats::default()
            })
            .collect();
        rows.sort_by(|a, b| a.task_type.cmp(&b.task_type));
        if rows.is_empty() {
            return Ok(rows);
        }
        let now = Utc::now();
        let keyed: Vec<String> = rows
            .iter()
            .filter(|row| row.key_limit.is_some())
            .map(|row| row.task_type.clone())
            .collect();
        let mut args = vec![keyed.len().to_string()];
        args.extend(keyed);
        let mut keys: HashMap<String, Vec<(String, u64)>> = HashMap::new();
        let unexpected = || Error::backend("running types: unexpected reply");
        // What runs is counted in the queues' running sets (the truth the
        // permits follow, `permits.rs`), summed over every queue.
        for queue in self.queue_names().await? {
            let reply = self
                .run(&scripts::RUNNING_TYPES, &queue, args.clone())
                .await?;
            let Value::Array(parts) = reply else {
                return Err(Error::backend("running types: not an array"));
            };
            let mut parts = parts.into_iter();
            // An empty table may come back as an empty array or nil.
            let mut part = || match parts.next() {
                Some(Value::Array(items)) => Ok(items),
                Some(Value::Null) | None => Ok(Vec::new()),
                Some(_) => Err(unexpected()),
            };
            let (types, per_key) = (part()?, part()?);
            for pair in types.chunks(2) {
                let [task_type, count] = pair else {
                    return Err(Error::backend("running types: odd reply"));
                };
                let (Some(task_type), Some(count)) = (task_type.as_string(), count.as_i64()) else {
                    return Err(unexpected());
                };
                if let Some(row) = rows.iter_mut().find(|r| r.task_type == task_type) {
                    row.running += u64::try_from(count).unwrap_or(0);
                }
            }
            for triple in per_key.chunks(3) {
                let [task_type, key, count] = triple else {
                    return Err(Error::backend("running types: odd reply"));
                };
                let (Some(task_type), Some(key), Some(count)) =
                    (task_type.as_string(), key.as_string(), count.as_i64())
                else {
                    return Err(unexpected());
                };
                keys.entry(task_type)
                    .or_default()
                    .push((key, u64::try_from(count).unwrap_or(0)));
            }
        }
        // The rate buckets: one per type (per key) in the type's slot.
        for row in &mut rows {
            if row.rate_limit.is_none() && row.key_rate_limit.is_none() {
                continue;
            }
            // A key's bucket holds while its next start is ahead:
            // time − period + cost(1) > now.
            let above = row.key_rate_limit.map(|limit| {
                now.timestamp_micros() + limit.period_micros() - lifecycle::rate_cost(&limit, 1)
            });
            let (tat, held) = self.rate_buckets(&row.task_type, above).await?;
            if let Some(limit) = row.rate_limit {
                let tat = tat.and_then(DateTime::from_timestamp_micros);
                row.rate_held_until = lifecycle::RateBucket::new(limit, tat, now).next_start();
            }
            row.held_keys = held;
        }
        for row in &mut rows {
            if let Some(counts) = keys.remove(&row.task_type) {
                row.set_key_counts(counts);
            }
        }
        Ok(rows)
    }
}
