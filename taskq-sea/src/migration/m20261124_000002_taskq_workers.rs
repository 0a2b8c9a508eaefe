//! Creates `taskq_workers`, the registry of live workers.
//!
//! Frozen: later schema changes go into new migrations. Names are spelled
//! out here rather than taken from the entity.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// The workers migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000002_taskq_workers"
    }
}

#[derive(DeriveIden)]
enum TaskqWorkers {
    Table,
    Id,
    Host,
    Pid,
    Queues,
    InFlightCount,
    InFlight,
    State,
    Requested,
    StartedAt,
    HeartbeatAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqWorkers as W;
        let backend = manager.get_database_backend();
        // To the microsecond, as in the first migration.
        let timestamp = |column: W| {
            let mut def = ColumnDef::new(column);
            if backend == DatabaseBackend::MySql {
                def.custom("DATETIME(6)");
            } else {
                def.timestamp_with_time_zone();
            }
            def.not_null();
            def
        };
        manager
            .create_table(
                Table::create()
                    .table(W::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(W::Id)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(W::Host).string_len(255).not_null())
                    .col(ColumnDef::new(W::Pid).big_integer().not_null())
                    .col(ColumnDef::new(W::Queues).json().not_null())
                    .col(ColumnDef::new(W::InFlightCount).big_integer().not_null())
                    .col(ColumnDef::new(W::InFlight).json().not_null())
                    .col(ColumnDef::new(W::State).string_len(16).not_null())
                    .col(ColumnDef::new(W::Requested).string_len(16).null())
                    .col(timestamp(W::StartedAt))
                    .col(timestamp(W::HeartbeatAt))
                    .col(timestamp(W::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(TaskqWorkers::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
