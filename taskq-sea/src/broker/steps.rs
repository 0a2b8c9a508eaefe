//! Steps the broker's calls share: a task's current state, the claim in
//! steps MySQL needs, and an update that returns its row.

use sea_orm::sea_query::{Expr, ExprTrait, UpdateStatement};
use sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, TransactionSession,
    TransactionTrait,
};
use taskq_core::backend::ClaimRequest;
use taskq_core::{Error, TaskId, TaskRecord, TaskState, lifecycle};
use uuid::Uuid;

use crate::backend::{SeaBackend, db_err};
use crate::entity::queue;
use crate::entity::task::{self, Column as C};

use super::limit::{Locked, locked_capacity};
use super::statements::{claim_update, due_select, fetch};
use super::type_limit::{MetLocks, admitted_ids};
use super::type_rate::spend_rates;

impl SeaBackend {
    /// The current state of a task, or [`Error::NotFound`].
    pub(super) async fn state_of(&self, id: TaskId) -> Result<TaskState, Error> {
        let state: Option<String> = task::Entity::find_by_id(id)
            .select_only()
            .column(C::State)
            .into_tuple()
            .one(self.db())
            .await
            .map_err(db_err)?;
        let state = state.ok_or(Error::NotFound(id))?;
        state
            .parse()
            .map_err(|_| Error::backend(format!("task {id}: stored state is invalid")))
    }

    /// Claims on MySQL, which allows neither `UPDATE … RETURNING` nor a
    /// subquery on the updated table: in one transaction, read the queue's
    /// row (paused, or limited: counted with the row locked), lock the due rows
    /// (`FOR UPDATE SKIP LOCKED`) and the rows of the limited types among
    /// them, update them by id, read them back.
    pub(super) async fn claim_in_steps(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<Vec<task::Model>, Error> {
        let txn = self.write_txn().await?;
        let row = queue::Entity::find_by_id(request.queue)
            .one(&txn)
            .await
            .map_err(db_err)?;
        let locked = match row {
            Some(row) if row.paused => None,
            // A limited queue: count with its row locked (`limit`).
            Some(row) if row.running_limit.is_some() || row.rate_starts.is_some() => {
                locked_capacity(&txn, request).await?
            }
            _ => Some(Locked::unlimited(request.limit)),
        };
        let Some(locked) = locked else {
            txn.commit().await.map_err(db_err)?;
            return Ok(Vec::new());
        };
        let queue = request.queue;
        let now = request.now;
        let request = &ClaimRequest {
            limit: locked.want,
            ..request.clone()
        };
        if request.limit == 0 {
            let hold = locked.spend(&txn, queue, now, 0).await?;
            txn.commit().await.map_err(db_err)?;
            self.holds.record(queue, hold);
            self.wakes.record(queue, None);
            return Ok(Vec::new());
        }
        // A limited task type: its row locked after the queue's, once the
        // walk meets one of its due tasks (`type_limit::MetLocks`).
        let mut caps = lifecycle::TypeCaps::default();
        let mut ids: Vec<Uuid> = Vec::with_capacity(request.limit.min(1024));
        match MetLocks::read(&txn, request).await? {
            None => {
                for row in txn.query_all(&due_select(request)).await.map_err(db_err)? {
                    ids.push(row.try_get("", "id").map_err(db_err)?);
                }
            }
            Some(mut locks) => {
                ids = admitted_ids(&txn, request, &mut caps, Some(&mut locks)).await?;
            }
        }
        // The type and key buckets, spent in this transaction (`type_rate`).
        let wake = spend_rates(&txn, &caps, now).await?;
        if ids.is_empty() {
            // Ended here, not by dropping it: InnoDB's locking read also
            // locked the rows it scanned and passed over (not yet due), and
            // a dropped transaction rolls back only when its connection is
            // next used — until then the next claim's SKIP LOCKED skips
            // them (`mysql::eta_is_respected` once claimed nothing so).
            let hold = locked.spend(&txn, queue, now, 0).await?;
            txn.commit().await.map_err(db_err)?;
            self.holds.record(queue, hold);
            self.wakes.record(queue, wake);
            return Ok(Vec::new());
        }
        let mut update = claim_update(request);
        update.and_where(Expr::col(C::Id).is_in(ids.iter().copied()));
        txn.execute(&update).await.map_err(db_err)?;
        let hold = locked.spend(&txn, queue, now, ids.len()).await?;
        let rows = task::Entity::find()
            .filter(Expr::col(C::Id).is_in(ids))
            .all(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        self.holds.record(queue, hold);
        self.wakes.record(queue, wake);
        Ok(rows)
    }

    /// Runs `update … RETURNING *` for task `id`; `None` when it matched
    /// no row. On MySQL (no `RETURNING`): the update, then a read of the
    /// row in the same transaction.
    pub(super) async fn update_returning<D>(
        &self,
        db: &D,
        id: TaskId,
        mut update: UpdateStatement,
    ) -> Result<Option<TaskRecord>, Error>
    where
        D: ConnectionTrait + TransactionTrait,
    {
        if db.get_database_backend() == DbBackend::MySql {
            let txn = db.begin().await.map_err(db_err)?;
            if txn.execute(&update).await.map_err(db_err)?.rows_affected() == 0 {
                return Ok(None);
            }
            let record = fetch(&txn, id).await?;
            txn.commit().await.map_err(db_err)?;
            return Ok(record);
        }
        update.returning_all();
        let statement = db.get_database_backend().build(&update);
        let row = task::Entity::find()
            .from_raw_sql(statement)
            .one(db)
            .await
            .map_err(db_err)?;
        row.map(TaskRecord::try_from).transpose()
    }
}
