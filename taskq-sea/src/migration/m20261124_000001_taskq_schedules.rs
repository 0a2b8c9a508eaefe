//! Creates `taskq_schedules` and its due index.
//!
//! Frozen: later schema changes go into new migrations. Names are spelled
//! out here rather than taken from the entity.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// The schedules migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000001_taskq_schedules"
    }
}

#[derive(DeriveIden)]
enum TaskqSchedules {
    Table,
    Name,
    TaskType,
    Params,
    Kind,
    RunAt,
    EveryMs,
    CronExpression,
    TimeZone,
    Enabled,
    StartAt,
    EndAt,
    MaxRuns,
    Queue,
    Priority,
    Description,
    Misfire,
    MisfireMax,
    LastRunAt,
    NextRunAt,
    RunCount,
    LastTaskId,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqSchedules as S;
        let backend = manager.get_database_backend();
        // To the microsecond, as in the first migration: `timestamptz` on
        // PostgreSQL, text on SQLite, `DATETIME(6)` on MySQL (whose
        // `TIMESTAMP` keeps whole seconds). The firing's compare-and-set
        // compares these values for equality, so no rounding may differ
        // between what a scheduler read and what it binds back.
        let timestamp = |column: S| {
            let mut def = ColumnDef::new(column);
            if backend == DatabaseBackend::MySql {
                def.custom("DATETIME(6)");
            } else {
                def.timestamp_with_time_zone();
            }
            def
        };
        let time = |column: S| timestamp(column).null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(S::Name)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(S::TaskType).string_len(255).not_null())
                    .col(ColumnDef::new(S::Params).json().not_null())
                    .col(ColumnDef::new(S::Kind).string_len(16).not_null())
                    .col(time(S::RunAt))
                    .col(ColumnDef::new(S::EveryMs).big_integer().null())
                    .col(ColumnDef::new(S::CronExpression).string_len(255).null())
                    .col(ColumnDef::new(S::TimeZone).string_len(64).null())
                    .col(ColumnDef::new(S::Enabled).boolean().not_null())
                    .col(time(S::StartAt))
                    .col(time(S::EndAt))
                    .col(ColumnDef::new(S::MaxRuns).big_integer().null())
                    .col(ColumnDef::new(S::Queue).string_len(255).null())
                    .col(ColumnDef::new(S::Priority).integer().null())
                    .col(ColumnDef::new(S::Description).text().not_null())
                    .col(ColumnDef::new(S::Misfire).string_len(16).not_null())
                    .col(ColumnDef::new(S::MisfireMax).integer().null())
                    .col(time(S::LastRunAt))
                    .col(time(S::NextRunAt))
                    .col(
                        ColumnDef::new(S::RunCount)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(S::LastTaskId).uuid().null())
                    .col(timestamp(S::CreatedAt).not_null())
                    .col(timestamp(S::UpdatedAt).not_null())
                    .to_owned(),
            )
            .await?;
        // The due index: a scheduler reads the range `enabled AND
        // next_run_at <= now` in order, and the first entry for its sleep,
        // so a tick costs the due schedules, not all of them.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_taskq_schedules_due")
                    .table(S::Table)
                    .col(S::Enabled)
                    .col(S::NextRunAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(TaskqSchedules::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
