//! Snoozes and deadlines: `taskq_tasks` gains `snoozes` (times the
//! handler snoozed, counted against its type's bound) and `expires_at`
//! (the deadline to start), with an index that lets the expiry sweep find
//! overdue pending rows without reading the others (partial on SQLite and
//! PostgreSQL: only pending rows with a deadline; MySQL indexes every row
//! by state and deadline).
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

/// The snooze and expiry migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000051_taskq_snooze_expiry"
    }
}

#[derive(DeriveIden)]
enum TaskqTasks {
    Table,
    State,
    Snoozes,
    ExpiresAt,
}

const EXPIRY_INDEX: &str = "idx_taskq_tasks_state_expires";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        let backend = manager.get_database_backend();
        let mut expires_at = ColumnDef::new(T::ExpiresAt);
        // As every time column (see the first migration): to the µs.
        if backend == DatabaseBackend::MySql {
            expires_at.custom("DATETIME(6)");
        } else {
            expires_at.timestamp_with_time_zone();
        }
        let columns = [
            ColumnDef::new(T::Snoozes)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
            expires_at.null().to_owned(),
        ];
        super::columns::add_missing(manager, T::Table, columns).await?;
        if !manager.has_index("taskq_tasks", EXPIRY_INDEX).await? {
            let mut index = Index::create()
                .name(EXPIRY_INDEX)
                .table(T::Table)
                .col(T::State)
                .col(T::ExpiresAt)
                .to_owned();
            // The sweep states this predicate (literal state), so the
            // planner can pick the partial index.
            if backend != DatabaseBackend::MySql {
                index.and_where(
                    Expr::col(T::State)
                        .eq("PENDING")
                        .and(Expr::col(T::ExpiresAt).is_not_null()),
                );
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        manager
            .drop_index(Index::drop().name(EXPIRY_INDEX).table(T::Table).to_owned())
            .await?;
        super::columns::drop_all(manager, T::Table, [T::Snoozes, T::ExpiresAt]).await
    }
}
