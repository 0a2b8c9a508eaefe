//! Task type limits: at most `limit` tasks of a type run at once, across
//! every worker and host, and at most `key_limit` of them per concurrency
//! key ([`TypeCaps`]).
//!
//! A task's concurrency key ([`TaskRecord::concurrency_key`]) is given at
//! submission or read from the params field its type names
//! ([`concurrency_key`]); a key limit counts the type's `RUNNING` tasks
//! with that key, any number of keys, each on its own.
//!
//! Like the queue limit, the running count is never stored on its own: a
//! backend counts the type's tasks in `RUNNING` inside the claim (the
//! memory backend's lock, locked type rows in SQL), so a task rescued,
//! settled or released gives its slot back in the write that moves it out
//! of `RUNNING`, and nothing can leak. Redis, whose claim script reaches
//! one queue's slot, keeps a permit per running task in the type's own
//! slot instead, scored by the task's lease so none outlives it for long
//! (`redis/permits.rs`); the admission rule is this one.
//!
//! A claim walks its queue in claim order and admits each candidate
//! through [`TypeCaps::admit`]: a task whose type is full keeps its place
//! (like a task of a type the worker does not run) and the walk goes on,
//! so a full type never blocks another type's tasks behind it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::type_rate::{RateBucket, earliest};
use crate::error::Error;
use crate::rate_limit::RateLimit;
use crate::task::TaskRecord;

/// The longest concurrency key, in bytes.
pub const MAX_CONCURRENCY_KEY: usize = 255;

/// The check of a key given at submission: 1 to [`MAX_CONCURRENCY_KEY`]
/// bytes, else [`Error::InvalidLabel`] (`concurrency_key`) and nothing is
/// stored.
pub fn check_concurrency_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_CONCURRENCY_KEY {
        return Err(Error::InvalidLabel {
            field: "concurrency_key",
            message: format!(
                "is {} bytes; a concurrency key has 1 to {MAX_CONCURRENCY_KEY}",
                key.len()
            ),
        });
    }
    Ok(())
}

/// The concurrency key of a task of type `task_type` whose type reads it
/// from the top-level params field `field`: a string field is the key
/// itself, a number or a boolean its JSON text. Params without the field,
/// or with `null`, an array or an object in it, are
/// [`Error::InvalidParams`] naming the field; a key out of bounds is
/// [`check_concurrency_key`]'s error.
///
/// ```
/// use serde_json::json;
/// use taskq_core::lifecycle::concurrency_key;
/// assert_eq!(concurrency_key("t", "tenant", &json!({"tenant": "acme"})).unwrap(), "acme");
/// assert_eq!(concurrency_key("t", "tenant", &json!({"tenant": 7})).unwrap(), "7");
/// assert!(concurrency_key("t", "tenant", &json!({"other": 1})).is_err());
/// ```
pub fn concurrency_key(task_type: &str, field: &str, params: &Value) -> Result<String, Error> {
    let invalid = |message: String| Error::InvalidParams {
        task_type: task_type.to_owned(),
        path: field.to_owned(),
        message,
    };
    let key = match params.get(field) {
        Some(Value::String(text)) => text.clone(),
        Some(value @ (Value::Number(_) | Value::Bool(_))) => value.to_string(),
        Some(_) => {
            return Err(invalid(format!(
                "the concurrency key field `{field}` must be a string, number or boolean"
            )));
        }
        None => {
            return Err(invalid(format!(
                "the params have no field `{field}`, which the task type's concurrency key is read from"
            )));
        }
    };
    check_concurrency_key(&key)?;
    Ok(key)
}

/// The check of a type limit an operator sets: `Some(0)` is
/// [`Error::InvalidArgument`] and the backend changes nothing; any other
/// value, or `None` (no limit), is accepted.
pub fn check_type_limit(limit: Option<u32>) -> Result<(), Error> {
    if limit == Some(0) {
        return Err(Error::InvalidArgument(
            "a task type limit must be at least 1".into(),
        ));
    }
    Ok(())
}

/// The type and key limits one claim meets, with what each leaves: built
/// from the stored limits and the `RUNNING` counts read in the claim's
/// atomic step, then spent as the claim admits tasks.
///
/// ```
/// use taskq_core::lifecycle::TypeCaps;
/// let mut caps = TypeCaps::default();
/// caps.limit("resize", 2, 1);
/// assert!(caps.admit("resize", None));
/// assert!(!caps.admit("resize", None), "full: one ran, one admitted");
/// assert!(caps.admit("email", None), "not limited");
/// caps.key_limit("report", 1);
/// caps.key_running("report", "acme", 1);
/// assert!(!caps.admit("report", Some("acme")), "acme's one runs");
/// assert!(caps.admit("report", Some("globex")));
/// assert!(!caps.admit("report", Some("globex")));
/// assert!(caps.admit("report", None), "no key: no key limit");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeCaps {
    /// Per limited type: the slots left.
    left: HashMap<String, u64>,
    /// Per key-limited type: its key limit.
    key_limits: HashMap<String, u32>,
    /// Per (type, key): its tasks running or admitted.
    keys: HashMap<(String, String), u64>,
    /// Per type rate-limited type: its bucket
    /// ([`type_rate`](super::type_rate)).
    rates: HashMap<String, RateBucket>,
    /// Per key-rate-limited type: its key rate limit and the claim's now.
    key_rates: HashMap<String, (RateLimit, DateTime<Utc>)>,
    /// Per (type, key) met so far: its bucket (a key not stored is full).
    key_buckets: HashMap<(String, String), RateBucket>,
    /// The earliest time a bucket that held a candidate back frees.
    rate_wake: Option<DateTime<Utc>>,
}

impl TypeCaps {
    /// Adds `task_type`'s limit with `running` of its tasks in `RUNNING`
    /// (a limit lowered below the running count leaves nothing).
    pub fn limit(&mut self, task_type: &str, limit: u32, running: u64) {
        self.left.insert(
            task_type.to_owned(),
            u64::from(limit).saturating_sub(running),
        );
    }

    /// Adds `task_type`'s key limit; the running counts of its keys come
    /// from [`TypeCaps::key_running`] (a key with none has none running).
    pub fn key_limit(&mut self, task_type: &str, limit: u32) {
        self.key_limits.insert(task_type.to_owned(), limit);
    }

    /// Records `running` tasks of `task_type` with `key` in `RUNNING`.
    pub fn key_running(&mut self, task_type: &str, key: &str, running: u64) {
        *self
            .keys
            .entry((task_type.to_owned(), key.to_owned()))
            .or_default() += running;
    }

    /// Adds `task_type`'s rate limit, its bucket stored at `tat` (`None`:
    /// full), met by a claim at `now`.
    pub fn type_rate(
        &mut self,
        task_type: &str,
        limit: RateLimit,
        tat: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        self.rates
            .insert(task_type.to_owned(), RateBucket::new(limit, tat, now));
    }

    /// Adds `task_type`'s key rate limit, met by a claim at `now`; the
    /// stored buckets of its keys come from [`TypeCaps::key_tat`] (a key
    /// without one has a full bucket).
    pub fn key_rate(&mut self, task_type: &str, limit: RateLimit, now: DateTime<Utc>) {
        self.key_rates.insert(task_type.to_owned(), (limit, now));
    }

    /// Records the stored bucket time of `task_type`'s `key` (after
    /// [`TypeCaps::key_rate`]; ignored for a type without a key rate).
    pub fn key_tat(&mut self, task_type: &str, key: &str, tat: DateTime<Utc>) {
        if let Some(&(limit, now)) = self.key_rates.get(task_type) {
            self.key_buckets.insert(
                (task_type.to_owned(), key.to_owned()),
                RateBucket::new(limit, Some(tat), now),
            );
        }
    }

    /// Whether a task of `task_type` with concurrency key `key` may
    /// start, taking its slots and its starts if so. A type without a
    /// limit, and a task without a key or of a type without a key limit
    /// (key rate limit), is not held by that limit.
    pub fn admit(&mut self, task_type: &str, key: Option<&str>) -> bool {
        if self.left.get(task_type) == Some(&0) {
            return false;
        }
        let key_limit = key.and_then(|key| Some((key, *self.key_limits.get(task_type)?)));
        if let Some((key, limit)) = key_limit {
            let running = self
                .keys
                .get(&(task_type.to_owned(), key.to_owned()))
                .copied()
                .unwrap_or(0);
            if running >= u64::from(limit) {
                return false;
            }
        }
        if let Some(bucket) = self.rates.get(task_type)
            && !bucket.allows_one()
        {
            self.rate_wake = earliest(self.rate_wake, bucket.next_start());
            return false;
        }
        let key_rate = key.and_then(|key| Some((key, *self.key_rates.get(task_type)?)));
        if let Some((key, (limit, now))) = key_rate {
            let bucket = self
                .key_buckets
                .entry((task_type.to_owned(), key.to_owned()))
                .or_insert_with(|| RateBucket::new(limit, None, now));
            if !bucket.allows_one() {
                self.rate_wake = earliest(self.rate_wake, bucket.next_start());
                return false;
            }
            bucket.take();
        }
        if let Some(bucket) = self.rates.get_mut(task_type) {
            bucket.take();
        }
        if let Some((key, _)) = key_limit {
            *self
                .keys
                .entry((task_type.to_owned(), key.to_owned()))
                .or_default() += 1;
        }
        if let Some(left) = self.left.get_mut(task_type) {
            *left -= 1;
        }
        true
    }

    /// The type buckets this claim spent from, with the time to store
    /// ([`RateBucket::spent`]).
    pub fn spent_type_rates(&self) -> Vec<(&str, DateTime<Utc>)> {
        self.rates
            .iter()
            .filter_map(|(task_type, bucket)| Some((task_type.as_str(), bucket.spent()?)))
            .collect()
    }

    /// The key buckets this claim spent from, with the time to store.
    pub fn spent_key_rates(&self) -> Vec<(&str, &str, DateTime<Utc>)> {
        self.key_buckets
            .iter()
            .filter_map(|((task_type, key), bucket)| {
                Some((task_type.as_str(), key.as_str(), bucket.spent()?))
            })
            .collect()
    }

    /// When the earliest rate bucket that held a candidate of this claim
    /// back allows a start: the time to claim again instead of polling
    /// ([`Broker::claim_wake`](crate::backend::Broker::claim_wake)).
    /// A type or key whose bucket is spent counts even when no candidate
    /// met it: a claim that found every type it takes full walks nothing,
    /// and one that leaves the spent keys out of its reads
    /// ([`TypeCaps::full_keys`]) meets none of their tasks.
    pub fn rate_wake(&self) -> Option<DateTime<Utc>> {
        self.rates
            .values()
            .chain(self.key_buckets.values())
            .filter(|bucket| !bucket.allows_one())
            .filter_map(RateBucket::next_start)
            .fold(self.rate_wake, |wake, next| earliest(wake, Some(next)))
    }

    /// Whether no limit applies (the claim needs no walk).
    pub fn is_empty(&self) -> bool {
        self.left.is_empty()
            && self.key_limits.is_empty()
            && self.rates.is_empty()
            && self.key_rates.is_empty()
    }

    /// Whether a task of `task_type` can no longer be admitted whatever
    /// its key: its type limit is spent, or its rate limit's bucket.
    pub fn is_full(&self, task_type: &str) -> bool {
        self.left.get(task_type) == Some(&0)
            || self
                .rates
                .get(task_type)
                .is_some_and(|bucket| !bucket.allows_one())
    }

    /// The (type, key) pairs at their type's key limit, or whose key
    /// rate bucket is spent: what a claim may leave out of its reads at
    /// once.
    pub fn full_keys(&self) -> Vec<(&str, &str)> {
        let at_limit = self
            .keys
            .iter()
            .filter(|((task_type, _), running)| {
                self.key_limits
                    .get(task_type)
                    .is_some_and(|limit| **running >= u64::from(*limit))
            })
            .map(|((task_type, key), _)| (task_type.as_str(), key.as_str()));
        let held = self
            .key_buckets
            .iter()
            .filter(|(_, bucket)| !bucket.allows_one())
            .map(|((task_type, key), _)| (task_type.as_str(), key.as_str()));
        let mut full: Vec<(&str, &str)> = at_limit.chain(held).collect();
        full.sort_unstable();
        full.dedup();
        full
    }

    /// Whether every type this claim may take is limited and full:
    /// nothing can be admitted, so the claim need not walk the queue.
    /// `task_types` is the claim's filter (`None`: any type, never all
    /// full).
    pub fn all_full(&self, task_types: Option<&[&str]>) -> bool {
        task_types.is_some_and(|types| types.iter().all(|t| self.is_full(t)))
    }
}

/// The key a type limit counts a record under, if its type has a key
/// limit in `caps` (what a backend counts running records with).
pub fn counted_key<'a>(caps: &TypeCaps, record: &'a TaskRecord) -> Option<&'a str> {
    record
        .concurrency_key
        .as_deref()
        .filter(|_| caps.key_limits.contains_key(&record.task_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_type_caps_admit_what_is_left() {
        let mut caps = TypeCaps::default();
        assert!(caps.is_empty());
        caps.limit("a", 2, 0);
        caps.limit("b", 1, 3);
        assert!(!caps.is_empty());
        assert!(caps.admit("a", None));
        assert!(caps.admit("a", Some("k")));
        assert!(!caps.admit("a", None));
        assert!(!caps.admit("b", None), "lowered below the running count");
        assert!(caps.admit("c", None));
        assert!(caps.all_full(Some(&["a", "b"])));
        assert!(!caps.all_full(Some(&["a", "c"])));
        assert!(!caps.all_full(None));
    }

    #[test]
    fn limit_key_caps_each_key_and_the_type_together() {
        let mut caps = TypeCaps::default();
        caps.limit("t", 3, 0);
        caps.key_limit("t", 2);
        caps.key_running("t", "a", 1);
        assert!(!caps.is_empty());
        assert!(caps.admit("t", Some("a")));
        assert!(!caps.admit("t", Some("a")), "a: one ran, one admitted");
        assert!(caps.admit("t", Some("b")));
        assert!(caps.admit("t", Some("c")));
        assert!(!caps.admit("t", Some("d")), "the type's limit");
        let mut keys_only = TypeCaps::default();
        keys_only.key_limit("t", 1);
        assert!(!keys_only.is_full("t"));
        for i in 0..1000 {
            assert!(keys_only.admit("t", Some(&i.to_string())));
        }
        assert!(!keys_only.admit("t", Some("7")));
        assert_eq!(keys_only.full_keys().len(), 1000);
        assert_eq!(caps.full_keys().len(), 1, "a is full, b and c are not");
    }

    #[test]
    fn limit_key_from_params_and_bad_input() {
        use serde_json::json;
        let params = json!({"tenant": "acme", "n": 3, "b": true, "o": {}, "z": null});
        assert_eq!(concurrency_key("t", "tenant", &params).unwrap(), "acme");
        assert_eq!(concurrency_key("t", "n", &params).unwrap(), "3");
        assert_eq!(concurrency_key("t", "b", &params).unwrap(), "true");
        for field in ["o", "z", "missing"] {
            assert!(matches!(
                concurrency_key("t", field, &params),
                Err(Error::InvalidParams { path, .. }) if path == field
            ));
        }
        assert!(concurrency_key("t", "tenant", &json!({"tenant": ""})).is_err());
        assert!(check_concurrency_key(&"k".repeat(256)).is_err());
        assert!(check_concurrency_key(&"k".repeat(255)).is_ok());
    }

    #[test]
    fn limit_type_of_zero_is_refused() {
        assert!(matches!(
            check_type_limit(Some(0)),
            Err(Error::InvalidArgument(_))
        ));
        assert!(check_type_limit(Some(1)).is_ok());
        assert!(check_type_limit(None).is_ok());
    }
}
