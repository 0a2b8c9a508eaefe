//! Task type and key rate limits (`Broker::set_type_rate_limit`,
//! `Broker::set_key_rate_limit`): `taskq_task_types` gains the type's
//! bucket (`rate_starts`, `rate_period_us`, `rate_tat_us`, like the
//! queue's in `taskq_queues`) and its key rate limit (`key_rate_starts`,
//! `key_rate_period_us`); `taskq_type_key_rates` holds each key's bucket
//! time while it is spent (`tat_us` ahead of the clock: a row whose time
//! passed is a full bucket, and the claim deletes it).
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;

/// The task type rate limits migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261210_000080_taskq_type_rates"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskqTaskTypes {
    Table,
    RateStarts,
    RatePeriodUs,
    RateTatUs,
    KeyRateStarts,
    KeyRatePeriodUs,
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskqTypeKeyRates {
    Table,
    TaskType,
    Key,
    TatUs,
}

const TAT_INDEX: &str = "idx_taskq_type_key_rates_tat";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTaskTypes as T;
        let columns = [
            T::RateStarts,
            T::RatePeriodUs,
            T::RateTatUs,
            T::KeyRateStarts,
            T::KeyRatePeriodUs,
        ]
        .map(|column| ColumnDef::new(column).big_integer().null().to_owned());
        super::columns::add_missing(manager, T::Table, columns).await?;
        use TaskqTypeKeyRates as K;
        manager
            .create_table(
                Table::create()
                    .table(K::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(K::TaskType).string_len(255).not_null())
                    .col(ColumnDef::new(K::Key).string_len(255).not_null())
                    .col(ColumnDef::new(K::TatUs).big_integer().not_null())
                    .primary_key(Index::create().col(K::TaskType).col(K::Key))
                    .to_owned(),
            )
            .await?;
        if !manager.has_index("taskq_type_key_rates", TAT_INDEX).await? {
            // The claim's prune deletes the rows whose time passed.
            manager
                .create_index(
                    Index::create()
                        .name(TAT_INDEX)
                        .table(K::Table)
                        .col(K::TatUs)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTaskTypes as T;
        manager
            .drop_table(
                Table::drop()
                    .table(TaskqTypeKeyRates::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        super::columns::drop_all(
            manager,
            T::Table,
            [
                T::RateStarts,
                T::RatePeriodUs,
                T::RateTatUs,
                T::KeyRateStarts,
                T::KeyRatePeriodUs,
            ],
        )
        .await
    }
}
