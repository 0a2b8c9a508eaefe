//! SeaORM entities for taskq's tables.
//!
//! - [`task`]: `taskq_tasks`, one row per submitted task (a
//!   [`taskq_core::TaskRecord`]).
//! - [`count`]: `taskq_counts`, per minute and queue the attempts
//!   workers ended.
//! - [`queue`]: `taskq_queues`, one row per paused or limited queue.
//! - [`fair_lane`]: `taskq_fair_lanes`, per fair queue and lane (concurrency
//!   key) the round its next task takes.
//! - [`task_type`]: `taskq_task_types`, one row per limited or
//!   rate-limited task type.
//! - [`type_key_rate`]: `taskq_type_key_rates`, per key-rate-limited type
//!   and concurrency key the time of its spent bucket.
//! - [`schedule`]: `taskq_schedules`, one row per schedule (a
//!   [`taskq_core::Schedule`]).
//! - [`unique_key`]: `taskq_unique_keys`, per queue and unique key the
//!   task that last took it.
//! - [`worker`]: `taskq_workers`, one row per live worker (a
//!   [`taskq_core::WorkerInfo`]).
//!
//! Hosts may query these tables with their own SeaORM code (read-only is
//! wise: state changes go through the [`crate::SeaBackend`] so that fencing
//! and ordering rules hold).

pub mod count;
pub mod fair_lane;
pub mod queue;
pub mod schedule;
pub mod task;
pub mod task_type;
pub mod type_key_rate;
pub mod unique_key;
pub mod worker;
