//! A fair queue's lanes at submit (`lifecycle::owed_next`): the index
//! `idx_taskq_tasks_fair_lane` on `taskq_tasks (queue, concurrency_key,
//! state, fair_round)`, from which a submit reads the latest round a
//! lane's `PENDING` or `WAITING` tasks hold with one index read per
//! state, so a key whose pending tasks left starts at the current round.
//! Partial (`fair_round > 0`, tasks of fair queues only) where the
//! database supports it; MySQL indexes every row.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// The fair-lane index migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261210_000085_taskq_fair_held"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskqTasks {
    Table,
    Queue,
    ConcurrencyKey,
    State,
    FairRound,
}

/// The index's name; the submit's statement (`broker/fair.rs`) repeats
/// its condition so that the database may use it.
const INDEX: &str = "idx_taskq_tasks_fair_lane";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        if manager.has_index("taskq_tasks", INDEX).await? {
            return Ok(());
        }
        let mut index = Index::create()
            .name(INDEX)
            .table(T::Table)
            .col(T::Queue)
            .col(T::ConcurrencyKey)
            .col(T::State)
            .col(T::FairRound)
            .to_owned();
        if manager.get_database_backend() != DatabaseBackend::MySql {
            index.and_where(Expr::col(T::FairRound).gt(0));
        }
        manager.create_index(index).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_index("taskq_tasks", INDEX).await? {
            manager
                .drop_index(
                    Index::drop()
                        .name(INDEX)
                        .table(TaskqTasks::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
