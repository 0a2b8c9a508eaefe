//! The reference's task type limits: the type and key concurrency limits
//! and the type and key rate limits with their buckets, met by a claim
//! through [`lifecycle::TypeCaps`] as every backend meets them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::lifecycle;
use crate::rate_limit::RateLimit;
use crate::task::{TaskRecord, TaskState};

/// The stored limits of the task types, and the buckets' times.
#[derive(Debug, Clone, Default)]
pub struct TypeLimits {
    /// `Broker::set_type_limit`.
    pub limits: BTreeMap<String, u32>,
    /// `Broker::set_key_limit`.
    pub key_limits: BTreeMap<String, u32>,
    /// `Broker::set_type_rate_limit`.
    pub rates: BTreeMap<String, RateLimit>,
    /// `Broker::set_key_rate_limit`.
    pub key_rates: BTreeMap<String, RateLimit>,
    /// Each type's bucket time. Like the counts, one over every queue.
    tats: BTreeMap<String, DateTime<Utc>>,
    /// Each key's bucket time, by (type, key). One whose time is past is
    /// a full bucket, the same as none (a backend may forget it).
    key_tats: BTreeMap<(String, String), DateTime<Utc>>,
}

impl TypeLimits {
    /// `Broker::set_type_limit`.
    pub fn set_limit(&mut self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_type_limit(limit)?;
        set(&mut self.limits, task_type, limit);
        Ok(())
    }

    /// `Broker::set_key_limit`.
    pub fn set_key_limit(&mut self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_type_limit(limit)?;
        set(&mut self.key_limits, task_type, limit);
        Ok(())
    }

    /// `Broker::set_type_rate_limit`: a change keeps what the bucket
    /// spent, a clear forgets it.
    pub fn set_rate(&mut self, task_type: &str, limit: Option<RateLimit>) -> Result<(), Error> {
        lifecycle::check_type_rate_limit(limit.as_ref())?;
        if limit.is_none() {
            self.tats.remove(task_type);
        }
        set(&mut self.rates, task_type, limit);
        Ok(())
    }

    /// `Broker::set_key_rate_limit`: as the type's.
    pub fn set_key_rate(&mut self, task_type: &str, limit: Option<RateLimit>) -> Result<(), Error> {
        lifecycle::check_type_rate_limit(limit.as_ref())?;
        if limit.is_none() {
            self.key_tats.retain(|(t, _), _| t != task_type);
        }
        set(&mut self.key_rates, task_type, limit);
        Ok(())
    }

    /// The [`lifecycle::TypeCaps`] a claim at `now` meets, over `tasks`:
    /// each limited type's running tasks in every queue (per key for a
    /// key limit), and the buckets as stored.
    pub fn caps(&self, tasks: &[TaskRecord], now: DateTime<Utc>) -> lifecycle::TypeCaps {
        let mut caps = lifecycle::TypeCaps::default();
        for (task_type, limit) in &self.rates {
            caps.type_rate(task_type, *limit, self.tats.get(task_type).copied(), now);
        }
        for (task_type, limit) in &self.key_rates {
            caps.key_rate(task_type, *limit, now);
        }
        for ((task_type, key), tat) in &self.key_tats {
            caps.key_tat(task_type, key, *tat);
        }
        for (task_type, &limit) in &self.key_limits {
            caps.key_limit(task_type, limit);
        }
        let mut running: BTreeMap<&str, u64> = BTreeMap::new();
        for record in tasks.iter().filter(|r| r.state == TaskState::Running) {
            *running.entry(&record.task_type).or_default() += 1;
            if let Some(key) = lifecycle::counted_key(&caps, record) {
                caps.key_running(&record.task_type, key, 1);
            }
        }
        for (task_type, &limit) in &self.limits {
            let running = running.get(task_type.as_str()).copied().unwrap_or(0);
            caps.limit(task_type, limit, running);
        }
        caps
    }

    /// Stores what a claim spent from the buckets.
    pub fn spend(&mut self, caps: &lifecycle::TypeCaps) {
        for (task_type, tat) in caps.spent_type_rates() {
            self.tats.insert(task_type.to_owned(), tat);
        }
        for (task_type, key, tat) in caps.spent_key_rates() {
            self.key_tats
                .insert((task_type.to_owned(), key.to_owned()), tat);
        }
    }
}

fn set<T>(map: &mut BTreeMap<String, T>, task_type: &str, value: Option<T>) {
    match value {
        Some(value) => map.insert(task_type.to_owned(), value),
        None => map.remove(task_type),
    };
}
