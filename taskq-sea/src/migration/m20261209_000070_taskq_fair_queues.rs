//! Fair queues (`Broker::set_queue_fair`): `taskq_tasks` gains
//! `fair_round` (0 outside a fair queue) and the claim index takes it
//! between the priority and `seq`, the claim order's place
//! (`lifecycle::claim_order`); `taskq_queues` gains `fair_round`, the
//! queue's current round (`NULL`: the queue is not fair), and
//! `taskq_fair_lanes` holds each lane's next round (`lifecycle::fair_round`).
//! The index is rebuilt under a new name, `idx_taskq_tasks_claim_fair`,
//! so a run cut short completes on the next.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// The fair queues migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261209_000070_taskq_fair_queues"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskqTasks {
    Table,
    Id,
    Queue,
    State,
    Priority,
    FairRound,
    Seq,
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskqQueues {
    Table,
    FairRound,
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskqFairLanes {
    Table,
    Queue,
    Lane,
    NextRound,
}

const OLD_INDEX: &str = "idx_taskq_tasks_claim";
const NEW_INDEX: &str = "idx_taskq_tasks_claim_fair";

/// `name` on the tasks table, dropped if it exists.
async fn drop_index(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    if manager.has_index("taskq_tasks", name).await? {
        manager
            .drop_index(Index::drop().name(name).table(TaskqTasks::Table).to_owned())
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        let round = ColumnDef::new(T::FairRound)
            .big_integer()
            .not_null()
            .default(0)
            .to_owned();
        super::columns::add_missing(manager, T::Table, [round]).await?;
        let current = ColumnDef::new(TaskqQueues::FairRound)
            .big_integer()
            .null()
            .to_owned();
        super::columns::add_missing(manager, TaskqQueues::Table, [current]).await?;
        manager
            .create_table(
                Table::create()
                    .table(TaskqFairLanes::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(TaskqFairLanes::Queue)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TaskqFairLanes::Lane)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TaskqFairLanes::NextRound)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(TaskqFairLanes::Queue)
                            .col(TaskqFairLanes::Lane),
                    )
                    .to_owned(),
            )
            .await?;
        if !manager.has_index("taskq_tasks", NEW_INDEX).await? {
            // As the first migration's claim index: partial where the
            // database supports it, read in order by the claim.
            let mut index = Index::create()
                .name(NEW_INDEX)
                .table(T::Table)
                .col(T::Queue)
                .col(T::State)
                .col((T::Priority, IndexOrder::Desc))
                .col(T::FairRound)
                .col(T::Seq)
                .col(T::Id)
                .to_owned();
            if manager.get_database_backend() != DatabaseBackend::MySql {
                index.and_where(Expr::col(T::State).eq("PENDING"));
            }
            manager.create_index(index).await?;
        }
        drop_index(manager, OLD_INDEX).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        if !manager.has_index("taskq_tasks", OLD_INDEX).await? {
            let mut index = Index::create()
                .name(OLD_INDEX)
                .table(T::Table)
                .col(T::Queue)
                .col(T::State)
                .col((T::Priority, IndexOrder::Desc))
                .col(T::Seq)
                .col(T::Id)
                .to_owned();
            if manager.get_database_backend() != DatabaseBackend::MySql {
                index.and_where(Expr::col(T::State).eq("PENDING"));
            }
            manager.create_index(index).await?;
        }
        drop_index(manager, NEW_INDEX).await?;
        manager
            .drop_table(
                Table::drop()
                    .table(TaskqFairLanes::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        super::columns::drop_all(manager, TaskqQueues::Table, [TaskqQueues::FairRound]).await?;
        super::columns::drop_all(manager, T::Table, [T::FairRound]).await
    }
}
