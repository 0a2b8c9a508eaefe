//! Fair weights (`Broker::set_fair_weight`): `taskq_fair_lanes` gains
//! `weight` (`NULL`: 1) and `shared`, how many of the lane's tasks took
//! its last round (`lifecycle::fair_turn`: a key of weight w puts w tasks
//! in a round). `shared` starts at 1: a lane's last round has one task
//! under the rule before weights.
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;

/// The fair weights migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261210_000090_taskq_fair_weights"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskqFairLanes {
    Table,
    Shared,
    Weight,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqFairLanes as L;
        let shared = ColumnDef::new(L::Shared)
            .big_integer()
            .not_null()
            .default(1)
            .to_owned();
        let weight = ColumnDef::new(L::Weight).big_integer().null().to_owned();
        super::columns::add_missing(manager, L::Table, [shared, weight]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqFairLanes as L;
        super::columns::drop_all(manager, L::Table, [L::Shared, L::Weight]).await
    }
}
