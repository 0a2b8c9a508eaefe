//! `taskq_unique_keys`: per queue and unique key, the task that last took
//! the key. A pointer, not a lock: whether the task still holds the key is
//! read from its `taskq_tasks` row (`lifecycle::holds_unique`).

use sea_orm::entity::prelude::*;

/// One row of `taskq_unique_keys`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "taskq_unique_keys")]
pub struct Model {
    /// The queue the key is unique in.
    #[sea_orm(primary_key, auto_increment = false)]
    pub queue: String,
    /// The key ([`taskq_core::UniqueKey::key`]).
    #[sea_orm(primary_key, auto_increment = false)]
    pub unique_key: String,
    /// The task that last took it.
    pub task_id: Uuid,
}

/// `taskq_unique_keys` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
