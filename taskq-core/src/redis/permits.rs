//! Task type and key limits and rates over every queue, on Redis and
//! Redis Cluster: a lease-based semaphore in each limited type's own
//! slot (`Keys::type_slot`, hash tag `{<prefix>:type:<type>}`).
//!
//! # Why permits
//! A claim script reaches one hash slot, and a queue is one slot, so it
//! cannot count a type's running tasks in other queues. The type's slot
//! holds what a limit counts instead: a *permit* per claimed task of the
//! type — member `<id>:<attempt>` of a sorted set scored by the task's
//! lease deadline, and of one more per concurrency key for a key limit —
//! and the type's and keys' rate buckets (`lifecycle::RateBucket`). A
//! claim of a queue whose copy of the type limits names a limited type
//! goes in three steps (`redis/claim.rs`):
//!
//! 1. the queue's claim script takes the queue's other tasks and lists
//!    the limited types' due tasks as candidates (they keep their place),
//!    with the limits it read from the queue's copy;
//! 2. per type, `PERMIT_GRANT` in the type's slot admits candidates in
//!    order (`lifecycle::TypeCaps::admit`: type limit, key limit, type
//!    rate, key rate against the permits and buckets of *every* queue),
//!    adding a permit for each;
//! 3. the queue's claim script in mode `g` claims the granted candidates
//!    still due at the attempt their permit names; the permits of those
//!    it did not claim (another worker took them meanwhile) are returned.
//!
//! A type limit then holds exactly: every running task of the type holds
//! a permit, taken before its claim in the type's slot, where the count
//! is atomic. The same code path serves a single Redis: one for both,
//! at the cost of two more round trips (three with a type's grant per
//! type met) for claims that meet a limited type; claims of queues that
//! limit none of the types they take are one script, as before.
//!
//! # Nothing leaks
//! A permit is returned when its task settles, snoozes, retries or is
//! released (the claiming process remembers which of its tasks hold one,
//! `Claimed::permit`), or when a heartbeat finds its lease lost. A
//! heartbeat extends the permits of the tasks it renews, before their
//! queue leases: a permit never ends before its task's lease. A SIGKILLed
//! worker's tasks keep their slots until their leases end and the rescue
//! moves them on, as on every backend: the rescue returns the permits
//! whose lease ended (not one a heartbeat renewed meanwhile). As a last
//! resort a permit frees itself [`PERMIT_GRACE_MICROS`] after its lease
//! (the next grant of its type drops it): what a process that died
//! between two steps, or forgot its claim, leaves held. A heartbeat that
//! finds its permit gone reports the task lost and leaves its queue lease
//! to the rescue. A key's permit set expires a second after its last
//! lease.
//!
//! # Upgrades and new limits
//! Tasks claimed without permits — running when a deployment upgrades
//! from per-queue counts, or claimed while their type had no limit — are
//! counted all the same: a grant in a slot without the seeded flag
//! (`Keys::type_slot`) grants nothing, and the claimer first rebuilds the
//! permits from every queue's running set (`RUNNING_PERMITS`, then
//! `PERMIT_SEED`, which adds only those missing and sets the flag). A
//! setter of a type or key limit drops the flag after it synced every
//! queue's copy, so the next grant counts what runs at that moment; no
//! claim after the copies name the limit goes without a permit. Old
//! per-queue rate buckets are dropped by the next sync of the copies
//! (`TYPE_LIMIT_SYNC`); a type's bucket starts full.
//!
//! # Rates
//! A start is spent at its grant (whatever becomes of the candidate: a
//! grant another worker's claim overtook spends a start it did not use,
//! which errs toward fewer starts). Clearing a rate limit forgets its
//! buckets ([`RedisBackend::forget_rate_buckets`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use fred::prelude::*;
use fred::types::scripts::Script;

use super::RedisBackend;
use super::reply::{array, integer};
use super::scripts;
use crate::error::Error;

/// How long after its lease a permit frees itself (µs): the rescue of its
/// task returns it at once, so this bounds only what a process that died
/// mid-step (a rescuer between its two scripts, a claimer between grant
/// and claim) or one that forgot its claim leaves held.
const PERMIT_GRACE_MICROS: i64 = 60_000_000;

/// Shared by the permit scripts: `int`, and the expiry of a key's set.
const PERMIT_HELPERS: &str = include_str!("scripts/permit_helpers.lua");

fn permit_script(body: &str) -> Script {
    let helpers = PERMIT_HELPERS.replace("@GRACE_US@", &PERMIT_GRACE_MICROS.to_string());
    Script::from_lua(format!("{helpers}\n{body}"))
}

/// KEYS: the type's slot (`TypeKeys`). ARGV[1] now (µs), [2] lease until
/// (µs), [3] the time before which an ended lease frees its permit (µs,
/// [`PERMIT_GRACE_MICROS`] before now), [4] the most to grant, [5] the
/// type limit ('' none), [6] the key limit, [7] and [8] the rate limit's
/// starts and period (µs; '' none), [9] and [10] the key rate limit's,
/// then per candidate in claim order its permit
/// (`<id>:<attempt>`) and key ('' none). Returns `-1` (the permits were
/// never seeded, for a type or key limit), else the time the earliest
/// bucket that held a candidate back frees (µs, or nil), then the
/// granted permits. Only a type or key limit adds permits: a type with
/// rate limits alone spends its buckets and holds nothing.
static PERMIT_GRANT: LazyLock<Script> =
    LazyLock::new(|| permit_script(include_str!("scripts/permit_grant.lua")));

/// KEYS: the type's slot. ARGV: per permit, its member, lease (µs) and
/// key (''): adds those missing, then sets the seeded flag.
static PERMIT_SEED: LazyLock<Script> =
    LazyLock::new(|| permit_script(include_str!("scripts/permit_seed.lua")));

/// KEYS: the type's slot. ARGV[1] '' (all) or a time (µs): only those
/// whose lease ended before it; then per permit its member and key ('').
/// Removes them.
static PERMIT_RETURN: LazyLock<Script> =
    LazyLock::new(|| permit_script(include_str!("scripts/permit_return.lua")));

/// KEYS: the type's slot. ARGV[1] lease until (µs), then per permit its
/// member and key (''). Moves each still held to the new lease; returns
/// per permit 1 (held) or 0 (gone: its task is lost).
static PERMIT_EXTEND: LazyLock<Script> =
    LazyLock::new(|| permit_script(include_str!("scripts/permit_extend.lua")));

/// A queue script: ARGV[4] a task type. Returns per running task of the
/// type its permit (`<id>:<attempt>`), lease (µs) and key ('').
static RUNNING_PERMITS: LazyLock<Script> =
    LazyLock::new(|| scripts::script(include_str!("scripts/running_permits.lua")));

/// A permit a claimed task holds: its type, member and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Permit {
    pub task_type: String,
    pub member: String,
    pub key: Option<String>,
}

/// The limits of one type as the queue's copy gave them to a claim:
/// `l:`, `k:`, `r:` and `s:` values, '' for none.
#[derive(Debug, Clone, Default)]
pub(super) struct CopyLimits {
    pub limit: String,
    pub key_limit: String,
    pub rate: String,
    pub key_rate: String,
}

impl CopyLimits {
    /// Whether the type's tasks hold permits (a type or key limit).
    pub fn holds(&self) -> bool {
        !self.limit.is_empty() || !self.key_limit.is_empty()
    }
}

/// A copy's `starts:period` as the grant's two arguments.
fn rate_args(value: &str) -> [String; 2] {
    match value.split_once(':') {
        Some((starts, period)) => [starts.to_owned(), period.to_owned()],
        None => [String::new(), String::new()],
    }
}

/// What a grant answered: the permits it granted and when the earliest
/// bucket that held a candidate back frees (µs).
pub(super) struct Granted {
    pub members: Vec<String>,
    pub wake: Option<i64>,
}

impl RedisBackend {
    async fn run_type(
        &self,
        script: &Script,
        task_type: &str,
        args: Vec<String>,
    ) -> Result<Value, Error> {
        // Replayed after a lost reply, a grant adds the same members again
        // and spends more: it errs toward fewer starts, never more.
        let keys = Vec::from(self.keys.type_slot(task_type).keys);
        script
            .evalsha_with_reload(self.pool.next(), keys, args)
            .await
            .map_err(Error::backend)
    }

    /// `PERMIT_GRANT` for candidates of one type (permit, key), at most
    /// `most` of them, seeding the type's permits first if they never were
    /// (module docs).
    pub(super) async fn grant_permits(
        &self,
        task_type: &str,
        limits: &CopyLimits,
        now: i64,
        lease_until: i64,
        most: usize,
        candidates: &[(String, Option<String>)],
    ) -> Result<Granted, Error> {
        let mut args = vec![
            now.to_string(),
            lease_until.to_string(),
            (now - PERMIT_GRACE_MICROS).to_string(),
            most.to_string(),
            limits.limit.clone(),
            limits.key_limit.clone(),
        ];
        args.extend(rate_args(&limits.rate));
        args.extend(rate_args(&limits.key_rate));
        for (member, key) in candidates {
            args.push(member.clone());
            args.push(key.clone().unwrap_or_default());
        }
        let mut reply = self
            .run_type(&PERMIT_GRANT, task_type, args.clone())
            .await?;
        if reply.as_i64() == Some(-1) {
            self.seed_permits(task_type).await?;
            reply = self.run_type(&PERMIT_GRANT, task_type, args).await?;
        }
        let mut items = array("permit grant", reply)?.into_iter();
        let wake = items.next().and_then(|v| v.as_i64());
        let members = items
            .map(|v| {
                v.into_string()
                    .ok_or_else(|| Error::backend("permit grant: not a string"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Granted { members, wake })
    }

    /// Rebuilds a type's permits from every queue's running set (module
    /// docs, "Upgrades and new limits").
    async fn seed_permits(&self, task_type: &str) -> Result<(), Error> {
        let mut args = Vec::new();
        for queue in self.queue_names().await? {
            let reply = self
                .run(&RUNNING_PERMITS, &queue, vec![task_type.to_owned()])
                .await?;
            for item in array("running permits", reply)? {
                let text = match item {
                    Value::Null => String::new(),
                    other => other
                        .into_string()
                        .ok_or_else(|| Error::backend("running permits: not a string"))?,
                };
                args.push(text);
            }
        }
        self.run_type(&PERMIT_SEED, task_type, args).await?;
        Ok(())
    }

    /// Returns permits (their tasks settled or were released), one script
    /// per type. A failure leaves them to end with their leases.
    pub(super) async fn return_permits(&self, permits: Vec<Permit>) {
        self.return_permits_before(permits, None).await;
    }

    /// [`RedisBackend::return_permits`], with `before` (µs): only those
    /// whose lease ended before it (rescued tasks': a lease renewed since
    /// the rescue read it moved its permit first).
    pub(super) async fn return_permits_before(&self, permits: Vec<Permit>, before: Option<i64>) {
        for (task_type, permits) in by_type(permits) {
            let mut args = Vec::with_capacity(1 + permits.len() * 2);
            args.push(before.map(|b| b.to_string()).unwrap_or_default());
            for p in permits {
                args.push(p.member);
                args.push(p.key.unwrap_or_default());
            }
            if let Err(err) = self.run_type(&PERMIT_RETURN, &task_type, args).await {
                tracing::warn!(error = %err, task_type, "could not return permits; they end with their leases");
            }
        }
    }

    /// Moves permits to a new lease; returns the members found gone.
    pub(super) async fn extend_permits(
        &self,
        permits: Vec<Permit>,
        lease_until: i64,
    ) -> Result<Vec<String>, Error> {
        let mut lost = Vec::new();
        for (task_type, permits) in by_type(permits) {
            let mut args = vec![lease_until.to_string()];
            for p in &permits {
                args.push(p.member.clone());
                args.push(p.key.clone().unwrap_or_default());
            }
            let reply = array(
                "permit extend",
                self.run_type(&PERMIT_EXTEND, &task_type, args).await?,
            )?;
            for (p, flag) in permits.into_iter().zip(&reply) {
                if integer("permit extend", flag)? == 0 {
                    lost.push(p.member);
                }
            }
        }
        Ok(lost)
    }

    /// Forgets a type's rate buckets in its slot (its rate limit, or its
    /// key rate limit, was cleared).
    pub(super) async fn forget_rate_buckets(
        &self,
        task_type: &str,
        keys: bool,
    ) -> Result<(), Error> {
        let slot = self.keys.type_slot(task_type);
        let key = if keys { &slot.keys[2] } else { &slot.keys[1] };
        let _: () = self
            .pool
            .next()
            .del(key.as_str())
            .await
            .map_err(Error::backend)?;
        Ok(())
    }

    /// Drops a type's seeded flag, so its next grant rebuilds its permits
    /// from the running sets (a type or key limit was set).
    pub(super) async fn reseed_permits(&self, task_type: &str) -> Result<(), Error> {
        let slot = self.keys.type_slot(task_type);
        let _: () = self
            .pool
            .next()
            .del(slot.keys[3].as_str())
            .await
            .map_err(Error::backend)?;
        Ok(())
    }

    /// The type's rate bucket time (µs) and how many of its keys'
    /// buckets are ahead of `held_above` (µs, held back), for
    /// `type_limits()`.
    pub(super) async fn rate_buckets(
        &self,
        task_type: &str,
        held_above: Option<i64>,
    ) -> Result<(Option<i64>, u64), Error> {
        let slot = self.keys.type_slot(task_type);
        let client = self.pool.next();
        let tat: Option<i64> = client
            .get(slot.keys[1].as_str())
            .await
            .map_err(Error::backend)?;
        let held = match held_above {
            Some(above) => client
                // Times are whole µs (below 2^53: exact as f64); after
                // `above` means from `above + 1`.
                .zcount(slot.keys[2].as_str(), (above + 1) as f64, f64::INFINITY)
                .await
                .map_err(Error::backend)?,
            None => 0,
        };
        Ok((tat, held))
    }
}

/// Permits grouped by type, in first-seen order.
fn by_type(permits: Vec<Permit>) -> Vec<(String, Vec<Permit>)> {
    let mut groups: Vec<(String, Vec<Permit>)> = Vec::new();
    let mut place: HashMap<String, usize> = HashMap::new();
    for p in permits {
        let at = *place.entry(p.task_type.clone()).or_insert_with(|| {
            groups.push((p.task_type.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(p);
    }
    groups
}
