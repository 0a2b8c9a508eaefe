//! Trace context: `taskq_tasks` gains `trace_context`, the submitting
//! span's context as the host's OpenTelemetry propagator wrote it (a JSON
//! object of strings, `traceparent` and `tracestate` for W3C), from which
//! each attempt's span takes its parent. Null when none was stored.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;

/// The trace-context migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261209_000060_taskq_trace_context"
    }
}

#[derive(DeriveIden)]
enum TaskqTasks {
    Table,
    TraceContext,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        let context = ColumnDef::new(T::TraceContext).json().null().to_owned();
        super::columns::add_missing(manager, T::Table, [context]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        super::columns::drop_all(manager, T::Table, [T::TraceContext]).await
    }
}
