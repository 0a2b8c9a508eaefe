//! `taskq_queues`: per-queue settings. A queue has a row here only while
//! it is paused, limited, rate-limited or fair; the call that leaves it neither deletes the
//! row.

use sea_orm::entity::prelude::*;

/// One row of `taskq_queues`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "taskq_queues")]
pub struct Model {
    /// The queue's name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Claims from this queue are refused while set.
    pub paused: bool,
    /// At most this many of the queue's tasks run at once (`NULL`: no
    /// limit); read, with the row locked, inside every claim.
    pub running_limit: Option<i64>,
    /// The rate limit: at most `rate_starts` starts per `rate_period_us`
    /// microseconds (both `NULL`: none).
    pub rate_starts: Option<i64>,
    pub rate_period_us: Option<i64>,
    /// The rate limit's token bucket time (`lifecycle::rate_spend`;
    /// `NULL`: full), moved by every claim with the row locked.
    pub rate_tat_us: Option<i64>,
    /// Set while the queue is fair: its current round, the highest a
    /// claim took (`lifecycle::fair_claimed`). `NULL`: not fair.
    pub fair_round: Option<i64>,
}

/// `taskq_queues` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
