//! `taskq_schedules`: the stored form of a [`taskq_core::Schedule`].
//!
//! The kind decides which timing columns are set: `once` uses `run_at`,
//! `interval` uses `every_ms`, `cron` uses `cron_expression` and
//! `time_zone`. `Model: From<&Schedule>` and `Schedule: TryFrom<Model>`
//! convert between the two (a row with an unknown kind or policy is an
//! [`taskq_core::Error::Backend`]).

use sea_orm::entity::prelude::*;

/// One row of `taskq_schedules`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "taskq_schedules")]
pub struct Model {
    /// The schedule's unique name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The registered task type each tick submits.
    pub task_type: String,
    /// Params of each submitted task.
    pub params: Json,
    /// The workflow spec each tick submits instead (a workflow schedule).
    pub workflow: Option<Json>,
    /// `once`, `interval` or `cron`.
    pub kind: String,
    /// A one-off's time.
    pub run_at: Option<DateTimeUtc>,
    /// An interval, in milliseconds.
    pub every_ms: Option<i64>,
    /// A cron expression (5 or 6 fields).
    pub cron_expression: Option<String>,
    /// The cron expression's IANA time zone.
    pub time_zone: Option<String>,
    /// Fires only while set.
    pub enabled: bool,
    /// No tick before.
    pub start_at: Option<DateTimeUtc>,
    /// No tick after.
    pub end_at: Option<DateTimeUtc>,
    /// Runs allowed in all.
    pub max_runs: Option<i64>,
    /// Queue override.
    pub queue: Option<String>,
    /// Priority override.
    pub priority: Option<i32>,
    pub description: String,
    /// `skip`, `run_once` or `run_each`.
    pub misfire: String,
    /// The cap of `run_each`.
    pub misfire_max: Option<i32>,
    /// When it last fired.
    pub last_run_at: Option<DateTimeUtc>,
    /// The tick it waits for (indexed with `enabled`: the due index).
    pub next_run_at: Option<DateTimeUtc>,
    /// Tasks submitted in all.
    pub run_count: i64,
    /// The last task submitted.
    pub last_task_id: Option<Uuid>,
    /// Bumped by every edit; compared by every firing.
    pub revision: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// `taskq_schedules` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
