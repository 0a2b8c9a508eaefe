//! `taskq_type_key_rates`: per key-rate-limited task type and concurrency
//! key, the time of the key's bucket while it is spent
//! (`lifecycle::key_bucket_spent`); a row whose time passed is a full
//! bucket, deleted by the next claim of the type.

use sea_orm::entity::prelude::*;

/// One row of `taskq_type_key_rates`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "taskq_type_key_rates")]
pub struct Model {
    /// The task type.
    #[sea_orm(primary_key, auto_increment = false)]
    pub task_type: String,
    /// The concurrency key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// The bucket's time, in µs since the epoch (`lifecycle::rate_spend`).
    pub tat_us: i64,
}

/// `taskq_type_key_rates` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
