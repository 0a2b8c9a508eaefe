//! `taskq_fair_lanes`: per fair queue and lane (a concurrency key, `""`
//! for tasks without one), the round its next task takes at the earliest
//! (`lifecycle::fair_round`), how many of its tasks took its last round
//! and its weight (`lifecycle::fair_turn`).

use sea_orm::entity::prelude::*;

/// One row of `taskq_fair_lanes`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "taskq_fair_lanes")]
pub struct Model {
    /// The fair queue.
    #[sea_orm(primary_key, auto_increment = false)]
    pub queue: String,
    /// The lane ([`taskq_core::lifecycle::fair_lane`]).
    #[sea_orm(primary_key, auto_increment = false)]
    pub lane: String,
    /// The lane's next round.
    pub next_round: i64,
    /// How many of the lane's tasks took its last round (`next_round - 1`).
    pub shared: i64,
    /// The lane's weight (`Broker::set_fair_weight`); `None`: 1. Kept
    /// while the queue is set not fair (the row stays, its rounds reset).
    pub weight: Option<i64>,
}

/// `taskq_fair_lanes` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
