//! `taskq_workers`: the stored form of a [`taskq_core::WorkerInfo`], one
//! row per live (or recently gone) worker.

use sea_orm::entity::prelude::*;

/// One row of `taskq_workers`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "taskq_workers")]
pub struct Model {
    /// The worker's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// `[{ "name", "concurrency" }]`.
    pub queues: Json,
    /// `["type", …]`, sorted; `NULL` in rows written before workers
    /// reported their task types (read as none).
    pub task_types: Option<Json>,
    /// Tasks it ran at its last heartbeat.
    pub in_flight_count: i64,
    /// Their ids (at most [`taskq_core::WorkerInfo::IN_FLIGHT_IDS_MAX`]).
    pub in_flight: Json,
    /// `running`, `paused` or `stopping`, as the worker reported
    /// ([`taskq_core::WorkerState::as_str`]).
    pub state: String,
    /// The state an operator asked for, if any.
    pub requested: Option<String>,
    pub started_at: DateTimeUtc,
    pub heartbeat_at: DateTimeUtc,
    /// Gone without another heartbeat by then.
    pub expires_at: DateTimeUtc,
}

/// `taskq_workers` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
