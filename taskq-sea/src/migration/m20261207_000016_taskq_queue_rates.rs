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

const COLUMNS: [(TaskqQueues, &str); 3] = [
    (TaskqQueues::RateStarts, "rate_starts"),
    (TaskqQueues::RatePeriodUs, "rate_period_us"),
    (TaskqQueues::RateTatUs, "rate_tat_us"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Idempotent like the others: look first. One column per ALTER,
        // as SQLite adds one at a time.
        for (column, name) in COLUMNS {
            if manager.has_column("taskq_queues", name).await? {
                continue;
            }
            manager
                .alter_table(
                    Table::alter()
                        .table(TaskqQueues::Table)
                        .add_column(ColumnDef::new(column).big_integer().null().to_owned())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (column, _) in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(TaskqQueues::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
