//! Queue rate limits: `taskq_queues` gains `rate_starts` and
//! `rate_period_us` (at most that many starts per period; both `NULL`: no
//! rate limit) and `rate_tat_us`, the token bucket's time
//! (`lifecycle::rate_spend`; `NULL`: full), which the claim reads and
//! moves with the row locked. A queue now has a row while it is paused,
//! limited or rate-limited.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;

/// The queue rate limits migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000016_taskq_queue_rates"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskqQueues {
    Table,
    RateStarts,
    RatePeriodUs,
    RateTatUs,
}

const COLUMNS: [TaskqQueues; 3] = [
    TaskqQueues::RateStarts,
    TaskqQueues::RatePeriodUs,
    TaskqQueues::RateTatUs,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = COLUMNS.map(|column| ColumnDef::new(column).big_integer().null().to_owned());
        super::columns::add_missing(manager, TaskqQueues::Table, columns).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::columns::drop_all(manager, TaskqQueues::Table, COLUMNS).await
    }
}
