//! Throughput counts: `taskq_counts` holds, per minute and queue, how many
//! attempts workers ended and how (`taskq_core::throughput`). Workers add
//! to it with each heartbeat; rows older than a day are dropped then.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// The throughput counts migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000041_taskq_counts"
    }
}

#[derive(DeriveIden)]
enum TaskqCounts {
    Table,
    Minute,
    Queue,
    Finished,
    Failed,
    Retried,
    Cancelled,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqCounts as K;
        let mut minute = ColumnDef::new(K::Minute);
        // To the microsecond, as in the first migration.
        if manager.get_database_backend() == DatabaseBackend::MySql {
            minute.custom("DATETIME(6)");
        } else {
            minute.timestamp_with_time_zone();
        }
        let count = |column: K| {
            ColumnDef::new(column)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(K::Table)
                    .if_not_exists()
                    .col(minute.not_null())
                    .col(ColumnDef::new(K::Queue).string_len(255).not_null())
                    .col(count(K::Finished))
                    .col(count(K::Failed))
                    .col(count(K::Retried))
                    .col(count(K::Cancelled))
                    // Minute first: reads and the pruning are ranges of it.
                    .primary_key(Index::create().col(K::Minute).col(K::Queue))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TaskqCounts::Table).to_owned())
            .await
    }
}
