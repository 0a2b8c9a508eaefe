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
        let columns = [
            ColumnDef::new(T::Attempts).json_binary().null().to_owned(),
            ColumnDef::new(T::Tags).text().null().to_owned(),
            ColumnDef::new(T::Metadata).json().null().to_owned(),
            ColumnDef::new(T::Schedule)
                .string_len(255)
                .null()
                .to_owned(),
        ];
        super::columns::add_missing(manager, T::Table, columns).await?;
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
        super::columns::drop_all(
            manager,
            T::Table,
            [T::Attempts, T::Tags, T::Metadata, T::Schedule],
        )
        .await
    }
}
