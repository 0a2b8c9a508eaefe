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
        let limit = ColumnDef::new(TaskqQueues::RunningLimit)
            .big_integer()
            .null()
            .to_owned();
        super::columns::add_missing(manager, TaskqQueues::Table, [limit]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::columns::drop_all(manager, TaskqQueues::Table, [TaskqQueues::RunningLimit]).await
    }
}
