//! Creates `taskq_tasks`, `taskq_queues` and their indexes.
//!
//! Frozen: later schema changes go into new migrations. The table and
//! column names are spelled out here rather than taken from the entities,
//! so editing an entity cannot change what this migration did. (The
//! MySQL column types were settled before taskq first ran on MySQL.)

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// The first taskq migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_taskq_create_tables"
    }
}

#[derive(DeriveIden)]
enum TaskqTasks {
    Table,
    Id,
    TaskType,
    Params,
    State,
    Queue,
    Priority,
    Attempt,
    MaxRetries,
    Result,
    ErrorKind,
    ErrorMessage,
    ProgressFraction,
    ProgressMessage,
    CreatedAt,
    ScheduledAt,
    StartedAt,
    FinishedAt,
    LeaseUntil,
    WorkerId,
    CancelRequested,
    TimeoutMs,
    SoftTimeoutMs,
    Seq,
}

#[derive(DeriveIden)]
enum TaskqQueues {
    Table,
    Name,
    Paused,
}

/// A point in time, to the microsecond: `timestamptz` on PostgreSQL, text
/// on SQLite, and `DATETIME(6)` on MySQL, whose `TIMESTAMP` would keep
/// whole seconds only and end in 2038 (values are bound as UTC).
fn time(column: &mut ColumnDef, backend: DatabaseBackend) -> &mut ColumnDef {
    if backend == DatabaseBackend::MySql {
        column.custom("DATETIME(6)")
    } else {
        column.timestamp_with_time_zone()
    }
}

/// Makes `index` partial (`WHERE condition`) where the database supports
/// it; MySQL has no partial indexes and indexes every row.
fn partial(
    mut index: IndexCreateStatement,
    backend: DatabaseBackend,
    condition: Expr,
) -> IndexCreateStatement {
    if backend != DatabaseBackend::MySql {
        index.and_where(condition);
    }
    index
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(T::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(T::TaskType).string_len(255).not_null())
                    .col(ColumnDef::new(T::Params).json().not_null())
                    .col(ColumnDef::new(T::State).string_len(16).not_null())
                    .col(ColumnDef::new(T::Queue).string_len(255).not_null())
                    .col(ColumnDef::new(T::Priority).integer().not_null())
                    .col(ColumnDef::new(T::Attempt).integer().not_null())
                    .col(ColumnDef::new(T::MaxRetries).integer().not_null())
                    .col(ColumnDef::new(T::Result).json().null())
                    .col(ColumnDef::new(T::ErrorKind).string_len(32).null())
                    .col(ColumnDef::new(T::ErrorMessage).text().null())
                    .col(ColumnDef::new(T::ProgressFraction).double().null())
                    .col(ColumnDef::new(T::ProgressMessage).text().null())
                    .col(time(&mut ColumnDef::new(T::CreatedAt), backend).not_null())
                    .col(time(&mut ColumnDef::new(T::ScheduledAt), backend).not_null())
                    .col(time(&mut ColumnDef::new(T::StartedAt), backend).null())
                    .col(time(&mut ColumnDef::new(T::FinishedAt), backend).null())
                    .col(time(&mut ColumnDef::new(T::LeaseUntil), backend).null())
                    .col(ColumnDef::new(T::WorkerId).string_len(255).null())
                    .col(
                        ColumnDef::new(T::CancelRequested)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(T::TimeoutMs).big_integer().null())
                    .col(ColumnDef::new(T::SoftTimeoutMs).big_integer().null())
                    .col(ColumnDef::new(T::Seq).big_integer().not_null())
                    .to_owned(),
            )
            .await?;

        // Three indexes serve one kind of row each and are partial where
        // the database supports it (SQLite, PostgreSQL; on MySQL they index
        // every row): a claim or settle then touches far
        // fewer index entries. Queries must state the predicate with the
        // state as a literal (`state = 'PENDING'`), not a bound parameter,
        // for the planner to pick a partial index.

        // Claims: due pending tasks of one queue, in claim order. The
        // column order and directions match the claim's ORDER BY, so the
        // claim reads the index in order and stops after LIMIT rows.
        manager
            .create_index(partial(
                Index::create()
                    .if_not_exists()
                    .name("idx_taskq_tasks_claim")
                    .table(T::Table)
                    .col(T::Queue)
                    .col(T::State)
                    .col((T::Priority, IndexOrder::Desc))
                    .col(T::Seq)
                    .col(T::Id)
                    .to_owned(),
                backend,
                Expr::col(T::State).eq("PENDING"),
            ))
            .await?;
        // Lists filtered by state, newest first; live-task counts.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_taskq_tasks_state_created")
                    .table(T::Table)
                    .col(T::State)
                    .col(T::CreatedAt)
                    .col(T::Id)
                    .to_owned(),
            )
            .await?;
        // Lists filtered by task type (and state), newest first. Keyed by
        // creation time rather than state: no claim or settle touches it,
        // and a filtered list reads it in order instead of sorting.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_taskq_tasks_type_created")
                    .table(T::Table)
                    .col(T::TaskType)
                    .col(T::CreatedAt)
                    .col(T::Id)
                    .to_owned(),
            )
            .await?;
        // The rescuer: running tasks whose lease ended.
        manager
            .create_index(partial(
                Index::create()
                    .if_not_exists()
                    .name("idx_taskq_tasks_state_lease")
                    .table(T::Table)
                    .col(T::State)
                    .col(T::LeaseUntil)
                    .to_owned(),
                backend,
                Expr::col(T::State).eq("RUNNING"),
            ))
            .await?;
        // Purge: terminal tasks finished before a time.
        manager
            .create_index(partial(
                Index::create()
                    .if_not_exists()
                    .name("idx_taskq_tasks_state_finished")
                    .table(T::Table)
                    .col(T::State)
                    .col(T::FinishedAt)
                    .to_owned(),
                backend,
                Expr::col(T::FinishedAt).is_not_null(),
            ))
            .await?;
        // Unfiltered lists, newest first.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_taskq_tasks_created")
                    .table(T::Table)
                    .col(T::CreatedAt)
                    .col(T::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TaskqQueues::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(TaskqQueues::Name)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(TaskqQueues::Paused)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(TaskqQueues::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(TaskqTasks::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
