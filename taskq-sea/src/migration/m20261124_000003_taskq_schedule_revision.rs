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
        let revision = ColumnDef::new(S::Revision)
            .big_integer()
            .not_null()
            .default(0)
            .to_owned();
        super::columns::add_missing(manager, S::Table, [revision]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqSchedules as S;
        super::columns::drop_all(manager, S::Table, [S::Revision]).await
    }
}
