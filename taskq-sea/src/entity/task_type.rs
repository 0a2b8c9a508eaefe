//! `taskq_task_types`: per task type settings. A type has a row here only
//! while it has a limit, a key limit, a rate limit or a key rate limit;
//! clearing the last deletes the row.

use sea_orm::entity::prelude::*;

/// One row of `taskq_task_types`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "taskq_task_types")]
pub struct Model {
    /// The task type's name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// At most this many of the type's tasks run at once (`NULL`: no
    /// limit); read, with the row locked, inside every claim that may
    /// take the type.
    pub running_limit: Option<i64>,
    /// At most this many of the type's tasks with one concurrency key run
    /// at once (`NULL`: no key limit); read like `running_limit`.
    pub key_limit: Option<i64>,
    /// The type's rate limit: at most `rate_starts` starts per
    /// `rate_period_us` µs (`NULL`: none), and its bucket's time
    /// (`rate_tat_us`, `NULL`: full), read and moved with the row locked
    /// inside every claim that may take the type.
    pub rate_starts: Option<i64>,
    pub rate_period_us: Option<i64>,
    pub rate_tat_us: Option<i64>,
    /// The type's key rate limit (`NULL`: none); the keys' buckets are in
    /// `taskq_type_key_rates`.
    pub key_rate_starts: Option<i64>,
    pub key_rate_period_us: Option<i64>,
}

/// `taskq_task_types` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
