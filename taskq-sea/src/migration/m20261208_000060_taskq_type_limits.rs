//! Task type and key limits: `taskq_task_types` holds, per limited task
//! type, its `running_limit` (at most that many of its tasks run at once)
//! and its `key_limit` (at most that many with one concurrency key); and
//! `taskq_tasks` gains `concurrency_key`, the key a task is counted
//! under. A claim that may take a limited type locks its row and counts
//! the type's `RUNNING` tasks (read from the running rows, which
//! `idx_taskq_tasks_state_lease` finds: no index of its own).
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;

/// The task type limits migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000060_taskq_type_limits"
    }
}

#[derive(DeriveIden)]
enum TaskqTaskTypes {
    Table,
    Name,
    RunningLimit,
    KeyLimit,
}

#[derive(DeriveIden)]
enum TaskqTasks {
    Table,
    ConcurrencyKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTaskTypes as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(T::Name)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(T::RunningLimit).big_integer().null())
                    .col(ColumnDef::new(T::KeyLimit).big_integer().null())
                    .to_owned(),
            )
            .await?;
        let key = ColumnDef::new(TaskqTasks::ConcurrencyKey)
            .string_len(255)
            .null()
            .to_owned();
        super::columns::add_missing(manager, TaskqTasks::Table, [key]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::columns::drop_all(manager, TaskqTasks::Table, [TaskqTasks::ConcurrencyKey]).await?;
        manager
            .drop_table(Table::drop().table(TaskqTaskTypes::Table).to_owned())
            .await
    }
}
