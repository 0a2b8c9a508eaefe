//! A batch of settlements as one statement (or two on MySQL): the part of
//! `Broker::settle` that each dialect writes its own way.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait, LockType, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend};
use taskq_core::{Error, TaskState};
use uuid::Uuid;

use crate::backend::db_err;
use crate::entity::task::{self, Column as C};
use crate::sql::{self, SettleRow, state_is};

/// A settlement that applied: its task, and whether that is a workflow
/// step (whose end moves its dependents).
pub(super) struct Applied {
    pub id: Uuid,
    pub step: bool,
}

/// Settles `batch` (at most one settlement per id, at most
/// [`sql::BATCH_ROWS`]) in `txn`; the settlements that applied.
///
/// SQLite and PostgreSQL: one `UPDATE … FROM (VALUES …) RETURNING`
/// ([`sql::settle_batch`]). MySQL, which returns nothing from an update:
/// a locking read of the batch's running attempts (`SELECT … FOR
/// UPDATE`, by primary key), which are then exactly the rows the one
/// multi-table update ([`sql::settle_batch_mysql`]) applies to, as no
/// other writer can move them before the commit. Two statements for the
/// batch instead of one per settlement.
pub(super) async fn settle_batch(
    txn: &DatabaseTransaction,
    batch: &[&SettleRow],
) -> Result<Vec<Applied>, Error> {
    let backend = txn.get_database_backend();
    let mut applied = Vec::with_capacity(batch.len());
    if backend != DbBackend::MySql {
        for row in txn
            .query_all_raw(sql::settle_batch(backend, batch))
            .await
            .map_err(db_err)?
        {
            applied.push(Applied {
                id: row.try_get("", "id").map_err(db_err)?,
                step: row
                    .try_get::<Option<Uuid>>("", "workflow_id")
                    .map_err(db_err)?
                    .is_some(),
            });
        }
        return Ok(applied);
    }
    let attempts: HashMap<Uuid, i32> = batch.iter().map(|row| (row.id, row.attempt)).collect();
    let running = Query::select()
        .columns([C::Id, C::Attempt, C::WorkflowId])
        .from(task::Entity)
        .and_where(Expr::col(C::Id).is_in(batch.iter().map(|row| row.id)))
        .and_where(state_is(TaskState::Running))
        .lock(LockType::Update)
        .to_owned();
    for row in txn.query_all(&running).await.map_err(db_err)? {
        let id: Uuid = row.try_get("", "id").map_err(db_err)?;
        let attempt: i32 = row.try_get("", "attempt").map_err(db_err)?;
        // `lifecycle::settle`: only the attempt that runs settles.
        if attempts.get(&id) == Some(&attempt) {
            applied.push(Applied {
                id,
                step: row
                    .try_get::<Option<Uuid>>("", "workflow_id")
                    .map_err(db_err)?
                    .is_some(),
            });
        }
    }
    if applied.is_empty() {
        return Ok(applied);
    }
    let ids: HashSet<Uuid> = applied.iter().map(|a| a.id).collect();
    let rows: Vec<&SettleRow> = batch
        .iter()
        .copied()
        .filter(|row| ids.contains(&row.id))
        .collect();
    let updated = txn
        .execute_raw(sql::settle_batch_mysql(&rows))
        .await
        .map_err(db_err)?
        .rows_affected();
    // The read locked these rows: a difference means the statement and
    // the read disagree, and the caller's transaction must not commit.
    if updated != rows.len() as u64 {
        return Err(Error::backend(format!(
            "settling {} locked attempts updated {updated} rows",
            rows.len()
        )));
    }
    Ok(applied)
}
