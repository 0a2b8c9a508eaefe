//! [`ScheduleStore`] for [`SeaBackend`], on `taskq_schedules`, and the
//! conversion between [`Schedule`] and its row.
//!
//! A firing is one write transaction: a compare-and-set `UPDATE` of
//! `next_run_at` (fenced on the value the scheduler read, and on
//! `revision`), then the tasks' `INSERT` only if that update hit the row,
//! skipping ids already stored (a tick's task id is the tick's).
//! Two schedulers that planned the same tick both run the `UPDATE`; the
//! second one's `WHERE` no longer matches, so it inserts nothing.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, DatabaseTransaction, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use std::sync::Arc;
use taskq_core::Error;
use taskq_core::backend::{Page, PageRequest, ScheduleStore};
use taskq_core::schedule::{MisfirePolicy, Schedule, ScheduleDef, ScheduleFiring, ScheduleKind};
use tokio::sync::Notify;

use crate::backend::{SeaBackend, db_err};
use crate::broker::MAX_SQL_INT;
use crate::convert::duration_to_ms;
use crate::entity::schedule::{self, Column as C};
use crate::entity::task;

/// Rows per multi-row task `INSERT` of one firing (as in `enqueue`).
const INSERT_CHUNK: usize = 400;

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<&Schedule> for schedule::Model {
    fn from(s: &Schedule) -> Self {
        let def = &s.def;
        let (kind, run_at, every_ms, cron_expression, time_zone) = match &def.kind {
            ScheduleKind::Once { at } => ("once", Some(*at), None, None, None),
            ScheduleKind::Interval { every } => {
                ("interval", None, Some(duration_to_ms(*every)), None, None)
            }
            ScheduleKind::Cron {
                expression,
                time_zone,
            } => (
                "cron",
                None,
                None,
                Some(expression.clone()),
                Some(time_zone.clone()),
            ),
        };
        let (misfire, misfire_max) = match def.misfire {
            MisfirePolicy::Skip => ("skip", None),
            MisfirePolicy::RunOnce => ("run_once", None),
            MisfirePolicy::RunEach { max } => {
                ("run_each", Some(i32::try_from(max).unwrap_or(i32::MAX)))
            }
        };
        schedule::Model {
            name: def.name.clone(),
            task_type: def.task_type.clone(),
            params: def.params.clone(),
            workflow: def
                .workflow
                .as_ref()
                .and_then(|spec| serde_json::to_value(spec).ok()),
            kind: kind.to_owned(),
            run_at,
            every_ms,
            cron_expression,
            time_zone,
            enabled: def.enabled,
            start_at: def.start_at,
            end_at: def.end_at,
            max_runs: def.max_runs.map(to_i64),
            queue: def.queue.clone(),
            priority: def.priority,
            description: def.description.clone(),
            misfire: misfire.to_owned(),
            misfire_max,
            last_run_at: s.last_run_at,
            next_run_at: s.next_run_at,
            run_count: to_i64(s.run_count),
            last_task_id: s.last_task_id,
            revision: to_i64(s.revision),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

impl TryFrom<schedule::Model> for Schedule {
    type Error = Error;

    fn try_from(row: schedule::Model) -> Result<Self, Error> {
        let name = row.name.clone();
        let corrupt =
            |what: &str| Error::backend(format!("schedule `{name}`: stored {what} is invalid"));
        let kind = match row.kind.as_str() {
            "once" => ScheduleKind::Once {
                at: row.run_at.ok_or_else(|| corrupt("run_at"))?,
            },
            "interval" => ScheduleKind::Interval {
                every: row
                    .every_ms
                    .and_then(|ms| u64::try_from(ms).ok())
                    .map(Duration::from_millis)
                    .ok_or_else(|| corrupt("every_ms"))?,
            },
            "cron" => ScheduleKind::Cron {
                expression: row
                    .cron_expression
                    .ok_or_else(|| corrupt("cron_expression"))?,
                time_zone: row.time_zone.unwrap_or_else(|| "UTC".to_owned()),
            },
            _ => return Err(corrupt("kind")),
        };
        let misfire = match (row.misfire.as_str(), row.misfire_max) {
            ("skip", _) => MisfirePolicy::Skip,
            ("run_once", _) => MisfirePolicy::RunOnce,
            ("run_each", Some(max)) => MisfirePolicy::RunEach {
                max: u32::try_from(max).map_err(|_| corrupt("misfire_max"))?,
            },
            _ => return Err(corrupt("misfire")),
        };
        Ok(Schedule {
            def: ScheduleDef {
                name: row.name,
                task_type: row.task_type,
                params: row.params,
                workflow: row
                    .workflow
                    .map(serde_json::from_value)
                    .transpose()
                    .map_err(|_| corrupt("workflow"))?,
                kind,
                enabled: row.enabled,
                start_at: row.start_at,
                end_at: row.end_at,
                max_runs: row.max_runs.map(|n| u64::try_from(n).unwrap_or(0)),
                queue: row.queue,
                priority: row.priority,
                description: row.description,
                misfire,
            },
            last_run_at: row.last_run_at,
            next_run_at: row.next_run_at,
            run_count: u64::try_from(row.run_count).unwrap_or(0),
            last_task_id: row.last_task_id,
            revision: u64::try_from(row.revision).map_err(|_| corrupt("revision"))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn schedules(rows: Vec<schedule::Model>) -> Result<Vec<Schedule>, Error> {
    rows.into_iter().map(Schedule::try_from).collect()
}

#[async_trait]
impl ScheduleStore for SeaBackend {
    async fn create_schedule(&self, schedule: Schedule) -> Result<(), Error> {
        let row = schedule::Model::from(&schedule).into_active_model();
        match schedule::Entity::insert(row)
            .exec_without_returning(self.db())
            .await
        {
            Ok(_) => {}
            Err(err) => {
                return Err(match err.sql_err() {
                    Some(SqlErr::UniqueConstraintViolation(_)) => {
                        Error::ScheduleExists(schedule.def.name)
                    }
                    _ => db_err(err),
                });
            }
        }
        self.schedules_changed().await;
        Ok(())
    }

    async fn update_schedule(&self, schedule: &Schedule) -> Result<(), Error> {
        // Every column marked as changed, then the bookkeeping left out.
        let mut row = schedule::Model::from(schedule)
            .into_active_model()
            .reset_all();
        // The bookkeeping belongs to firings: never written by an edit.
        row.name = ActiveValue::NotSet;
        row.last_run_at = ActiveValue::NotSet;
        row.run_count = ActiveValue::NotSet;
        row.last_task_id = ActiveValue::NotSet;
        row.created_at = ActiveValue::NotSet;
        row.revision = ActiveValue::NotSet;
        let result = schedule::Entity::update_many()
            .set(row)
            .col_expr(C::Revision, Expr::col(C::Revision).add(1))
            .filter(C::Name.eq(schedule.def.name.as_str()))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        if result.rows_affected == 0 {
            return Err(Error::ScheduleNotFound(schedule.def.name.clone()));
        }
        self.schedules_changed().await;
        Ok(())
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool, Error> {
        let result = schedule::Entity::delete_by_id(name.to_owned())
            .exec(self.db())
            .await
            .map_err(db_err)?;
        if result.rows_affected > 0 {
            self.schedules_changed().await;
        }
        Ok(result.rows_affected > 0)
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>, Error> {
        schedule::Entity::find_by_id(name.to_owned())
            .one(self.db())
            .await
            .map_err(db_err)?
            .map(Schedule::try_from)
            .transpose()
    }

    async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>, Error> {
        let txn = self.read_txn().await?;
        let total = schedule::Entity::find().count(&txn).await.map_err(db_err)?;
        let rows = schedule::Entity::find()
            .order_by_asc(C::Name)
            .offset(Ord::min(page.offset(), MAX_SQL_INT))
            .limit(page.page_size)
            .all(&txn)
            .await
            .map_err(db_err)?;
        drop(txn);
        Ok(Page {
            items: schedules(rows)?,
            total,
            page: page.page,
            page_size: page.page_size,
        })
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Schedule>, Error> {
        let rows = schedule::Entity::find()
            .filter(C::Enabled.eq(true))
            .filter(C::NextRunAt.lte(now))
            .order_by_asc(C::NextRunAt)
            .limit(Ord::min(
                u64::try_from(limit).unwrap_or(MAX_SQL_INT),
                MAX_SQL_INT,
            ))
            .all(self.db())
            .await
            .map_err(db_err)?;
        schedules(rows)
    }

    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, Error> {
        schedule::Entity::find()
            .select_only()
            .column(C::NextRunAt)
            .filter(C::Enabled.eq(true))
            .filter(C::NextRunAt.is_not_null())
            .order_by_asc(C::NextRunAt)
            .limit(1)
            .into_tuple::<DateTime<Utc>>()
            .one(self.db())
            .await
            .map_err(db_err)
    }

    async fn fire_schedules(&self, mut firings: Vec<ScheduleFiring>) -> Result<Vec<bool>, Error> {
        if firings.is_empty() {
            return Ok(Vec::new());
        }
        firings
            .iter_mut()
            .for_each(taskq_core::lifecycle::name_fired_tasks);
        let mut txn = self.write_txn().await?;
        // Usually every compare-and-set holds (one scheduler, or the first
        // of several): then the whole tick is one UPDATE and one INSERT
        // per chunk, a few round trips whatever the number of firings. If
        // any lost its race, that attempt is rolled back and each firing
        // is tried on its own, to know which.
        let applied = if firings.len() > 1 && claim_all(&txn, &firings).await? == firings.len() {
            insert_tasks(&txn, firings.iter().flat_map(|f| f.tasks.iter().cloned())).await?;
            vec![true; firings.len()]
        } else {
            if firings.len() > 1 {
                txn.rollback().await.map_err(db_err)?;
                txn = self.write_txn().await?;
            }
            let mut applied = Vec::with_capacity(firings.len());
            for firing in &firings {
                let claimed = claim_all(&txn, std::slice::from_ref(firing)).await? == 1;
                if claimed {
                    insert_tasks(&txn, firing.tasks.iter().cloned()).await?;
                }
                applied.push(claimed);
            }
            applied
        };
        let submitted = firings
            .iter()
            .zip(&applied)
            .any(|(firing, applied)| *applied && !firing.tasks.is_empty());
        if submitted {
            // Other processes' idle workers (PostgreSQL NOTIFY, sent at
            // commit); this process's through `notify` below.
            self.notify_others(&txn).await?;
        }
        txn.commit().await.map_err(db_err)?;
        if submitted {
            self.notify();
        }
        Ok(applied)
    }

    fn schedule_signal(&self) -> Option<Arc<Notify>> {
        Some(SeaBackend::schedule_signal(self))
    }
}

/// Applies the bookkeeping of `firings` in one statement, each row only
/// while its schedule still waits for the tick the firing was planned
/// from, unedited since (the compare-and-set); returns how many rows it
/// updated. Names must be distinct for the count to say that all held.
async fn claim_all(txn: &DatabaseTransaction, firings: &[ScheduleFiring]) -> Result<usize, Error> {
    // `CASE name WHEN … THEN …` per column: one row's new values each.
    fn per_row<T: Into<Expr>>(
        firings: &[ScheduleFiring],
        value: impl Fn(&ScheduleFiring) -> Option<T>,
        otherwise: Expr,
    ) -> Option<Expr> {
        let mut arms = firings
            .iter()
            .filter_map(|f| value(f).map(|v| (C::Name.eq(f.name.as_str()), v)));
        let (first_when, first_then) = arms.next()?;
        let case = arms.fold(Expr::case(first_when, first_then), |case, (when, then)| {
            case.case(when, then)
        });
        Some(case.finally(otherwise).into())
    }

    let mut update = schedule::Entity::update_many();
    let columns = [
        (
            C::NextRunAt,
            per_row(
                firings,
                |f| Some(Expr::value(f.next_run_at)),
                Expr::col(C::NextRunAt),
            ),
        ),
        (
            C::RunCount,
            per_row(
                firings,
                |f| Some(Expr::col(C::RunCount).add(i64::try_from(f.runs()).unwrap_or(i64::MAX))),
                Expr::col(C::RunCount),
            ),
        ),
        (
            C::LastRunAt,
            per_row(
                firings,
                |f| (!f.tasks.is_empty()).then(|| Expr::value(Some(f.fired_at))),
                Expr::col(C::LastRunAt),
            ),
        ),
        (
            C::LastTaskId,
            per_row(
                firings,
                |f| f.last_task().map(|last| Expr::value(Some(last.id))),
                Expr::col(C::LastTaskId),
            ),
        ),
    ];
    for (column, value) in columns {
        if let Some(value) = value {
            update = update.col_expr(column, value);
        }
    }
    let waiting = firings.iter().fold(Condition::any(), |any, f| {
        let expected_next = match f.expected_next_run_at {
            Some(at) => C::NextRunAt.eq(at),
            None => C::NextRunAt.is_null(),
        };
        any.add(
            Condition::all()
                .add(C::Name.eq(f.name.as_str()))
                .add(C::Revision.eq(to_i64(f.expected_revision)))
                .add(expected_next),
        )
    });
    let updated = update
        .filter(waiting)
        .exec(txn)
        .await
        .map_err(db_err)?
        .rows_affected;
    Ok(usize::try_from(updated).unwrap_or(usize::MAX))
}

/// Inserts a firing's tasks. A tick's task id is the tick's: one already
/// stored was queued by an earlier firing of this tick (see
/// `ScheduleStore`), so it counts as queued, and the conflicting insert
/// must not abort the transaction.
async fn insert_tasks(
    txn: &DatabaseTransaction,
    tasks: impl Iterator<Item = taskq_core::TaskRecord>,
) -> Result<(), Error> {
    let mut tasks: Vec<_> = tasks.collect();
    // Those stored already are left out before they take a fair round.
    let stored: Vec<uuid::Uuid> = task::Entity::find()
        .select_only()
        .column(task::Column::Id)
        .filter(task::Column::Id.is_in(tasks.iter().map(|t| t.id)))
        .into_tuple()
        .all(txn)
        .await
        .map_err(db_err)?;
    tasks.retain(|t| !stored.contains(&t.id));
    crate::broker::assign_fair_rounds(txn, &mut tasks).await?;
    let mut rows = tasks
        .into_iter()
        .map(|t| task::Model::from(t).into_active_model());
    loop {
        let chunk: Vec<task::ActiveModel> = rows.by_ref().take(INSERT_CHUNK).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        task::Entity::insert_many(chunk)
            .on_conflict_do_nothing()
            .exec_without_returning(txn)
            .await
            .map_err(db_err)?;
    }
}
