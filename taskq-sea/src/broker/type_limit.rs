//! Task type and key limits in SQL: the row that stores a type's limit
//! and key limit (`taskq_task_types.running_limit`, `key_limit`) and the
//! claim that keeps them.
//!
//! A claim that may take a limited type runs in one write transaction
//! (after the queue's row, if it locks that too): it locks the limited
//! types' rows in name order (`SELECT … FOR UPDATE`; SQLite's write
//! transaction holds the whole database), counts their `RUNNING` tasks
//! in every queue (per concurrency key too, for a key-limited type),
//! then walks the queue's due tasks in claim order and claims those
//! `lifecycle::TypeCaps` admits; a task of a full type or key keeps its
//! place. Two claimers of a limited type take turns on its row (one row
//! per type, whatever the keys) and the second counts after the first
//! committed, so together they never exceed a limit. The one-statement
//! claim (PostgreSQL, SQLite) never takes a task of a limited type
//! (`not_of_limited_type`, a condition on each row it updates): a claim
//! whose tasks are all of types without limits stays one statement,
//! whatever else the worker runs. MySQL's claim in steps walks the due
//! tasks itself and locks a limited type's row when it meets one of the
//! type's tasks ([`MetLocks`]): a claim whose due tasks are of other
//! types takes no type lock either.
//!
//! Why no limit set before a claim is missed, on any host: nothing caches
//! the limits. Each claim reads `taskq_task_types` in the statement that
//! claims (PostgreSQL's and SQLite's one statement, whose snapshot sees
//! every limit committed before it began) or locked in its transaction
//! (the locked path; MySQL's claim in steps reads the limited types'
//! names at its start, read committed, and their limits under the lock
//! of each it meets).

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, LockBehavior, LockType, OnConflict, Query, SelectStatement,
};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use taskq_core::backend::{ClaimRequest, TypeLimitStats};
use taskq_core::{Error, TaskState, lifecycle};
use uuid::Uuid;

use super::statements::{claim_update, due_unlocked};
use super::type_rate::{add_rates, key_rate, type_rate};
use crate::backend::{SeaBackend, db_err};
use crate::entity::task::{self, Column as C};
use crate::entity::task_type;
use crate::sql::state_is;

/// The rows of the limited types a claim taking `task_types` may meet:
/// `SELECT … FROM taskq_task_types WHERE (running_limit IS NOT NULL OR
/// key_limit IS NOT NULL) [AND name IN (…)]`.
fn limited_types(task_types: Option<&[&str]>) -> sea_orm::Select<task_type::Entity> {
    let mut select = task_type::Entity::find().filter(any_limit());
    if let Some(types) = task_types {
        select = select.filter(Expr::col(task_type::Column::Name).is_in(types.iter().copied()));
    }
    select
}

/// `running_limit IS NOT NULL OR key_limit IS NOT NULL OR rate_starts IS
/// NOT NULL OR key_rate_starts IS NOT NULL`: a type with a rate limit is
/// claimed in the locked transaction too (`type_rate`).
fn any_limit() -> Condition {
    Condition::any()
        .add(Expr::col(task_type::Column::RunningLimit).is_not_null())
        .add(Expr::col(task_type::Column::KeyLimit).is_not_null())
        .add(Expr::col(task_type::Column::RateStarts).is_not_null())
        .add(Expr::col(task_type::Column::KeyRateStarts).is_not_null())
}

/// `SELECT name FROM taskq_task_types WHERE <any limit>`.
fn limited_names() -> SelectStatement {
    Query::select()
        .column(task_type::Column::Name)
        .from(task_type::Entity)
        .cond_where(any_limit())
        .to_owned()
}

/// `NOT EXISTS (SELECT 1 FROM taskq_task_types WHERE <any limit> AND
/// name = taskq_tasks.task_type)`: the condition the one-statement claim
/// puts on each row it updates, so it never takes a task of a type with a
/// limit (one committed before the statement began: its snapshot sees
/// it). It leaves such a task in place, and the claim's caller finds it
/// with [`limited_due`] and claims it in the locked transaction. Per row,
/// so a claim whose tasks are all of types without limits stays one
/// statement even when the worker runs a limited type too.
pub(super) fn not_of_limited_type() -> Condition {
    let guard = Query::select()
        .expr(Expr::val(1))
        .from(task_type::Entity)
        .cond_where(any_limit())
        .and_where(
            Expr::col((task_type::Entity, task_type::Column::Name))
                .equals((task::Entity, C::TaskType)),
        )
        .to_owned();
    Condition::all().add(Expr::exists(guard).not())
}

/// `SELECT 1 FROM taskq_tasks WHERE <due in queue> AND task_type IN
/// (SELECT name FROM taskq_task_types WHERE <any limit>)`: whether the
/// queue has a due task the one-statement claim leaves to the locked one.
/// A plain read: a limited task it misses (claimed, or due just after)
/// is the next claim's; the limits themselves are kept by the statements
/// that claim.
pub(super) fn limited_due(request: &ClaimRequest<'_>) -> SelectStatement {
    let mut select = Query::select();
    select.expr(Expr::val(1)).from(task::Entity);
    super::statements::due_in_queue(&mut select, request);
    select.and_where(Expr::col(C::TaskType).in_subquery(limited_names()));
    select
}

/// The `RUNNING` tasks of each of `types`, in every queue.
async fn running_by_type(
    txn: &DatabaseTransaction,
    types: &[String],
) -> Result<Vec<(String, i64)>, Error> {
    task::Entity::find()
        .select_only()
        .column(C::TaskType)
        .column_as(Expr::col(C::Id).count(), "running")
        .filter(state_is(TaskState::Running))
        .filter(Expr::col(C::TaskType).is_in(types.iter().cloned()))
        .group_by(C::TaskType)
        .into_tuple()
        .all(txn)
        .await
        .map_err(db_err)
}

/// The `RUNNING` tasks of each of `types` per concurrency key (those
/// with one).
async fn running_by_key(
    txn: &DatabaseTransaction,
    types: &[String],
) -> Result<Vec<(String, String, i64)>, Error> {
    task::Entity::find()
        .select_only()
        .column(C::TaskType)
        .column(C::ConcurrencyKey)
        .column_as(Expr::col(C::Id).count(), "running")
        .filter(state_is(TaskState::Running))
        .filter(Expr::col(C::TaskType).is_in(types.iter().cloned()))
        .filter(Expr::col(C::ConcurrencyKey).is_not_null())
        .group_by(C::TaskType)
        .group_by(C::ConcurrencyKey)
        .into_tuple()
        .all(txn)
        .await
        .map_err(db_err)
}

/// A stored limit as the limit it is.
fn stored(name: &str, limit: i64) -> Result<u32, Error> {
    u32::try_from(limit)
        .map_err(|_| Error::backend(format!("task type {name}: stored limit {limit} is invalid")))
}

/// With the limited types' rows locked in `txn` (in name order, so two
/// claimers never wait on each other crosswise): what each leaves.
pub(super) async fn locked_type_caps(
    txn: &DatabaseTransaction,
    request: &ClaimRequest<'_>,
) -> Result<lifecycle::TypeCaps, Error> {
    let rows = limited_types(request.task_types)
        .order_by_asc(task_type::Column::Name)
        .lock_exclusive()
        .all(txn)
        .await
        .map_err(db_err)?;
    let mut caps = lifecycle::TypeCaps::default();
    add_locked(txn, &rows, &mut caps, request.now).await?;
    Ok(caps)
}

/// Adds to `caps` the limits of the type `rows` locked in `txn`, with
/// their `RUNNING` counts and their buckets, for a claim at `now`.
async fn add_locked(
    txn: &DatabaseTransaction,
    rows: &[task_type::Model],
    caps: &mut lifecycle::TypeCaps,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    // Counted only for the types with a running limit: a type with key
    // limits alone (`--only limit`'s keys) counts per key below.
    let capped: Vec<String> = rows
        .iter()
        .filter(|row| row.running_limit.is_some())
        .map(|row| row.name.clone())
        .collect();
    let running = if capped.is_empty() {
        Vec::new()
    } else {
        running_by_type(txn, &capped).await?
    };
    let keyed: Vec<String> = rows
        .iter()
        .filter(|row| row.key_limit.is_some())
        .map(|row| row.name.clone())
        .collect();
    for row in rows {
        if let Some(limit) = row.running_limit {
            let count = running
                .iter()
                .find(|(name, _)| *name == row.name)
                .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
            caps.limit(&row.name, stored(&row.name, limit)?, count);
        }
        if let Some(limit) = row.key_limit {
            caps.key_limit(&row.name, stored(&row.name, limit)?);
        }
    }
    if !keyed.is_empty() {
        for (name, key, count) in running_by_key(txn, &keyed).await? {
            caps.key_running(&name, &key, u64::try_from(count).unwrap_or(0));
        }
    }
    add_rates(txn, rows, caps, now).await
}

/// MySQL's claim in steps locks a limited type's row only once the walk
/// meets a due task of the type ([`admitted_ids`] with these), so a
/// claim whose candidates are all of other types takes no type lock,
/// whatever limited types the worker runs (the intent of PostgreSQL's and
/// SQLite's one statement, which leaves limited types to the locked
/// claim only when one is due: `limited_due`).
///
/// The types of the first pass's rows, read plainly, are locked waiting,
/// in name order, before the claim holds any type or task row (a
/// claimer waiting while it holds task rows would leave the others'
/// `SKIP LOCKED` reads nothing); those met later are locked with `SKIP
/// LOCKED`, as waiting while holding a type row could wait crosswise. A type
/// whose row another claimer holds then is left out of this claim, like
/// a full one (the other claimer is taking its tasks). A limited type is
/// never admitted unlocked: its count and buckets are read only under
/// its row's lock.
pub(super) struct MetLocks {
    /// The types with a limit the claim may take, read without a lock at
    /// its start (a limit committed before it is seen).
    limited: HashSet<String>,
    /// The rows locked so far.
    locked: HashSet<String>,
    /// The limited types left out (their rows held by another claimer).
    skipped: HashSet<String>,
    /// Whether the first types met were locked (waiting); those met after
    /// are locked with `SKIP LOCKED`.
    waited: bool,
}

impl MetLocks {
    /// The limited types a claim taking `request.task_types` may meet;
    /// `None` when there is none (the claim needs no walk).
    pub(super) async fn read(
        txn: &DatabaseTransaction,
        request: &ClaimRequest<'_>,
    ) -> Result<Option<MetLocks>, Error> {
        let names: Vec<String> = limited_types(request.task_types)
            .select_only()
            .column(task_type::Column::Name)
            .into_tuple()
            .all(txn)
            .await
            .map_err(db_err)?;
        Ok((!names.is_empty()).then(|| MetLocks {
            limited: names.into_iter().collect(),
            locked: HashSet::new(),
            skipped: HashSet::new(),
            waited: false,
        }))
    }

    /// Locks the rows of the limited types among `met` not locked yet,
    /// adding their limits to `caps`: waiting for them the first time
    /// (the claim holds no row then), else `SKIP LOCKED`.
    async fn lock(
        &mut self,
        txn: &DatabaseTransaction,
        met: &HashSet<String>,
        caps: &mut lifecycle::TypeCaps,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Error> {
        let wait = !self.waited;
        self.waited = true;
        let new: Vec<String> = met
            .iter()
            .filter(|t| {
                self.limited.contains(*t) && !self.locked.contains(*t) && !self.skipped.contains(*t)
            })
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let mut select = limited_types(None)
            .filter(Expr::col(task_type::Column::Name).is_in(new.iter().cloned()))
            .order_by_asc(task_type::Column::Name);
        select = if wait {
            select.lock_exclusive()
        } else {
            select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        };
        let rows = select.all(txn).await.map_err(db_err)?;
        add_locked(txn, &rows, caps, now).await?;
        for name in new {
            if rows.iter().any(|row| row.name == name) {
                self.locked.insert(name);
            } else if wait {
                // Waited for, and found without a limit: cleared since
                // the claim began, so not limited.
                self.limited.remove(&name);
            } else {
                self.skipped.insert(name);
            }
        }
        Ok(())
    }
}

/// How many candidates a pass reads beyond those it still wants: tasks
/// of full types among them are passed over without another query.
const SLACK: u64 = 64;

/// At most this many candidates a claim reads beyond those it wants
/// (like the Redis script's walk): a queue whose head is all full types
/// or keys is not read to its end on every claim.
const MAX_PASSED_OVER: usize = 1000;

/// The ids of the due tasks a claim takes under `caps`, in claim order,
/// their rows locked (`FOR UPDATE SKIP LOCKED` where the database has
/// it): passes over the queue, each leaving out the rows taken before,
/// the types found full and the (type, key) pairs found full, until
/// `request.limit` are taken, the queue has no more candidates, or
/// [`MAX_PASSED_OVER`] were passed over. A pass that comes back short of
/// what it read found a new full type or key, which the next leaves out.
pub(super) async fn admitted_ids(
    txn: &DatabaseTransaction,
    request: &ClaimRequest<'_>,
    caps: &mut lifecycle::TypeCaps,
    mut met_locks: Option<&mut MetLocks>,
) -> Result<Vec<Uuid>, Error> {
    let mut taken: Vec<Uuid> = Vec::new();
    let mut passed = 0usize;
    let mut full: HashSet<String> = HashSet::new();
    let mut full_keys: HashMap<String, HashSet<String>> = HashMap::new();
    for (task_type, key) in caps.full_keys() {
        full_keys
            .entry(task_type.to_owned())
            .or_default()
            .insert(key.to_owned());
    }
    loop {
        let wanted = request.limit - taken.len();
        let read = u64::try_from(wanted)
            .unwrap_or(u64::MAX)
            .saturating_add(SLACK);
        let mut select = due_unlocked(&ClaimRequest {
            limit: usize::try_from(read).unwrap_or(usize::MAX),
            ..request.clone()
        });
        select.column(C::TaskType).column(C::ConcurrencyKey);
        if !full.is_empty() {
            select.and_where(Expr::col(C::TaskType).is_not_in(full.iter().cloned()));
        }
        // NOT (type = t AND key IS NOT NULL AND key IN (…)): a task
        // without a key is never left out by its type's full keys.
        for (task_type, keys) in &full_keys {
            select.and_where(
                Expr::col(C::TaskType)
                    .eq(task_type.as_str())
                    .and(Expr::col(C::ConcurrencyKey).is_not_null())
                    .and(Expr::col(C::ConcurrencyKey).is_in(keys.iter().cloned()))
                    .not(),
            );
        }
        if !taken.is_empty() {
            select.and_where(Expr::col(C::Id).is_not_in(taken.iter().copied()));
        }
        // The first types met are locked before the task rows (a claimer
        // holding task rows while it waits for a type's would leave the
        // others' `SKIP LOCKED` reads nothing): read in a plain read of
        // the same rows first.
        if let Some(locks) = met_locks.as_deref_mut()
            && !locks.waited
        {
            // `SELECT DISTINCT task_type FROM (<the pass's rows>) AS head`:
            // the types, not every row.
            let types = Query::select()
                .distinct()
                .column(C::TaskType)
                .from_subquery(select.clone(), Alias::new("head"))
                .to_owned();
            let head = txn.query_all(&types).await.map_err(db_err)?;
            let mut met = HashSet::new();
            for row in head {
                met.insert(row.try_get::<String>("", "task_type").map_err(db_err)?);
            }
            locks.lock(txn, &met, caps, request.now).await?;
        }
        select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        let rows = txn.query_all(&select).await.map_err(db_err)?;
        let exhausted = (rows.len() as u64) < read;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in rows {
            let id: Uuid = row.try_get("", "id").map_err(db_err)?;
            let task_type: String = row.try_get("", "task_type").map_err(db_err)?;
            let key: Option<String> = row.try_get("", "concurrency_key").map_err(db_err)?;
            candidates.push((id, task_type, key));
        }
        if let Some(locks) = met_locks.as_deref_mut() {
            let met: HashSet<String> = candidates.iter().map(|(_, t, _)| t.clone()).collect();
            locks.lock(txn, &met, caps, request.now).await?;
        }
        for (id, task_type, key) in candidates {
            if taken.len() == request.limit {
                break;
            }
            let unlocked = met_locks
                .as_deref()
                .is_some_and(|locks| locks.skipped.contains(&task_type));
            if unlocked {
                passed += 1;
                full.insert(task_type);
                continue;
            }
            if caps.admit(&task_type, key.as_deref()) {
                taken.push(id);
                continue;
            }
            passed += 1;
            if caps.is_full(&task_type) {
                full.insert(task_type);
            } else if let Some(key) = key {
                full_keys.entry(task_type).or_default().insert(key);
            }
        }
        if taken.len() == request.limit || exhausted || passed >= MAX_PASSED_OVER {
            return Ok(taken);
        }
    }
}

/// Claims the tasks `ids` (locked and admitted in `txn`) and reads them
/// back.
pub(super) async fn claim_ids(
    txn: &DatabaseTransaction,
    request: &ClaimRequest<'_>,
    ids: Vec<Uuid>,
) -> Result<Vec<task::Model>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut update = claim_update(request);
    update.and_where(Expr::col(C::Id).is_in(ids.iter().copied()));
    txn.execute(&update).await.map_err(db_err)?;
    task::Entity::find()
        .filter(Expr::col(C::Id).is_in(ids))
        .all(txn)
        .await
        .map_err(db_err)
}

impl SeaBackend {
    /// Stores a type's limit or key limit (`column`: `Some`, keeping the
    /// other) or clears it (`None`, and the row goes when neither is
    /// left).
    pub(super) async fn store_type_limit(
        &self,
        name: &str,
        column: task_type::Column,
        limit: Option<u32>,
    ) -> Result<(), Error> {
        match limit {
            Some(limit) => {
                let statement = Query::insert()
                    .into_table(task_type::Entity)
                    .columns([task_type::Column::Name, column])
                    .values_panic([name.into(), i64::from(limit).into()])
                    .on_conflict(
                        OnConflict::column(task_type::Column::Name)
                            .update_column(column)
                            .to_owned(),
                    )
                    .to_owned();
                self.db().execute(&statement).await.map_err(db_err)?;
            }
            None => {
                let clear = Query::update()
                    .table(task_type::Entity)
                    .value(column, None::<i64>)
                    .and_where(Expr::col(task_type::Column::Name).eq(name))
                    .to_owned();
                self.db().execute(&clear).await.map_err(db_err)?;
                self.forget_plain_type(name).await?;
            }
        }
        Ok(())
    }

    /// Deletes the row of a type left without any limit. The condition is
    /// in the DELETE, so a racing set stays.
    pub(super) async fn forget_plain_type(&self, name: &str) -> Result<(), Error> {
        let forget = Query::delete()
            .from_table(task_type::Entity)
            .and_where(Expr::col(task_type::Column::Name).eq(name))
            .cond_where(any_limit().not())
            .to_owned();
        self.db().execute(&forget).await.map_err(db_err)?;
        Ok(())
    }

    /// Every type with a limit, key limit or rate limit, with its
    /// `RUNNING` tasks and its held buckets now, by name.
    pub(crate) async fn read_type_limits(&self) -> Result<Vec<TypeLimitStats>, Error> {
        let txn = self.read_txn().await?;
        let rows = limited_types(None)
            .order_by_asc(task_type::Column::Name)
            .all(&txn)
            .await
            .map_err(db_err)?;
        let names: Vec<String> = rows.iter().map(|row| row.name.clone()).collect();
        let keyed: Vec<String> = rows
            .iter()
            .filter(|row| row.key_limit.is_some())
            .map(|row| row.name.clone())
            .collect();
        let running = if names.is_empty() {
            Vec::new()
        } else {
            running_by_type(&txn, &names).await?
        };
        let by_key = if keyed.is_empty() {
            Vec::new()
        } else {
            running_by_key(&txn, &keyed).await?
        };
        let now = chrono::Utc::now();
        let mut held_keys = HashMap::new();
        for row in &rows {
            if let Some(limit) = key_rate(row)? {
                held_keys.insert(
                    row.name.clone(),
                    self.held_keys(&txn, &row.name, &limit, now).await?,
                );
            }
        }
        txn.commit().await.map_err(db_err)?;
        rows.into_iter()
            .map(|row| {
                let rate = type_rate(&row)?;
                let mut stats = TypeLimitStats {
                    rate_limit: rate.map(|(limit, _)| limit),
                    rate_held_until: rate.and_then(|(limit, tat)| {
                        lifecycle::RateBucket::new(limit, tat, now).next_start()
                    }),
                    key_rate_limit: key_rate(&row)?,
                    held_keys: held_keys.get(&row.name).copied().unwrap_or(0),
                    running: running
                        .iter()
                        .find(|(name, _)| *name == row.name)
                        .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0)),
                    limit: row.running_limit.and_then(|l| u32::try_from(l).ok()),
                    key_limit: row.key_limit.and_then(|l| u32::try_from(l).ok()),
                    ..TypeLimitStats::default()
                };
                if stats.key_limit.is_some() {
                    stats.set_key_counts(
                        by_key
                            .iter()
                            .filter(|(name, _, _)| *name == row.name)
                            .map(|(_, key, n)| (key.clone(), u64::try_from(*n).unwrap_or(0))),
                    );
                }
                stats.task_type = row.name;
                Ok(stats)
            })
            .collect()
    }
}
