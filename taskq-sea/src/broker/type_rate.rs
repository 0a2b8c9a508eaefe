//! Task type and key rate limits in SQL: the type's bucket on its
//! `taskq_task_types` row (`rate_starts`, `rate_period_us`,
//! `rate_tat_us`), its key rate limit there too (`key_rate_starts`,
//! `key_rate_period_us`), and each key's bucket time in
//! `taskq_type_key_rates` while it is spent.
//!
//! A type with a rate limit or key rate limit counts as limited
//! (`type_limit::any_limit`): its claim runs in the locked transaction,
//! with the type's row locked, so the buckets read there
//! ([`add_rates`]) are moved by one claimer at a time: two claimers take
//! turns on the row and the second reads what the first spent. The claim
//! writes back what it spent before it commits ([`spend_rates`]) and
//! deletes its types' key rows whose time passed (a full bucket: they
//! carry nothing), read through an index on the time, so the table holds
//! only the keys that started within a period (and those of types no
//! claim has spent from since).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter};
use taskq_core::rate_limit::RateLimit;
use taskq_core::{Error, lifecycle};

use super::limit::Bucket;
use crate::backend::{SeaBackend, db_err};
use crate::entity::task_type::{self, Column as T};
use crate::entity::type_key_rate::{self, Column as K};

/// A stored rate limit (`starts`, `period_us`), if both are set.
fn stored_limit(
    name: &str,
    starts: Option<i64>,
    period: Option<i64>,
) -> Result<Option<RateLimit>, Error> {
    let (Some(starts), Some(period)) = (starts, period) else {
        return Ok(None);
    };
    let bad = || Error::backend(format!("task type {name}: stored rate limit is invalid"));
    let starts = u32::try_from(starts).map_err(|_| bad())?;
    let period = u64::try_from(period).map_err(|_| bad())?;
    Ok(Some(RateLimit::new(starts, Duration::from_micros(period))))
}

/// The type's rate limit and its bucket's time (`None`: full).
pub(super) fn type_rate(row: &task_type::Model) -> Result<Option<Bucket>, Error> {
    let limit = stored_limit(&row.name, row.rate_starts, row.rate_period_us)?;
    let tat = row.rate_tat_us.and_then(DateTime::from_timestamp_micros);
    Ok(limit.map(|limit| (limit, tat)))
}

/// The type's key rate limit.
pub(super) fn key_rate(row: &task_type::Model) -> Result<Option<RateLimit>, Error> {
    stored_limit(&row.name, row.key_rate_starts, row.key_rate_period_us)
}

/// The spent key buckets of `types` at `now`: (type, key, time).
async fn spent_keys(
    txn: &DatabaseTransaction,
    types: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<type_key_rate::Model>, Error> {
    type_key_rate::Entity::find()
        .filter(Expr::col(K::TaskType).is_in(types.iter().cloned()))
        .filter(Expr::col(K::TatUs).gt(now.timestamp_micros()))
        .all(txn)
        .await
        .map_err(db_err)
}

/// Adds the rate limits of the locked type `rows` to `caps`, with their
/// buckets as stored, for a claim at `now`.
pub(super) async fn add_rates(
    txn: &DatabaseTransaction,
    rows: &[task_type::Model],
    caps: &mut lifecycle::TypeCaps,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut keyed = Vec::new();
    for row in rows {
        if let Some((limit, tat)) = type_rate(row)? {
            caps.type_rate(&row.name, limit, tat, now);
        }
        if let Some(limit) = key_rate(row)? {
            caps.key_rate(&row.name, limit, now);
            keyed.push(row.name.clone());
        }
    }
    if !keyed.is_empty() {
        for key in spent_keys(txn, &keyed, now).await? {
            if let Some(tat) = DateTime::from_timestamp_micros(key.tat_us) {
                caps.key_tat(&key.task_type, &key.key, tat);
            }
        }
    }
    Ok(())
}

/// After a claim at `now` admitted through `caps`, in its transaction:
/// stores the buckets it spent, deletes the key buckets that refilled,
/// and returns when the earliest bucket that held a task back frees
/// (`Broker::claim_wake`).
pub(super) async fn spend_rates(
    txn: &DatabaseTransaction,
    caps: &lifecycle::TypeCaps,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    for (name, tat) in caps.spent_type_rates() {
        let statement = Query::update()
            .table(task_type::Entity)
            .value(T::RateTatUs, tat.timestamp_micros())
            .and_where(Expr::col(T::Name).eq(name))
            .to_owned();
        txn.execute(&statement).await.map_err(db_err)?;
    }
    let spent = caps.spent_key_rates();
    if !spent.is_empty() {
        // Only the types whose rows this claim holds locked: no other
        // claimer writes their keys meanwhile, so the prune never waits
        // on (or deadlocks with) another claim's upserts.
        let mut types: Vec<&str> = spent.iter().map(|(task_type, _, _)| *task_type).collect();
        types.sort_unstable();
        types.dedup();
        let prune = Query::delete()
            .from_table(type_key_rate::Entity)
            .and_where(Expr::col(K::TaskType).is_in(types))
            .and_where(Expr::col(K::TatUs).lte(now.timestamp_micros()))
            .to_owned();
        txn.execute(&prune).await.map_err(db_err)?;
        // Bounded batches: one statement's parameters stay far below every
        // database's limit.
        for chunk in spent.chunks(500) {
            let mut insert = Query::insert();
            insert
                .into_table(type_key_rate::Entity)
                .columns([K::TaskType, K::Key, K::TatUs]);
            for (task_type, key, tat) in chunk {
                insert.values_panic([
                    (*task_type).into(),
                    (*key).into(),
                    tat.timestamp_micros().into(),
                ]);
            }
            insert.on_conflict(
                OnConflict::columns([K::TaskType, K::Key])
                    .update_column(K::TatUs)
                    .to_owned(),
            );
            txn.execute(&insert).await.map_err(db_err)?;
        }
    }
    Ok(caps.rate_wake())
}

impl SeaBackend {
    /// Stores a type's rate limit (`key: false`) or key rate limit
    /// (`key: true`), keeping its other limits and what its bucket spent,
    /// or clears it (`None`) with its buckets, and the row goes when no
    /// limit is left.
    pub(super) async fn store_type_rate(
        &self,
        name: &str,
        key: bool,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        let (starts, period) = if key {
            (T::KeyRateStarts, T::KeyRatePeriodUs)
        } else {
            (T::RateStarts, T::RatePeriodUs)
        };
        match limit {
            Some(limit) => {
                let statement = Query::insert()
                    .into_table(task_type::Entity)
                    .columns([T::Name, starts, period])
                    .values_panic([
                        name.into(),
                        i64::from(limit.starts).into(),
                        limit.period_micros().into(),
                    ])
                    .on_conflict(
                        OnConflict::column(T::Name)
                            .update_columns([starts, period])
                            .to_owned(),
                    )
                    .to_owned();
                self.db().execute(&statement).await.map_err(db_err)?;
            }
            None => {
                let mut clear = Query::update();
                clear
                    .table(task_type::Entity)
                    .value(starts, None::<i64>)
                    .value(period, None::<i64>)
                    .and_where(Expr::col(T::Name).eq(name));
                if !key {
                    clear.value(T::RateTatUs, None::<i64>);
                }
                self.db().execute(&clear).await.map_err(db_err)?;
                if key {
                    let forget = Query::delete()
                        .from_table(type_key_rate::Entity)
                        .and_where(Expr::col(K::TaskType).eq(name))
                        .to_owned();
                    self.db().execute(&forget).await.map_err(db_err)?;
                }
                self.forget_plain_type(name).await?;
            }
        }
        Ok(())
    }

    /// How many of `name`'s keys are held now under `limit`: their bucket's
    /// next start is ahead (`lifecycle::RateBucket::next_start`), which is
    /// a time above `now + period − cost(1)`.
    pub(super) async fn held_keys(
        &self,
        txn: &DatabaseTransaction,
        name: &str,
        limit: &RateLimit,
        now: DateTime<Utc>,
    ) -> Result<u64, Error> {
        let above = now.timestamp_micros() + limit.period_micros() - lifecycle::rate_cost(limit, 1);
        let count = type_key_rate::Entity::find()
            .filter(Expr::col(K::TaskType).eq(name))
            .filter(Expr::col(K::TatUs).gt(above))
            .count(txn)
            .await
            .map_err(db_err)?;
        Ok(count)
    }
}
