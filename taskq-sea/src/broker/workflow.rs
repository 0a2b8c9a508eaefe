//! Workflow steps in SQL: the cascade a step's end starts
//! (`lifecycle::parent_ended` for each child, in the transaction that
//! ends the step) and the resume a step's retry makes
//! (`lifecycle::plan_resume`).
//!
//! The children's rows are read and locked in one statement per round of
//! the cascade and written back once each, so a settle batch that ends
//! many parents of one chord callback costs one read and one write of the
//! callback, not one per parent.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect};
use taskq_core::lifecycle::{self, Arrival, Resume};
use taskq_core::{Error, TaskId, TaskRecord, TaskState, WorkflowStep};

use super::statements::set_error;
use crate::backend::db_err;
use crate::convert::{count_to_db, records};
use crate::entity::task::{self, Column as C};
use crate::store::IN_CHUNK;

/// What a cascade did, for the caller to announce once committed.
#[derive(Debug, Default)]
pub(crate) struct Cascade {
    /// Steps a parent's failure cancelled.
    pub(crate) ended: Vec<TaskId>,
    /// Steps that became pending (a delivery path must take them).
    pub(crate) released: Vec<TaskId>,
}

/// The records of `ids`, locked for update where the database has row
/// locks (SQLite's write transaction already excludes every writer).
async fn locked(db: &impl ConnectionTrait, ids: &[TaskId]) -> Result<Vec<TaskRecord>, Error> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let mut select = task::Entity::find().filter(Expr::col(C::Id).is_in(chunk.iter().copied()));
        if db.get_database_backend() != DbBackend::Sqlite {
            select = select.lock_exclusive();
        }
        found.extend(records(select.all(db).await.map_err(db_err)?)?);
    }
    Ok(found)
}

/// Applies the ends of `ended` (steps that reached a terminal state in
/// this transaction) to their children, and the ends of the children that
/// cancels to theirs, until nothing moves. `ended` may hold ids that are
/// not steps or not ended; they change nothing.
pub(crate) async fn steps_ended(
    db: &impl ConnectionTrait,
    ended: &[TaskId],
    now: DateTime<Utc>,
) -> Result<Cascade, Error> {
    let mut cascade = Cascade::default();
    if ended.is_empty() {
        return Ok(cascade);
    }
    let mut edges = ended_edges(db, ended).await?;
    while !edges.is_empty() {
        let mut wanted: Vec<TaskId> = edges.iter().map(|e| e.0).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut children: HashMap<TaskId, TaskRecord> = locked(db, &wanted)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut changed = HashSet::new();
        let mut next = Vec::new();
        for (child, parent, state) in edges.drain(..) {
            let Some(record) = children.get_mut(&child) else {
                continue;
            };
            match lifecycle::parent_ended(record, parent, state, now) {
                Arrival::Ignored => continue,
                Arrival::Counted => {}
                Arrival::Released => cascade.released.push(child),
                Arrival::Cancelled => {
                    next.extend(lifecycle::ended_edges(record));
                    cascade.ended.push(child);
                }
            }
            changed.insert(child);
        }
        for id in changed {
            if let Some(record) = children.get(&id) {
                write_step(db, record, TaskState::Waiting).await?;
            }
        }
        edges = next;
    }
    Ok(cascade)
}

/// The edges the ends of `ended` travel ([`lifecycle::ended_edges`]),
/// reading of each step only its id, state and step (not its params or
/// result, which may be large); ids that are not steps read nothing.
async fn ended_edges(
    db: &impl ConnectionTrait,
    ended: &[TaskId],
) -> Result<Vec<(TaskId, TaskId, TaskState)>, Error> {
    let mut edges = Vec::new();
    for chunk in ended.chunks(IN_CHUNK) {
        let rows: Vec<(uuid::Uuid, String, Option<serde_json::Value>)> = task::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::State)
            .column(C::WorkflowStep)
            .filter(Expr::col(C::Id).is_in(chunk.iter().copied()))
            .filter(Expr::col(C::WorkflowId).is_not_null())
            .into_tuple()
            .all(db)
            .await
            .map_err(db_err)?;
        for (id, state, step) in rows {
            let corrupt =
                |what: &str| Error::backend(format!("task {id}: stored {what} is invalid"));
            let state = state.parse::<TaskState>().map_err(|_| corrupt("state"))?;
            let step: Option<WorkflowStep> = step
                .map(serde_json::from_value)
                .transpose()
                .map_err(|_| corrupt("workflow_step"))?;
            edges.extend(lifecycle::step_ended_edges(id, state, step.as_ref()));
        }
    }
    Ok(edges)
}

/// Writes what the workflow rules change on a step's row, fenced on the
/// state it had.
async fn write_step(
    db: &impl ConnectionTrait,
    record: &TaskRecord,
    was: TaskState,
) -> Result<(), Error> {
    let waiting_on = record.step.as_ref().map_or(0, |s| s.waiting_on);
    let mut update = Query::update();
    update
        .table(task::Entity)
        .value(C::State, record.state.as_str())
        .value(C::WaitingOn, count_to_db(waiting_on))
        .value(C::ScheduledAt, record.scheduled_at)
        .value(C::Seq, record.seq)
        .value(C::FinishedAt, record.finished_at)
        .and_where(Expr::col(C::Id).eq(record.id))
        .and_where(Expr::col(C::State).eq(was.as_str()));
    match record.error.clone() {
        Some(error) => set_error(&mut update, error),
        None => {
            update
                .value(C::ErrorKind, None::<String>)
                .value(C::ErrorMessage, None::<String>);
        }
    }
    db.execute(&update).await.map_err(db_err)?;
    Ok(())
}

/// The resume plan of a retry of `record`, read from its workflow's
/// rows (`Ok(empty)` for a task that is not a step).
pub(crate) async fn plan_resume(
    db: &impl ConnectionTrait,
    record: &TaskRecord,
) -> Result<Vec<Resume>, Error> {
    let Some(step) = &record.step else {
        return Ok(Vec::new());
    };
    let rows = records(
        task::Entity::find()
            .filter(Expr::col(C::WorkflowId).eq(step.workflow))
            .all(db)
            .await
            .map_err(db_err)?,
    )?;
    let by_id: HashMap<TaskId, TaskRecord> = rows.into_iter().map(|r| (r.id, r)).collect();
    lifecycle::plan_resume(record, &mut |id| by_id.get(&id).cloned())
}

/// Applies a resume plan in the retry's transaction.
pub(crate) async fn apply_resume(db: &impl ConnectionTrait, plan: &[Resume]) -> Result<(), Error> {
    let ids: Vec<TaskId> = plan
        .iter()
        .map(|r| match r {
            Resume::Rewait { id, .. } | Resume::CountAgain { id } => *id,
        })
        .collect();
    let mut rows: HashMap<TaskId, TaskRecord> = locked(db, &ids)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    for change in plan {
        let (Resume::Rewait { id, .. } | Resume::CountAgain { id }) = change;
        if let Some(record) = rows.get_mut(id) {
            let was = record.state;
            lifecycle::apply_resume(record, *change);
            write_step(db, record, was).await?;
        }
    }
    Ok(())
}
