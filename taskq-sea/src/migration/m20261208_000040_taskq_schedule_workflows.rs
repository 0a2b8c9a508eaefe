//! Workflow schedules: `taskq_schedules` gains `workflow`, the workflow
//! spec (JSON) each tick submits instead of a task (`NULL` for a task
//! schedule, whose `task_type` is then set).
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;

/// The workflow schedules migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000040_taskq_schedule_workflows"
    }
}

#[derive(DeriveIden)]
enum TaskqSchedules {
    Table,
    Workflow,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let workflow = ColumnDef::new(TaskqSchedules::Workflow)
            .json()
            .null()
            .to_owned();
        super::columns::add_missing(manager, TaskqSchedules::Table, [workflow]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::columns::drop_all(manager, TaskqSchedules::Table, [TaskqSchedules::Workflow]).await
    }
}
