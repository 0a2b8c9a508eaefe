//! Reordering a pending task within its queue (`lifecycle::reorder`).

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query};
use taskq_core::backend::Position;
use taskq_core::lifecycle::check_before_target;
use taskq_core::{Error, TaskId, TaskRecord, TaskState};

use super::statements::{aggregate, fetch, raced};
use crate::backend::{SeaBackend, db_err};
use crate::entity::task::{self, Column as C};
use crate::sql::state_is;

impl SeaBackend {
    /// `lifecycle::reorder` in SQL, in one write transaction: the group
    /// (priority and fair round) and `seq` read with aggregates, the room
    /// made by shifting the tasks ahead when there is none.
    pub(super) async fn reorder_task(
        &self,
        id: TaskId,
        position: Position,
    ) -> Result<TaskRecord, Error> {
        let txn = self.write_txn().await?;
        let record = fetch(&txn, id).await?.ok_or(Error::NotFound(id))?;
        if record.state != TaskState::Pending {
            return Err(Error::InvalidTransition {
                id,
                state: record.state,
                action: "reorder",
            });
        }
        // The other pending tasks of the queue.
        let others = || {
            Condition::all()
                .add(Expr::col(C::Queue).eq(record.queue.as_str()))
                .add(state_is(TaskState::Pending))
                .add(Expr::col(C::Id).ne(id))
        };
        // A group is a priority and a round (`lifecycle::reorder`): the
        // first (or last) round of a priority, then its first (or last) seq.
        let group = |priority: i32, round: i64| {
            others()
                .add(Expr::col(C::Priority).eq(priority))
                .add(Expr::col(C::FairRound).eq(round))
        };
        let own_round = i64::try_from(record.fair_round).unwrap_or(i64::MAX);
        let (priority, round, seq) = match position {
            Position::Front => {
                let top: Option<i32> =
                    aggregate(&txn, Expr::col(C::Priority).max(), others()).await?;
                let priority = top.map_or(record.priority, |top| Ord::max(top, record.priority));
                let first_round: Option<i64> = aggregate(
                    &txn,
                    Expr::col(C::FairRound).min(),
                    others().add(Expr::col(C::Priority).eq(priority)),
                )
                .await?;
                match first_round {
                    Some(round) => {
                        let first: Option<i64> =
                            aggregate(&txn, Expr::col(C::Seq).min(), group(priority, round))
                                .await?;
                        (priority, round, first.map_or(record.seq, |s| s - 1))
                    }
                    None => (priority, own_round, record.seq),
                }
            }
            Position::Back => {
                let bottom: Option<i32> =
                    aggregate(&txn, Expr::col(C::Priority).min(), others()).await?;
                let priority = bottom.map_or(record.priority, |b| Ord::min(b, record.priority));
                let last_round: Option<i64> = aggregate(
                    &txn,
                    Expr::col(C::FairRound).max(),
                    others().add(Expr::col(C::Priority).eq(priority)),
                )
                .await?;
                match last_round {
                    Some(round) => {
                        let last: Option<i64> =
                            aggregate(&txn, Expr::col(C::Seq).max(), group(priority, round))
                                .await?;
                        (priority, round, last.map_or(record.seq, |s| s + 1))
                    }
                    None => (priority, own_round, record.seq),
                }
            }
            Position::Before(target) => {
                let target = fetch(&txn, target).await?.ok_or(Error::NotFound(target))?;
                check_before_target(&record, &target)?;
                let round = i64::try_from(target.fair_round).unwrap_or(i64::MAX);
                // Pending tasks of the target's group that run before it.
                let ahead = || {
                    group(target.priority, round).add(
                        Condition::any().add(Expr::col(C::Seq).lt(target.seq)).add(
                            Condition::all()
                                .add(Expr::col(C::Seq).eq(target.seq))
                                .add(Expr::col(C::Id).lt(target.id)),
                        ),
                    )
                };
                let predecessor: Option<i64> =
                    aggregate(&txn, Expr::col(C::Seq).max(), ahead()).await?;
                match predecessor {
                    Some(p) if target.seq - p < 2 => {
                        // No room between the two: shift everything ahead
                        // of the target back by two, keeping their order.
                        let shift = Query::update()
                            .table(task::Entity)
                            .value(C::Seq, Expr::col(C::Seq).sub(2))
                            .cond_where(ahead())
                            .to_owned();
                        txn.execute(&shift).await.map_err(db_err)?;
                        (target.priority, round, target.seq - 1)
                    }
                    Some(p) => (target.priority, round, p + (target.seq - p) / 2),
                    None => (target.priority, round, target.seq - 1),
                }
            }
        };
        let mut update = Query::update();
        update
            .table(task::Entity)
            .value(C::Priority, priority)
            .value(C::FairRound, round)
            .value(C::Seq, seq)
            .cond_where(
                Condition::all()
                    .add(Expr::col(C::Id).eq(id))
                    .add(state_is(TaskState::Pending)),
            );
        let record = self
            .update_returning(&txn, id, update)
            .await?
            .ok_or_else(|| raced(id))?;
        txn.commit().await.map_err(db_err)?;
        Ok(record)
    }
}
