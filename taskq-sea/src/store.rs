//! [`Store`] for [`SeaBackend`]: reading records, progress, housekeeping.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LikeExpr, Query};
use sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use taskq_core::backend::{
    Page, PageRequest, PendingByType, QueueStats, Store, TaskFilter, TypeLimitStats,
    check_purge_states,
};
use taskq_core::ends::TaskEnds;
use taskq_core::{Error, Progress, TaskId, TaskRecord, TaskState, WorkflowId};

use crate::backend::{SeaBackend, db_err};
use crate::broker::{MAX_SQL_INT, running_attempt};
use crate::convert::records;
use crate::entity::queue;
use crate::entity::task::{self, Column as C};
use crate::labels;
use crate::sql::{state_in, state_is};

/// Rows one purge statement deletes, so a large purge does not hold the
/// write lock (and stall workers) for long.
const PURGE_CHUNK: u64 = 2000;

/// Ids per `IN (…)` list: well under SQLite's 32766 bound variables and
/// the statement sizes the servers take.
pub(crate) const IN_CHUNK: usize = 1000;

#[async_trait]
impl Store for SeaBackend {
    /// One `SELECT id, state … WHERE id IN (…)`.
    async fn task_states(&self, ids: &[TaskId]) -> Result<Vec<(TaskId, TaskState)>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(uuid::Uuid, String)> = task::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::State)
            .filter(Expr::col(C::Id).is_in(ids.iter().copied()))
            .into_tuple()
            .all(self.db())
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(id, state)| Ok((id, state.parse()?)))
            .collect()
    }

    /// `SELECT … WHERE id IN (…)`, a thousand ids at a time.
    async fn get_many(&self, ids: &[TaskId]) -> Result<Vec<TaskRecord>, Error> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let rows = task::Entity::find()
                .filter(Expr::col(C::Id).is_in(chunk.iter().copied()))
                .all(self.db())
                .await
                .map_err(db_err)?;
            found.extend(records(rows)?);
        }
        Ok(found)
    }

    /// By the `workflow_id` index.
    async fn workflow_steps(&self, workflow: WorkflowId) -> Result<Vec<TaskRecord>, Error> {
        let rows = task::Entity::find()
            .filter(Expr::col(C::WorkflowId).eq(workflow))
            .all(self.db())
            .await
            .map_err(db_err)?;
        records(rows)
    }

    fn task_ends(&self) -> Option<Arc<TaskEnds>> {
        Some(self.ends())
    }

    /// The inherent [`SeaBackend::migrate`].
    async fn migrate(&self) -> Result<(), Error> {
        SeaBackend::migrate(self).await
    }

    async fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, Error> {
        task::Entity::find_by_id(id)
            .one(self.db())
            .await
            .map_err(db_err)?
            .map(TaskRecord::try_from)
            .transpose()
    }

    async fn list(
        &self,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<Page<TaskRecord>, Error> {
        let mut condition = Condition::all();
        if let Some(state) = filter.state {
            condition = condition.add(state_is(state));
        }
        if let Some(task_type) = &filter.task_type {
            condition = condition.add(Expr::col(C::TaskType).eq(task_type.as_str()));
        }
        if let Some(queue) = &filter.queue {
            condition = condition.add(Expr::col(C::Queue).eq(queue.as_str()));
        }
        if let Some(after) = filter.created_after {
            condition = condition.add(Expr::col(C::CreatedAt).gte(after));
        }
        if let Some(before) = filter.created_before {
            condition = condition.add(Expr::col(C::CreatedAt).lt(before));
        }
        // `lifecycle::has_tags`: `,a,b,` holds `,a,` for each tag wanted
        // (`_`, a tag character, is a LIKE wildcard: escaped).
        for tag in &filter.tags {
            let pattern = format!("%,{},%", tag.replace('!', "!!").replace('_', "!_"));
            condition = condition.add(Expr::col(C::Tags).like(LikeExpr::new(pattern).escape('!')));
        }
        if let Some(schedule) = &filter.schedule {
            condition = condition.add(Expr::col(C::Schedule).eq(schedule.as_str()));
        }
        let backend = self.db().get_database_backend();
        for (key, value) in &filter.metadata {
            condition = condition.add(labels::metadata_is(backend, key, value)?);
        }
        let select = task::Entity::find().filter(condition);
        // One snapshot for the count and the page.
        let txn = self.read_txn().await?;
        let total = select.clone().count(&txn).await.map_err(db_err)?;
        let rows = select
            .order_by_desc(C::CreatedAt)
            .order_by_desc(C::Id)
            // Within SQL's integer range.
            .offset(Ord::min(page.offset(), MAX_SQL_INT))
            .limit(Ord::min(page.page_size, MAX_SQL_INT))
            .all(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(Page {
            items: records(rows)?,
            total,
            page: page.page,
            page_size: page.page_size,
        })
    }

    async fn record_progress(
        &self,
        id: TaskId,
        attempt: u32,
        progress: Progress,
    ) -> Result<bool, Error> {
        let statement = Query::update()
            .table(task::Entity)
            .value(C::ProgressFraction, progress.fraction)
            .value(C::ProgressMessage, progress.message)
            .cond_where(running_attempt(id, attempt))
            .to_owned();
        let result = self.db().execute(&statement).await.map_err(db_err)?;
        Ok(result.rows_affected() == 1)
    }

    async fn delete_task(&self, id: TaskId) -> Result<TaskRecord, Error> {
        let record = self.get(id).await?.ok_or(Error::NotFound(id))?;
        let invalid = |state| Error::InvalidTransition {
            id,
            state,
            action: "delete",
        };
        if !record.state.is_terminal() {
            return Err(invalid(record.state));
        }
        // Fenced on an ended state: a retry that raced this read keeps
        // its task.
        let ended = TaskState::ALL.into_iter().filter(|s| s.is_terminal());
        let result = task::Entity::delete_many()
            .filter(Expr::col(C::Id).eq(id))
            .filter(state_in(ended))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        if result.rows_affected == 1 {
            return Ok(record);
        }
        match self.get(id).await? {
            Some(now) => Err(invalid(now.state)),
            None => Err(Error::NotFound(id)),
        }
    }

    async fn purge(&self, states: &[TaskState], before: DateTime<Utc>) -> Result<u64, Error> {
        check_purge_states(states)?;
        if states.is_empty() {
            return Ok(0);
        }
        let doomed = Condition::all()
            .add(state_in(states.iter().copied()))
            .add(Expr::col(C::FinishedAt).lt(before));
        let mut purged = 0;
        let mysql = self.db().get_database_backend() == DbBackend::MySql;
        loop {
            let mut statement = Query::delete();
            statement.from_table(task::Entity);
            if mysql {
                // MySQL refuses a subquery on the table it deletes from,
                // and has `DELETE … LIMIT` instead.
                statement.cond_where(doomed.clone()).limit(PURGE_CHUNK);
            } else {
                let batch = Query::select()
                    .column(C::Id)
                    .from(task::Entity)
                    .cond_where(doomed.clone())
                    .limit(PURGE_CHUNK)
                    .to_owned();
                statement.and_where(Expr::col(C::Id).in_subquery(batch));
            }
            let deleted = self
                .db()
                .execute(&statement)
                .await
                .map_err(db_err)?
                .rows_affected();
            purged += deleted;
            if deleted < PURGE_CHUNK {
                return Ok(purged);
            }
        }
    }

    async fn type_limits(&self) -> Result<Vec<TypeLimitStats>, Error> {
        self.read_type_limits().await
    }

    async fn queue_stats(&self) -> Result<Vec<QueueStats>, Error> {
        let now = Utc::now();
        let txn = self.read_txn().await?;

        // Every queue with a task, whatever its state.
        let queues: Vec<String> = task::Entity::find()
            .select_only()
            .column(C::Queue)
            .distinct()
            .into_tuple()
            .all(&txn)
            .await
            .map_err(db_err)?;

        // Live tasks per queue. COUNT of a CASE without ELSE (NULL
        // otherwise) is a 64-bit integer everywhere; SUM is a DECIMAL on MySQL.
        let count_if = |condition: Condition| Expr::case(condition, 1).count();
        let statement = Query::select()
            .column(C::Queue)
            .expr_as(
                count_if(
                    Condition::all()
                        .add(state_is(TaskState::Pending))
                        .add(Expr::col(C::ScheduledAt).lte(now)),
                ),
                "pending",
            )
            .expr_as(
                count_if(
                    Condition::all()
                        .add(state_is(TaskState::Pending))
                        .add(Expr::col(C::ScheduledAt).gt(now)),
                ),
                "scheduled",
            )
            .expr_as(
                count_if(Condition::all().add(state_is(TaskState::Running))),
                "running",
            )
            .from(task::Entity)
            .and_where(state_in([TaskState::Pending, TaskState::Running]))
            .group_by_col(C::Queue)
            .to_owned();
        let live = txn.query_all(&statement).await.map_err(db_err)?;

        // Paused, limited, rate-limited or fair queues, with tasks or not.
        let settings = queue::Entity::find().all(&txn).await.map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;

        let mut stats: BTreeMap<String, QueueStats> = BTreeMap::new();
        let entry = |stats: &mut BTreeMap<String, QueueStats>, queue: String| {
            stats.entry(queue.clone()).or_insert_with(|| QueueStats {
                queue,
                ..QueueStats::default()
            });
        };
        for queue in queues {
            entry(&mut stats, queue);
        }
        for row in live {
            let count = |column: &str| -> Result<u64, Error> {
                let n: Option<i64> = row.try_get("", column).map_err(db_err)?;
                Ok(n.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
            };
            let queue: String = row.try_get("", "queue").map_err(db_err)?;
            let counts = QueueStats {
                pending: count("pending")?,
                scheduled: count("scheduled")?,
                running: count("running")?,
                queue: queue.clone(),
                ..QueueStats::default()
            };
            stats.insert(queue, counts);
        }
        for row in settings {
            entry(&mut stats, row.name.clone());
            if let Some(s) = stats.get_mut(&row.name) {
                s.paused = row.paused;
                s.limit = row.running_limit.and_then(|l| u32::try_from(l).ok());
                s.fair = row.fair_round.is_some();
                if let Some((limit, tat)) = crate::broker::stored_rate(&row)? {
                    s.rate_limit = Some(limit);
                    s.rate_held_until = taskq_core::lifecycle::rate_next_start(&limit, tat, now);
                }
            }
        }
        Ok(stats.into_values().collect())
    }

    async fn pending_by_type(&self) -> Result<Vec<PendingByType>, Error> {
        // Pending rows only: the literal `state = 'PENDING'` lets the
        // planner read the partial claim index (queue, state, …), so the
        // cost follows the pending tasks, not every record.
        let statement = Query::select()
            .column(C::Queue)
            .column(C::TaskType)
            .expr_as(Expr::col(C::Id).count(), "pending")
            .from(task::Entity)
            .and_where(state_is(TaskState::Pending))
            .group_by_col(C::Queue)
            .group_by_col(C::TaskType)
            .order_by(C::Queue, sea_orm::Order::Asc)
            .order_by(C::TaskType, sea_orm::Order::Asc)
            .to_owned();
        let rows = self.db().query_all(&statement).await.map_err(db_err)?;
        rows.into_iter()
            .map(|row| {
                let count: i64 = row.try_get("", "pending").map_err(db_err)?;
                Ok(PendingByType {
                    queue: row.try_get("", "queue").map_err(db_err)?,
                    task_type: row.try_get("", "task_type").map_err(db_err)?,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }
}
