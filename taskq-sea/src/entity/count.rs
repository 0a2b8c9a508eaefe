//! `taskq_counts`: per minute and queue, the attempts workers ended and
//! how ([`taskq_core::throughput::MinuteCounts`]).

use sea_orm::entity::prelude::*;

/// One row of `taskq_counts`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "taskq_counts")]
pub struct Model {
    /// The minute's start.
    #[sea_orm(primary_key, auto_increment = false)]
    pub minute: DateTimeUtc,
    #[sea_orm(primary_key, auto_increment = false)]
    pub queue: String,
    pub finished: i64,
    pub failed: i64,
    pub retried: i64,
    pub cancelled: i64,
}

/// `taskq_counts` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
