//! Unique tasks in SQL: `lifecycle`'s "submit (unique)" rule, inside the
//! transaction that inserts the batch.
//!
//! Per task with a key, `taskq_unique_keys` gets a row (queue, key) → id.
//! A new key is one insert that does nothing on a conflict. On a conflict
//! the row is read with a row lock (`FOR UPDATE`; SQLite's write
//! transaction holds the whole database) and the task it names with a
//! shared lock, so a concurrent submit of the same key waits for this
//! transaction and then sees its holder, committed: the check and the
//! write cannot interleave with another's. A holder that no longer holds
//! ([`lifecycle::holds_unique`]) hands the row over to the new task.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockType, Query};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement,
};
use taskq_core::{Enqueued, Error, TaskId, TaskRecord, lifecycle};
use uuid::Uuid;

use crate::backend::db_err;
use crate::entity::task;
use crate::entity::unique_key::{self, Column as K};

/// Takes the unique keys of `tasks` through `db` (a transaction), and
/// says which tasks are duplicates: the caller inserts the others.
pub(super) async fn take_keys(
    db: &impl ConnectionTrait,
    tasks: &[TaskRecord],
    now: DateTime<Utc>,
) -> Result<Enqueued, Error> {
    let mut enqueued = Enqueued::ALL;
    let repeats = lifecycle::unique_in_batch(tasks);
    let mut holders: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
    for (i, (task, repeat)) in tasks.iter().zip(repeats).enumerate() {
        if let Some(first) = repeat {
            holders[i] = holders[first];
            enqueued.duplicates.push((i, holders[i]));
            continue;
        }
        let Some(unique) = &task.unique else {
            continue;
        };
        if let Some(holder) = take_key(db, &task.queue, &unique.key, task.id, now)
            .await
            .map_err(db_err)?
        {
            holders[i] = holder;
            enqueued.duplicates.push((i, holder));
        }
    }
    Ok(enqueued)
}

/// Takes `key` of `queue` for `id`, or returns the task that holds it.
async fn take_key(
    db: &impl ConnectionTrait,
    queue: &str,
    key: &str,
    id: TaskId,
    now: DateTime<Utc>,
) -> Result<Option<TaskId>, DbErr> {
    let backend = db.get_database_backend();
    // MySQL's `ON DUPLICATE KEY UPDATE` reports a found row as affected
    // (the driver asks for found rows), so it ignores instead.
    let insert = match backend {
        DbBackend::MySql => {
            "INSERT IGNORE INTO taskq_unique_keys (queue, unique_key, task_id) VALUES (?, ?, ?)"
        }
        DbBackend::Postgres => {
            "INSERT INTO taskq_unique_keys (queue, unique_key, task_id) VALUES ($1, $2, $3) \
             ON CONFLICT (queue, unique_key) DO NOTHING"
        }
        _ => {
            "INSERT INTO taskq_unique_keys (queue, unique_key, task_id) VALUES (?, ?, ?) \
             ON CONFLICT (queue, unique_key) DO NOTHING"
        }
    };
    let inserted = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            insert,
            [queue.into(), key.into(), id.into()],
        ))
        .await?;
    if inserted.rows_affected() == 1 {
        return Ok(None);
    }
    // Rows of this table are never deleted, so the conflicting row is
    // there to read.
    let locked = Query::select()
        .column(K::TaskId)
        .from(unique_key::Entity)
        .and_where(Expr::col(K::Queue).eq(queue))
        .and_where(Expr::col(K::UniqueKey).eq(key))
        .lock(LockType::Update)
        .to_owned();
    let pointed: Option<Uuid> = match db.query_one(&locked).await? {
        Some(row) => Some(row.try_get("", "task_id")?),
        None => None,
    };
    if let Some(holder) = pointed.filter(|holder| *holder != id) {
        let row = task::Entity::find_by_id(holder)
            .lock(LockType::Share)
            .one(db)
            .await?;
        let held = match row.map(TaskRecord::try_from).transpose() {
            Ok(record) => record.is_some_and(|record| lifecycle::holds_unique(&record, now)),
            Err(err) => return Err(DbErr::Custom(err.to_string())),
        };
        if held {
            return Ok(Some(holder));
        }
    }
    // The key is free (its holder ended, left its period, or is gone):
    // it points at this task from now on.
    unique_key::Entity::update_many()
        .col_expr(K::TaskId, Expr::val(id))
        .filter(Expr::col(K::Queue).eq(queue))
        .filter(Expr::col(K::UniqueKey).eq(key))
        .exec(db)
        .await?;
    Ok(None)
}
