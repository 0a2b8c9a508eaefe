//! [`SeaBackend`]'s side of a delivery path kept elsewhere (Redis; see
//! `crate::redis`): marking what that path claimed as running, fenced by
//! attempt, and reading what it must hold.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use taskq_core::rate_limit::RateLimit;
use taskq_core::{Error, TaskId, TaskRecord, TaskState};
use uuid::Uuid;

use crate::backend::{SeaBackend, db_err};
use crate::convert::{count_to_db, records};
use crate::entity::queue;
use crate::entity::task::{self, Column as C};
use crate::history;
use crate::sql::{self, Claimed, state_is};

impl SeaBackend {
    /// Marks `(id, attempt)` claims as running (see [`sql::claimed_batch`]
    /// for the fence). Returns the ids whose claim applied.
    ///
    /// `lost` holds, for claims of a task whose previous attempt the
    /// delivery path took back when its lease ran out, that attempt's
    /// history entry ([`history::entry_text`]). Where SQL's row still
    /// runs that attempt (SQL's rescuer has not seen it yet), the entry is
    /// appended in the claim's transaction, so the history keeps it.
    pub(crate) async fn mark_claimed(
        &self,
        claim: &Claimed<'_>,
        tasks: &[(TaskId, u32)],
        lost: &[(TaskId, String)],
    ) -> Result<HashSet<TaskId>, Error> {
        let tasks: Vec<(TaskId, i32)> = tasks
            .iter()
            .map(|&(id, attempt)| (id, count_to_db(attempt)))
            .collect();
        let mut applied = HashSet::with_capacity(tasks.len());
        let backend = self.db().get_database_backend();
        let plan = sql::keyed_plan(backend, tasks.len());
        if sql::supports_batches(backend)
            && tasks.len() <= sql::BATCH_ROWS
            && plan.is_none()
            && lost.is_empty()
        {
            // A small batch: one statement, no transaction around it.
            for row in self
                .db()
                .query_all_raw(sql::claimed_batch(backend, claim, &tasks))
                .await
                .map_err(db_err)?
            {
                applied.insert(row.try_get::<Uuid>("", "id").map_err(db_err)?);
            }
            return Ok(applied);
        }
        let txn = self.write_txn().await?;
        if let Some(plan) = plan {
            txn.execute_raw(plan).await.map_err(db_err)?;
        }
        for (id, entry) in lost {
            let Some(&(_, attempt)) = tasks.iter().find(|(task, _)| task == id) else {
                continue;
            };
            // `lifecycle::end_attempt`, fenced as the claim's own fence of
            // a running row (below): the worker and start are the row's.
            let update = Query::update()
                .table(task::Entity)
                .value(C::Attempts, history::append(backend, entry.clone()))
                .cond_where(
                    Condition::all()
                        .add(Expr::col(C::Id).eq(*id))
                        .add(Expr::col(C::Attempt).eq(attempt - 1))
                        .add(state_is(TaskState::Running))
                        .add(Expr::col(C::LeaseUntil).lt(claim.now))
                        .add(Expr::col(C::CancelRequested).eq(false)),
                )
                .to_owned();
            txn.execute(&update).await.map_err(db_err)?;
        }
        if sql::supports_batches(backend) {
            for chunk in tasks.chunks(sql::BATCH_ROWS) {
                for row in txn
                    .query_all_raw(sql::claimed_batch(backend, claim, chunk))
                    .await
                    .map_err(db_err)?
                {
                    applied.insert(row.try_get::<Uuid>("", "id").map_err(db_err)?);
                }
            }
        } else {
            // MySQL: no `UPDATE … FROM`, one fenced update per row.
            for &(id, attempt) in &tasks {
                let claimable = Condition::any()
                    .add(
                        Condition::all()
                            .add(state_is(TaskState::Pending))
                            .add(Expr::col(C::ScheduledAt).lte(claim.now)),
                    )
                    .add(
                        Condition::all()
                            .add(state_is(TaskState::Running))
                            .add(Expr::col(C::LeaseUntil).lt(claim.now))
                            .add(Expr::col(C::CancelRequested).eq(false)),
                    );
                let update = Query::update()
                    .table(task::Entity)
                    .value(C::State, TaskState::Running.as_str())
                    .value(C::Attempt, attempt)
                    .value(C::StartedAt, claim.now)
                    .value(C::WorkerId, claim.worker_id)
                    .value(C::LeaseUntil, claim.lease_until)
                    .value(C::ProgressFraction, None::<f64>)
                    .value(C::ProgressMessage, None::<String>)
                    .cond_where(
                        Condition::all()
                            .add(Expr::col(C::Id).eq(id))
                            .add(Expr::col(C::Attempt).eq(attempt - 1))
                            .add(claimable),
                    )
                    .to_owned();
                if txn.execute(&update).await.map_err(db_err)?.rows_affected() == 1 {
                    applied.insert(id);
                }
            }
        }
        txn.commit().await.map_err(db_err)?;
        Ok(applied)
    }

    /// The records of `ids` that exist, in no particular order.
    pub(crate) async fn records_of(&self, ids: &[TaskId]) -> Result<Vec<TaskRecord>, Error> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(sql::BATCH_ROWS) {
            let rows = task::Entity::find()
                .filter(Expr::col(C::Id).is_in(chunk.iter().copied()))
                .all(self.db())
                .await
                .map_err(db_err)?;
            found.extend(records(rows)?);
        }
        Ok(found)
    }

    /// Up to `limit` pending records after `after`, in sweep order: one
    /// page of a sweep that pushes every pending task.
    pub(crate) async fn pending_after(
        &self,
        after: Option<SweepCursor>,
        limit: u64,
    ) -> Result<Vec<TaskRecord>, Error> {
        let rows = sweep_page(task::Entity::find(), after, limit)
            .all(self.db())
            .await
            .map_err(db_err)?;
        records(rows)
    }

    /// The ids and queues of up to `limit` pending tasks after `after`, in
    /// sweep order, and the cursor of the last: one page of a sweep over
    /// every pending task, which reads whole records only for what the
    /// delivery path lacks.
    pub(crate) async fn pending_ids_after(
        &self,
        after: Option<SweepCursor>,
        limit: u64,
    ) -> Result<(Vec<(TaskId, String)>, Option<SweepCursor>), Error> {
        let select = task::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::Queue)
            .column(C::CreatedAt);
        let rows: Vec<(TaskId, String, DateTime<Utc>)> = sweep_page(select, after, limit)
            .into_tuple()
            .all(self.db())
            .await
            .map_err(db_err)?;
        let last = rows.last().map(|(id, _, created)| (*created, *id));
        Ok((
            rows.into_iter().map(|(id, queue, _)| (id, queue)).collect(),
            last,
        ))
    }

    /// The queues with a limit, and their limits.
    pub(crate) async fn queue_limits(&self) -> Result<Vec<(String, u32)>, Error> {
        let rows: Vec<(String, Option<i64>)> = queue::Entity::find()
            .select_only()
            .column(queue::Column::Name)
            .column(queue::Column::RunningLimit)
            .filter(Expr::col(queue::Column::RunningLimit).is_not_null())
            .into_tuple()
            .all(self.db())
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|(queue, limit)| Some((queue, u32::try_from(limit?).ok()?)))
            .collect())
    }

    /// The queues with a rate limit, and their rate limits.
    pub(crate) async fn queue_rates(&self) -> Result<Vec<(String, RateLimit)>, Error> {
        let rows = queue::Entity::find()
            .filter(Expr::col(queue::Column::RateStarts).is_not_null())
            .all(self.db())
            .await
            .map_err(db_err)?;
        let mut rates = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some((limit, _)) = crate::broker::stored_rate(&row)? {
                rates.push((row.name, limit));
            }
        }
        Ok(rates)
    }

    /// The names of the paused queues.
    pub(crate) async fn paused_queues(&self) -> Result<Vec<String>, Error> {
        queue::Entity::find()
            .select_only()
            .column(queue::Column::Name)
            .filter(Expr::col(queue::Column::Paused).eq(true))
            .into_tuple()
            .all(self.db())
            .await
            .map_err(db_err)
    }
}

/// Where a sweep over pending tasks goes on: the `(created_at, id)` of the
/// last task it read.
pub(crate) type SweepCursor = (DateTime<Utc>, TaskId);

/// Pending tasks after `after` by `(created_at, id)`: the order of the
/// `(state, created_at, id)` index, so each page is a range read of it
/// (ordering by id alone made SQLite read and sort every pending row for
/// each page).
fn sweep_page(
    select: sea_orm::Select<task::Entity>,
    after: Option<SweepCursor>,
    limit: u64,
) -> sea_orm::Select<task::Entity> {
    let mut select = select.filter(state_is(TaskState::Pending));
    if let Some((created, id)) = after {
        select = select.filter(
            Expr::tuple([Expr::col(C::CreatedAt), Expr::col(C::Id)])
                .gt(Expr::tuple([Expr::val(created), Expr::val(id)])),
        );
    }
    select
        .order_by_asc(C::CreatedAt)
        .order_by_asc(C::Id)
        .limit(limit)
}
