//! Unique tasks: `taskq_tasks` gains the key a task holds and the rule it
//! holds it by (`unique_key`, `unique_states` as a bit set, `unique_until`),
//! and `taskq_unique_keys` points each (queue, key) at the task that last
//! took it. Whether that task still holds the key is read from its row at
//! the next submit (`lifecycle::holds_unique`), so no transition of the
//! holder writes this table.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// The unique keys migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000001_taskq_unique_keys"
    }
}

#[derive(DeriveIden)]
enum TaskqTasks {
    Table,
    UniqueKey,
    UniqueStates,
    UniqueUntil,
}

#[derive(DeriveIden)]
enum TaskqUniqueKeys {
    Table,
    Queue,
    UniqueKey,
    TaskId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        use TaskqUniqueKeys as K;
        let backend = manager.get_database_backend();
        let mut until = ColumnDef::new(T::UniqueUntil);
        // To the microsecond, as in the first migration.
        if backend == DatabaseBackend::MySql {
            until.custom("DATETIME(6)");
        } else {
            until.timestamp_with_time_zone();
        }
        let columns = [
            ColumnDef::new(T::UniqueKey)
                .string_len(255)
                .null()
                .to_owned(),
            ColumnDef::new(T::UniqueStates)
                .small_integer()
                .null()
                .to_owned(),
            until.null().to_owned(),
        ];
        super::columns::add_missing(manager, T::Table, columns).await?;
        manager
            .create_table(
                Table::create()
                    .table(K::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(K::Queue).string_len(255).not_null())
                    .col(ColumnDef::new(K::UniqueKey).string_len(255).not_null())
                    .col(ColumnDef::new(K::TaskId).uuid().not_null())
                    .primary_key(Index::create().col(K::Queue).col(K::UniqueKey))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        manager
            .drop_table(
                Table::drop()
                    .table(TaskqUniqueKeys::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        super::columns::drop_all(
            manager,
            T::Table,
            [T::UniqueKey, T::UniqueStates, T::UniqueUntil],
        )
        .await
    }
}
