//! Adds `taskq_schedules.revision`: bumped by every edit, compared by every
//! firing, so a firing planned before an edit is refused.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;

/// The schedule revision migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000003_taskq_schedule_revision"
    }
}

#[derive(DeriveIden)]
enum TaskqSchedules {
    Table,
    Revision,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqSchedules as S;
        // Idempotent like the others; `ADD COLUMN IF NOT EXISTS` is not
        // portable (SQLite and MySQL lack it), so look first.
        if manager.has_column("taskq_schedules", "revision").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(S::Table)
                    .add_column(
                        ColumnDef::new(S::Revision)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqSchedules as S;
        manager
            .alter_table(
                Table::alter()
                    .table(S::Table)
                    .drop_column(S::Revision)
                    .to_owned(),
            )
            .await
    }
}
