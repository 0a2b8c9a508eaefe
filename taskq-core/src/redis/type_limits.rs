//! Task type and key limits on Redis: one hash of the limits
//! (`Keys::type_limits`: field `l:<type>` the limit, `k:<type>` the key
//! limit, `#v` its version) outside every queue's slot, and a copy of it
//! in each queue's slot (`KEYS[12]`), which the claim script reads and
//! counts against: the type's tasks (per key, for a key limit) in the
//! queue's running set. A script reaches one slot on Redis Cluster, and a
//! queue is one slot, so a type limit caps each queue's running tasks of
//! the type (the same on a single Redis, so both behave alike);
//! [`Store::type_limits`] sums the running counts over every queue.
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
//! [`Store::type_limits`]: crate::backend::Store::type_limits

use std::collections::HashMap;
use std::sync::LazyLock;

use fred::prelude::*;
use fred::types::scripts::Script;

use super::RedisBackend;
use super::scripts;
use crate::backend::TypeLimitStats;
use crate::error::Error;

/// A type's stored limits: (limit, key limit).
pub(super) type Limits = (Option<u32>, Option<u32>);

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
            let limit: u32 = value.parse().map_err(|_| bad())?;
            if let Some(task_type) = field.strip_prefix("l:") {
                limits.entry(task_type.to_owned()).or_default().0 = Some(limit);
            } else if let Some(task_type) = field.strip_prefix("k:") {
                limits.entry(task_type.to_owned()).or_default().1 = Some(limit);
            } else {
                return Err(bad());
            }
        }
        Ok(limits)
    }

    /// Stores (`Some`) or deletes (`None`) one limit of a type: `kind` is
    /// `l` (the limit) or `k` (the key limit). Then syncs every queue's
    /// copy (module docs) and wakes the workers of every queue, where a
    /// raised or cleared limit may free slots.
    pub(super) async fn store_type_limit(
        &self,
        kind: &str,
        task_type: &str,
        limit: Option<u32>,
    ) -> Result<(), Error> {
        let client = self.pool.next();
        let field = format!("{kind}:{task_type}");
        let value = limit.map_or_else(String::new, |l| l.to_string());
        let stored: Vec<String> = TYPE_LIMIT_SET
            .evalsha_with_reload(client, vec![self.keys.type_limits()], vec![field, value])
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
    /// (one script per queue), by name.
    pub(super) async fn read_type_limits(&self) -> Result<Vec<TypeLimitStats>, Error> {
        let limits = self.type_limit_map().await?;
        let mut rows: Vec<TypeLimitStats> = limits
            .into_iter()
            .map(|(task_type, (limit, key_limit))| TypeLimitStats {
                task_type,
                limit,
                key_limit,
                ..TypeLimitStats::default()
            })
            .collect();
        rows.sort_by(|a, b| a.task_type.cmp(&b.task_type));
        if rows.is_empty() {
            return Ok(rows);
        }
        let keyed: Vec<String> = rows
            .iter()
            .filter(|row| row.key_limit.is_some())
            .map(|row| row.task_type.clone())
            .collect();
        let mut keys: HashMap<String, Vec<(String, u64)>> = HashMap::new();
        let unexpected = || Error::backend("running types: unexpected reply");
        for queue in self.queue_names().await? {
            let reply = self
                .run(&scripts::RUNNING_TYPES, &queue, keyed.clone())
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
        for row in &mut rows {
            if let Some(counts) = keys.remove(&row.task_type) {
                row.set_key_counts(counts);
            }
        }
        Ok(rows)
    }
}
