//! Queue limits: `taskq_queues` gains `running_limit`, the most tasks of
//! the queue that run at once across every worker (`NULL`: no limit). A
//! queue now has a row while it is paused or limited.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;

/// The queue limits migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000002_taskq_queue_limits"
    }
}

#[derive(DeriveIden)]
enum TaskqQueues {
    Table,
    RunningLimit,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Idempotent like the others: look first.
        if manager.has_column("taskq_queues", "running_limit").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(TaskqQueues::Table)
                    .add_column(
                        ColumnDef::new(TaskqQueues::RunningLimit)
                            .big_integer()
                            .null()
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TaskqQueues::Table)
                    .drop_column(TaskqQueues::RunningLimit)
                    .to_owned(),
            )
            .await
    }
}
