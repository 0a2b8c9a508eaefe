//! New tasks: multi-row inserts, in a transaction of the host's
//! (`SeaBackend::enqueue_in`) or of the backend's own, and the error
//! that names a duplicate id.

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, ValueTuple};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IntoActiveModel, Iterable,
    QueryFilter, QuerySelect, SqlErr, Value,
};
use taskq_core::lifecycle;
use taskq_core::{Enqueued, Error, TaskId, TaskRecord};
use uuid::Uuid;

use super::unique;
use crate::backend::{SeaBackend, db_err};
use crate::entity::task::{self, Column as C};

/// Rows per multi-row `INSERT`: 23 columns × 400 rows stays well under
/// SQLite's (32766), PostgreSQL's and MySQL's (65535) parameter limits.
const INSERT_CHUNK: usize = 400;

/// Inserts new task rows through `db`, in multi-row chunks.
async fn insert(db: &impl ConnectionTrait, tasks: Vec<TaskRecord>) -> Result<(), sea_orm::DbErr> {
    let mut rows = tasks
        .into_iter()
        .map(|t| task::Model::from(t).into_active_model());
    loop {
        let chunk: Vec<task::ActiveModel> = rows.by_ref().take(INSERT_CHUNK).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        task::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
}

/// Inserts `tasks` (at most [`INSERT_CHUNK`]) in one statement unless a
/// queue of theirs is fair; whether it inserted them:
///
/// ```sql
/// INSERT INTO taskq_tasks (id, …) SELECT column1, … FROM (VALUES (?, …), …) AS v
/// WHERE NOT EXISTS (SELECT 1 FROM taskq_queues
///                   WHERE name IN (…) AND fair_round IS NOT NULL)
/// ```
///
/// The guard costs a primary-key probe per queue in the statement, not a
/// round trip before it. SQLite and PostgreSQL (both name a `VALUES`
/// list's columns `column1`, …); MySQL reads first (`fair::any_fair`).
async fn insert_unless_fair(
    db: &impl ConnectionTrait,
    tasks: &[TaskRecord],
) -> Result<bool, DbErr> {
    if tasks.is_empty() {
        return Ok(true);
    }
    let columns: Vec<C> = C::iter().collect();
    let rows = tasks.iter().map(|t| {
        let row = task::Model::from(t.clone()).into_active_model();
        ValueTuple::Many(
            columns
                .iter()
                .map(|&c| row.get(c).into_value().unwrap_or(Value::String(None)))
                .collect(),
        )
    });
    let mut select = Query::select();
    for n in 1..=columns.len() {
        select.column(Alias::new(format!("column{n}")));
    }
    select
        .from_values(rows, Alias::new("v"))
        .and_where(Expr::exists(super::fair::fair_queue_of(tasks)).not());
    let mut statement = Query::insert();
    statement
        .into_table(task::Entity)
        .columns(columns)
        .select_from(select)
        .map_err(|err| DbErr::Custom(err.to_string()))?;
    let inserted = db.execute(&statement).await?.rows_affected();
    Ok(inserted > 0)
}

impl SeaBackend {
    /// Enqueues new `PENDING` tasks inside the host's own transaction (or
    /// connection): they exist only if `txn` commits, and workers in other
    /// processes are woken at the commit (on PostgreSQL, by a `NOTIFY` that
    /// a rollback discards). Build the records with
    /// [`taskq_core::Submission::into_record`].
    ///
    /// ```no_run
    /// # async fn run(backend: &taskq_sea::SeaBackend, client: &taskq_core::Client)
    /// #     -> Result<(), taskq_core::Error> {
    /// use taskq_sea::sea_orm::TransactionTrait;
    /// let txn = backend.connection().begin().await.map_err(taskq_core::Error::backend)?;
    /// // … the host's own writes through `txn` …
    /// let record = client
    ///     .submit_json("send_welcome_mail", serde_json::json!({ "user": 42 }))
    ///     .into_record()?;
    /// backend.enqueue_in(&txn, vec![record]).await?;
    /// txn.commit().await.map_err(taskq_core::Error::backend)?;
    /// # Ok(()) }
    /// ```
    ///
    /// A lone task whose id is stored is [`Error::TaskExists`] (a batch
    /// with one, [`Error::InvalidArgument`]); on PostgreSQL the failed
    /// statement aborts the host's transaction, as any failed statement
    /// does there. Tasks whose unique key is held are not inserted and
    /// come back in [`Enqueued::duplicates`]; the keys taken are the
    /// host's transaction's too, so they are released by its rollback.
    pub async fn enqueue_in(
        &self,
        txn: &impl ConnectionTrait,
        tasks: Vec<TaskRecord>,
    ) -> Result<Enqueued, Error> {
        if tasks.is_empty() {
            return Ok(Enqueued::ALL);
        }
        lifecycle::check_batch_ids(&tasks)?;
        let enqueued = unique::take_keys(txn, &tasks, Utc::now()).await?;
        let mut tasks = enqueued.stored(tasks);
        super::fair::assign_rounds(txn, &mut tasks).await?;
        // The id is the table's only unique key, so a lone task's
        // violation names it; for a batch, finding which id would need a
        // query, and on PostgreSQL the host's transaction is aborted.
        let lone = match tasks.as_slice() {
            [task] => Some(task.id),
            _ => None,
        };
        if let Err(err) = insert(txn, tasks).await {
            return Err(match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => match lone {
                    Some(id) => lifecycle::id_exists(id),
                    None => Error::InvalidArgument("a task id of the batch already exists".into()),
                },
                _ => db_err(err),
            });
        }
        self.notify_others(txn).await?;
        // Local workers may look before the commit and find nothing; their
        // poll (or the next signal) picks the tasks up.
        self.notify();
        Ok(enqueued)
    }

    /// Stores new pending tasks, all or none but the duplicates of a held
    /// unique key, and wakes nobody (the caller does, after this returns).
    pub(crate) async fn insert_pending(&self, tasks: Vec<TaskRecord>) -> Result<Enqueued, Error> {
        Ok(self.insert_kept(tasks, false).await?.0)
    }

    /// [`SeaBackend::insert_pending`], and with `keep` the records as
    /// stored (the duplicates of a held key left out, fair rounds given),
    /// for the Redis delivery copy. A batch without unique keys nor a
    /// fair queue that fits one `INSERT` is that one statement, outside a
    /// transaction: one round trip and one commit, which is most of a
    /// single submit's latency (on SQLite and PostgreSQL the statement
    /// itself tests that no queue is fair: [`insert_unless_fair`]).
    /// Otherwise one transaction, so a refused batch takes no key and no
    /// fair round (`fair::assign_rounds`).
    pub(crate) async fn insert_kept(
        &self,
        tasks: Vec<TaskRecord>,
        keep: bool,
    ) -> Result<(Enqueued, Vec<TaskRecord>), Error> {
        // `lifecycle::check_new_ids`: repeats first, then the stored ids
        // the unique key finds.
        lifecycle::check_batch_ids(&tasks)?;
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
        if tasks.len() <= INSERT_CHUNK && tasks.iter().all(|t| t.unique.is_none()) {
            let inserted = if self.db().get_database_backend() == DbBackend::MySql {
                if super::fair::any_fair(self.db(), &tasks).await? {
                    Ok(false)
                } else {
                    let kept = if keep { tasks.clone() } else { Vec::new() };
                    return match insert(self.db(), tasks).await {
                        Ok(()) => Ok((Enqueued::ALL, kept)),
                        Err(err) => Err(self.insert_error(err, &ids).await),
                    };
                }
            } else {
                insert_unless_fair(self.db(), &tasks).await
            };
            match inserted {
                Ok(true) => return Ok((Enqueued::ALL, if keep { tasks } else { Vec::new() })),
                // A queue is fair: its rounds are given in the transaction.
                Ok(false) => {}
                Err(err) => return Err(self.insert_error(err, &ids).await),
            }
        }
        let txn = self.write_txn().await?;
        let enqueued = unique::take_keys(&txn, &tasks, Utc::now()).await?;
        let mut stored = enqueued.stored(tasks);
        super::fair::assign_rounds(&txn, &mut stored).await?;
        let kept = if keep { stored.clone() } else { Vec::new() };
        let inserted = match insert(&txn, stored).await {
            Ok(()) => txn.commit().await,
            Err(err) => {
                // `insert_error` reads through the pool: the transaction's
                // connection goes back first (a SQLite pool may have one).
                if let Err(rollback) = txn.rollback().await {
                    tracing::warn!(error = %rollback, "could not roll back a refused submit");
                }
                Err(err)
            }
        };
        match inserted {
            Ok(()) => Ok((enqueued, kept)),
            Err(err) => Err(self.insert_error(err, &ids).await),
        }
    }

    /// The error of an insert of the tasks `ids` that failed.
    async fn insert_error(&self, err: DbErr, ids: &[TaskId]) -> Error {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => self.duplicate(ids).await,
            _ => db_err(err),
        }
    }

    /// [`SeaBackend::notify_others`] after a change that already
    /// committed: a failure only delays other processes until they poll.
    pub(super) async fn wake_others(&self) {
        if let Err(err) = self.notify_others(self.db()).await {
            tracing::warn!(error = %err, "could not notify other workers");
        }
    }

    /// The error of an enqueue that hit an existing id (or repeated one).
    pub(super) async fn duplicate(&self, ids: &[TaskId]) -> Error {
        // The id is the only unique key: a lone task's clash needs no query.
        if let [id] = ids {
            return duplicate_id(*id);
        }
        for chunk in ids.chunks(INSERT_CHUNK) {
            let existing: Result<Option<Uuid>, _> = task::Entity::find()
                .select_only()
                .column(C::Id)
                .filter(Expr::col(C::Id).is_in(chunk.iter().copied()))
                .into_tuple()
                .one(self.db())
                .await;
            match existing {
                Ok(Some(id)) => return duplicate_id(id),
                Ok(None) => {}
                Err(err) => return db_err(err),
            }
        }
        // Another writer deleted the stored id since the insert failed.
        Error::InvalidArgument("a task id of the batch already exists".into())
    }
}

fn duplicate_id(id: TaskId) -> Error {
    lifecycle::id_exists(id)
}
