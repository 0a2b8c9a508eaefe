//! Task type and key limits on Redis: one hash of the limits
//! (`Keys::type_limits`: field `l:<type>` the limit, `k:<type>` the key
//! limit) outside every queue's slot, read before each claim and passed
//! to the claim script, which counts the type's tasks (per key, for a key
//! limit) in the queue's running set. A script reaches one slot on Redis Cluster, and a queue is one
//! slot, so a type limit caps each queue's running tasks of the type (the
//! same on a single Redis, so both behave alike); [`Store::type_limits`]
//! sums the running counts over every queue.
//!
//! [`Store::type_limits`]: crate::backend::Store::type_limits

use std::collections::HashMap;

use fred::prelude::*;

use super::RedisBackend;
use super::scripts;
use crate::backend::TypeLimitStats;
use crate::error::Error;

/// A type's stored limits: (limit, key limit).
pub(super) type Limits = (Option<u32>, Option<u32>);

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
    /// `l` (the limit) or `k` (the key limit). Then wakes the workers of
    /// every queue, where a raised or cleared limit may free slots.
    pub(super) async fn store_type_limit(
        &self,
        kind: &str,
        task_type: &str,
        limit: Option<u32>,
    ) -> Result<(), Error> {
        let client = self.pool.next();
        let field = format!("{kind}:{task_type}");
        let _: () = match limit {
            Some(limit) => client
                .hset(self.keys.type_limits(), (field, limit.to_string()))
                .await
                .map_err(Error::backend)?,
            None => client
                .hdel(self.keys.type_limits(), field)
                .await
                .map_err(Error::backend)?,
        };
        for queue in self.queue_names().await? {
            let _: () = client
                .publish(self.keys.work_channel(), queue)
                .await
                .map_err(Error::backend)?;
        }
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
                running: 0,
            })
            .collect();
        rows.sort_by(|a, b| a.task_type.cmp(&b.task_type));
        if rows.is_empty() {
            return Ok(rows);
        }
        for queue in self.queue_names().await? {
            let reply = self
                .run(&scripts::RUNNING_TYPES, &queue, Vec::new())
                .await?;
            let Value::Array(items) = reply else {
                return Err(Error::backend("running types: not an array"));
            };
            for pair in items.chunks(2) {
                let [task_type, count] = pair else {
                    return Err(Error::backend("running types: odd reply"));
                };
                let (Some(task_type), Some(count)) = (task_type.as_string(), count.as_i64()) else {
                    return Err(Error::backend("running types: unexpected reply"));
                };
                if let Some(row) = rows.iter_mut().find(|r| r.task_type == task_type) {
                    row.running += u64::try_from(count).unwrap_or(0);
                }
            }
        }
        Ok(rows)
    }
}
