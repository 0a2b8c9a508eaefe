//! New tasks: multi-row inserts, in a transaction of the host's
//! (`SeaBackend::enqueue_in`) or of the backend's own, and the error
//! that names a duplicate id.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, SqlErr};
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
    /// single submit's latency. Otherwise one transaction, so a refused
    /// batch takes no key and no fair round (`fair::assign_rounds`).
    pub(crate) async fn insert_kept(
        &self,
        tasks: Vec<TaskRecord>,
        keep: bool,
    ) -> Result<(Enqueued, Vec<TaskRecord>), Error> {
        // `lifecycle::check_new_ids`: repeats first, then the stored ids
        // the unique key finds.
        lifecycle::check_batch_ids(&tasks)?;
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
        let fair = super::fair::any_fair(self.db(), &tasks).await?;
        let mut enqueued = Enqueued::ALL;
        let mut kept = Vec::new();
        let inserted =
            if !fair && tasks.len() <= INSERT_CHUNK && tasks.iter().all(|t| t.unique.is_none()) {
                if keep {
                    kept.clone_from(&tasks);
                }
                insert(self.db(), tasks).await
            } else {
                let txn = self.write_txn().await?;
                enqueued = unique::take_keys(&txn, &tasks, Utc::now()).await?;
                let mut stored = enqueued.stored(tasks);
                if fair {
                    super::fair::assign_rounds(&txn, &mut stored).await?;
                }
                if keep {
                    kept.clone_from(&stored);
                }
                match insert(&txn, stored).await {
                    Ok(()) => txn.commit().await,
                    Err(err) => Err(err),
                }
            };
        match inserted {
            Ok(()) => Ok((enqueued, kept)),
            Err(err) => Err(match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => self.duplicate(&ids).await,
                _ => db_err(err),
            }),
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
