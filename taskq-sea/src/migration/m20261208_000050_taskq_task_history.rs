//! History and labels: `taskq_tasks` gains `attempts` (the ended
//! attempts, a JSON array the statements that end an attempt append to;
//! `jsonb` on PostgreSQL, whose `- 0` drops the oldest entry), `tags`
//! (`,a,b,`, found with `LIKE '%,a,%'`), `metadata` (a JSON object) and
//! `schedule` (the schedule that queued the task, indexed with
//! `created_at` for a list of its tasks: a partial index, of the fired
//! tasks only, where the database has them, so that a submit pays for
//! no index entry). Existing rows read as no
//! history, no tags and no metadata.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// The task history and labels migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000050_taskq_task_history"
    }
}

#[derive(DeriveIden)]
enum TaskqTasks {
    Table,
    Attempts,
    Tags,
    Metadata,
    Schedule,
    CreatedAt,
}

const SCHEDULE_INDEX: &str = "taskq_tasks_schedule";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        // Idempotent like the others: look first; SQLite adds one column
        // per statement.
        if !manager.has_column("taskq_tasks", "attempts").await? {
            let columns = [
                ColumnDef::new(T::Attempts).json_binary().null().to_owned(),
                ColumnDef::new(T::Tags).text().null().to_owned(),
                ColumnDef::new(T::Metadata).json().null().to_owned(),
                ColumnDef::new(T::Schedule)
                    .string_len(255)
                    .null()
                    .to_owned(),
            ];
            for column in columns {
                manager
                    .alter_table(Table::alter().table(T::Table).add_column(column).to_owned())
                    .await?;
            }
        }
        if !manager.has_index("taskq_tasks", SCHEDULE_INDEX).await? {
            let mut index = Index::create()
                .name(SCHEDULE_INDEX)
                .table(T::Table)
                .col(T::Schedule)
                .col(T::CreatedAt)
                .to_owned();
            // MySQL has no partial indexes and indexes every row.
            if manager.get_database_backend() != DatabaseBackend::MySql {
                index.and_where(Expr::col(T::Schedule).is_not_null());
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        manager
            .drop_index(
                Index::drop()
                    .name(SCHEDULE_INDEX)
                    .table(T::Table)
                    .to_owned(),
            )
            .await?;
        for column in [T::Attempts, T::Tags, T::Metadata, T::Schedule] {
            manager
                .alter_table(
                    Table::alter()
                        .table(T::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
