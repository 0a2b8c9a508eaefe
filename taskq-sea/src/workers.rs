//! [`WorkerRegistry`] for [`SeaBackend`], on `taskq_workers`, and the
//! conversion between [`WorkerInfo`] and its row.
//!
//! A heartbeat is an upsert that leaves `requested` alone; a control is a
//! compare-and-set `UPDATE` of `requested`, fenced on the `state` and
//! `requested` it was checked against.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, TransactionTrait,
};
use taskq_core::throughput::{MinuteCounts, first_kept_minute};
use taskq_core::{Error, WorkerControl, WorkerInfo, WorkerRegistry, WorkerState};

use crate::backend::{SeaBackend, db_err};
use crate::entity::count;
use crate::entity::worker::{self, Column as C};

/// Compare-and-set rounds before a control gives up on a busy worker row.
const CONTROL_ATTEMPTS: usize = 5;

impl TryFrom<&WorkerInfo> for worker::Model {
    type Error = Error;

    fn try_from(w: &WorkerInfo) -> Result<Self, Error> {
        Ok(worker::Model {
            id: w.id.clone(),
            host: w.host.clone(),
            pid: i64::from(w.pid),
            queues: serde_json::to_value(&w.queues).map_err(Error::Serialization)?,
            task_types: Some(serde_json::to_value(&w.task_types).map_err(Error::Serialization)?),
            in_flight_count: i64::try_from(w.in_flight_count).unwrap_or(i64::MAX),
            in_flight: serde_json::to_value(&w.in_flight).map_err(Error::Serialization)?,
            state: w.state.as_str().to_owned(),
            requested: w.requested.map(|r| r.as_str().to_owned()),
            started_at: w.started_at,
            heartbeat_at: w.heartbeat_at,
            expires_at: w.expires_at,
        })
    }
}

impl TryFrom<worker::Model> for WorkerInfo {
    type Error = Error;

    fn try_from(row: worker::Model) -> Result<Self, Error> {
        let corrupt =
            |field: &str| Error::backend(format!("worker `{}`: stored {field} is invalid", row.id));
        let state =
            |name: &str, field: &str| WorkerState::parse(name).ok_or_else(|| corrupt(field));
        Ok(WorkerInfo {
            host: row.host.clone(),
            pid: u32::try_from(row.pid).map_err(|_| corrupt("pid"))?,
            queues: serde_json::from_value(row.queues.clone()).map_err(|_| corrupt("queues"))?,
            task_types: match row.task_types.clone() {
                Some(types) => serde_json::from_value(types).map_err(|_| corrupt("task_types"))?,
                None => Vec::new(),
            },
            in_flight_count: u64::try_from(row.in_flight_count)
                .map_err(|_| corrupt("in_flight_count"))?,
            in_flight: serde_json::from_value(row.in_flight.clone())
                .map_err(|_| corrupt("in_flight"))?,
            state: state(&row.state, "state")?,
            requested: row
                .requested
                .as_deref()
                .map(|r| state(r, "requested"))
                .transpose()?,
            started_at: row.started_at,
            heartbeat_at: row.heartbeat_at,
            expires_at: row.expires_at,
            id: row.id,
        })
    }
}

/// Every column a heartbeat writes (all but `id` and `requested`).
const REPORTED: [C; 10] = [
    C::Host,
    C::Pid,
    C::Queues,
    C::TaskTypes,
    C::InFlightCount,
    C::InFlight,
    C::State,
    C::StartedAt,
    C::HeartbeatAt,
    C::ExpiresAt,
];

impl SeaBackend {
    /// Inserts or updates a worker's row; `register` also clears
    /// `requested`.
    async fn upsert_worker(&self, worker: &WorkerInfo, register: bool) -> Result<(), Error> {
        let mut row = worker::Model::try_from(worker)?;
        row.requested = None;
        let mut columns = REPORTED.to_vec();
        if register {
            columns.push(C::Requested);
        }
        worker::Entity::insert(row.into_active_model())
            .on_conflict(OnConflict::column(C::Id).update_columns(columns).to_owned())
            .exec_without_returning(self.db())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn read_worker(&self, id: &str) -> Result<Option<WorkerInfo>, Error> {
        worker::Entity::find_by_id(id.to_owned())
            .one(self.db())
            .await
            .map_err(db_err)?
            .map(WorkerInfo::try_from)
            .transpose()
    }
}

#[async_trait]
impl WorkerRegistry for SeaBackend {
    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), Error> {
        self.upsert_worker(worker, true).await
    }

    async fn worker_heartbeat(&self, worker: &WorkerInfo) -> Result<Option<WorkerState>, Error> {
        self.upsert_worker(worker, false).await?;
        Ok(self
            .read_worker(&worker.id)
            .await?
            .and_then(|stored| stored.requested))
    }

    async fn deregister_worker(&self, id: &str) -> Result<bool, Error> {
        let result = worker::Entity::delete_by_id(id.to_owned())
            .exec(self.db())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected > 0)
    }

    async fn list_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerInfo>, Error> {
        let kept =
            chrono::Duration::from_std(taskq_core::backend::WORKER_GONE_KEPT).unwrap_or_default();
        worker::Entity::delete_many()
            .filter(C::ExpiresAt.lt(now - kept))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        worker::Entity::find()
            .order_by_asc(C::Id)
            .all(self.db())
            .await
            .map_err(db_err)?
            .into_iter()
            .filter_map(|row| {
                WorkerInfo::try_from(row)
                    .map(|w| w.seen_at(now))
                    .transpose()
            })
            .collect()
    }

    async fn get_worker(&self, id: &str, now: DateTime<Utc>) -> Result<Option<WorkerInfo>, Error> {
        Ok(self.read_worker(id).await?.and_then(|w| w.seen_at(now)))
    }

    async fn control_worker(
        &self,
        id: &str,
        control: WorkerControl,
        now: DateTime<Utc>,
    ) -> Result<WorkerInfo, Error> {
        for _ in 0..CONTROL_ATTEMPTS {
            let Some(stored) = self.get_worker(id, now).await? else {
                return Err(Error::WorkerNotFound(id.to_owned()));
            };
            let target = control.target(&stored)?;
            // Fenced on the reported state as stored (`stored.state` may
            // read `gone`, which is never stored — but then `target` failed).
            let requested_was = match stored.requested {
                Some(requested) => Expr::col(C::Requested).eq(requested.as_str()),
                None => Expr::col(C::Requested).is_null(),
            };
            let result = worker::Entity::update_many()
                .col_expr(C::Requested, Expr::value(target.as_str()))
                .filter(C::Id.eq(id))
                .filter(C::State.eq(stored.state.as_str()))
                .filter(requested_was)
                .exec(self.db())
                .await
                .map_err(db_err)?;
            if result.rows_affected == 1 {
                let mut worker = stored;
                worker.requested = Some(target);
                return Ok(worker);
            }
        }
        Err(Error::backend(format!(
            "worker `{id}` changed under {CONTROL_ATTEMPTS} controls in a row; try again"
        )))
    }

    async fn add_counts(&self, counts: &[MinuteCounts], now: DateTime<Utc>) -> Result<(), Error> {
        self.add_minute_counts(counts, now).await
    }

    async fn counts_since(&self, since: DateTime<Utc>) -> Result<Vec<MinuteCounts>, Error> {
        let rows = count::Entity::find()
            .filter(count::Column::Minute.gte(first_kept_minute(since, Utc::now())))
            .order_by_asc(count::Column::Minute)
            .order_by_asc(count::Column::Queue)
            .all(self.db())
            .await
            .map_err(db_err)?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(rows
            .into_iter()
            .map(|row| MinuteCounts {
                queue: row.queue,
                minute: row.minute,
                finished: n(row.finished),
                failed: n(row.failed),
                retried: n(row.retried),
                cancelled: n(row.cancelled),
            })
            .collect())
    }
}

impl SeaBackend {
    /// One multi-row upsert adding to the stored counts (`excluded` on
    /// PostgreSQL and SQLite, `VALUES()` on MySQL), then the day-old rows
    /// dropped, in one transaction.
    async fn add_minute_counts(
        &self,
        counts: &[MinuteCounts],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        if counts.is_empty() {
            return Ok(());
        }
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let rows = counts.iter().map(|c| {
            count::Model {
                minute: c.minute,
                queue: c.queue.clone(),
                finished: i(c.finished),
                failed: i(c.failed),
                retried: i(c.retried),
                cancelled: i(c.cancelled),
            }
            .into_active_model()
        });
        let mysql = self.db().get_database_backend() == DbBackend::MySql;
        let mut on_conflict = OnConflict::columns([count::Column::Minute, count::Column::Queue]);
        for column in ["finished", "failed", "retried", "cancelled"] {
            let sum = if mysql {
                format!("{column} + VALUES({column})")
            } else {
                format!("taskq_counts.{column} + excluded.{column}")
            };
            on_conflict.value(Alias::new(column), Expr::cust(sum));
        }
        let oldest = first_kept_minute(DateTime::<Utc>::MIN_UTC, now);
        let txn = self.db().begin().await.map_err(db_err)?;
        count::Entity::insert_many(rows)
            .on_conflict(on_conflict.to_owned())
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        count::Entity::delete_many()
            .filter(count::Column::Minute.lt(oldest))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)
    }
}
