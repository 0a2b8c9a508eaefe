//! Adds `taskq_workers.task_types`: the task types a worker has handlers
//! for (a JSON array of names), so queue stats can tell pending work no
//! live worker can run. Nullable: rows written before it read as a worker
//! that reported no types, and MySQL gives a JSON column no default.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;

/// The worker task types migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000001_taskq_worker_task_types"
    }
}

#[derive(DeriveIden)]
enum TaskqWorkers {
    Table,
    TaskTypes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqWorkers as W;
        let task_types = ColumnDef::new(W::TaskTypes).json().null().to_owned();
        super::columns::add_missing(manager, W::Table, [task_types]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqWorkers as W;
        super::columns::drop_all(manager, W::Table, [W::TaskTypes]).await
    }
}
