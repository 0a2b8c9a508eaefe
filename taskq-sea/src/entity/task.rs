//! `taskq_tasks`: the stored form of a [`taskq_core::TaskRecord`].
//!
//! `Model: From<TaskRecord>` and `TaskRecord: TryFrom<Model>` convert
//! between the two (a row with an unknown state or error kind is an
//! [`taskq_core::Error::Backend`]). Durations are stored in whole
//! milliseconds, rounded up; retry counts above `i32::MAX` are stored as
//! `i32::MAX`.

use sea_orm::entity::prelude::*;

/// One row of `taskq_tasks`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "taskq_tasks")]
pub struct Model {
    /// The task id (a UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The registered task name.
    pub task_type: String,
    /// The task's parameters as JSON.
    pub params: Json,
    /// `WAITING`, `PENDING`, `RUNNING`, `FINISHED`, `FAILED`, `CANCELLED`
    /// or `EXPIRED`
    /// ([`taskq_core::TaskState::as_str`]).
    pub state: String,
    /// The queue it is delivered through.
    pub queue: String,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts started so far.
    pub attempt: i32,
    /// Retries allowed after the first attempt.
    pub max_retries: i32,
    /// The handler's `Ok` value.
    pub result: Option<Json>,
    /// The last failure's kind ([`taskq_core::ErrorKind::as_str`]).
    pub error_kind: Option<String>,
    /// The last failure's message.
    pub error_message: Option<String>,
    /// Reported progress, 0.0 – 1.0.
    pub progress_fraction: Option<f64>,
    /// Reported progress message.
    pub progress_message: Option<String>,
    /// Submission time.
    pub created_at: DateTimeUtc,
    /// Not claimed before this time.
    pub scheduled_at: DateTimeUtc,
    /// Start of the last attempt.
    pub started_at: Option<DateTimeUtc>,
    /// When the task reached a terminal state.
    pub finished_at: Option<DateTimeUtc>,
    /// While running: the lease's end.
    pub lease_until: Option<DateTimeUtc>,
    /// The worker that runs (or ran) the last attempt.
    pub worker_id: Option<String>,
    /// Someone asked to cancel the running attempt.
    pub cancel_requested: bool,
    /// Hard timeout of this submission, in milliseconds.
    pub timeout_ms: Option<i64>,
    /// Soft timeout of this submission, in milliseconds.
    pub soft_timeout_ms: Option<i64>,
    /// Order among pending tasks of equal priority (lower first).
    pub seq: i64,
    /// The task's round in a fair queue (lower first, before `seq`; 0
    /// outside a fair queue).
    pub fair_round: i64,
    /// The unique key the task holds (`taskq_unique_keys` points at it).
    pub unique_key: Option<String>,
    /// The states in which it holds the key, as a bit set
    /// ([`taskq_core::task::states_mask`]).
    pub unique_states: Option<i16>,
    /// The end of its unique period.
    pub unique_until: Option<DateTimeUtc>,
    /// The workflow it is a step of.
    pub workflow_id: Option<Uuid>,
    /// Its step in that workflow ([`taskq_core::WorkflowStep`] as JSON,
    /// `waiting_on` aside).
    pub workflow_step: Option<Json>,
    /// Parents yet to end while the step is `WAITING`.
    pub waiting_on: Option<i32>,
    /// The ended attempts ([`taskq_core::AttemptRecord`]s), a JSON array
    /// appended to by the statement that ends each (`history.rs`).
    pub attempts: Option<Json>,
    /// Tags as `,a,b,` ([`taskq_core::lifecycle::tags_text`]).
    pub tags: Option<String>,
    /// The submission's metadata object.
    pub metadata: Option<Json>,
    /// The schedule that queued the task.
    pub schedule: Option<String>,
    /// Times the handler snoozed.
    pub snoozes: i32,
    /// The deadline to start (`EXPIRED` when not started by then).
    pub expires_at: Option<DateTimeUtc>,
    /// The concurrency key its type's key limit counts it under.
    pub concurrency_key: Option<String>,
    /// The submitting span's trace context
    /// ([`taskq_core::trace::TraceContext`]), a JSON object of strings.
    pub trace_context: Option<Json>,
}

/// `taskq_tasks` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
