//! The backend conformance suite: the rules of [`crate::backend`], written
//! once, run against every backend.
//!
//! A backend's test file instantiates it with a factory that returns a fresh,
//! isolated backend per test (its own file, schema or key prefix):
//!
//! ```ignore
//! taskq_core::conformance_suite!(sqlite, || async { Arc::new(fresh_sqlite().await) as Arc<dyn Backend> });
//! ```
//!
//! This expands to a module `sqlite` with one `#[tokio::test]` per rule,
//! so `cargo test sqlite::` runs one backend alone.
//!
//! # Layout
//! One file per area of the contract, each rule a `pub async fn` taking a
//! fresh backend: `claim`, `settle`, `rescue` (leases), `cancel` (cancel
//! and retry), `reorder`, `records` (lists, delete, purge), `schedules`,
//! `workers`, and `coverage` (pending work per type, the workers' task
//! types, the pending tasks no live worker runs), `wait` (the states the
//! waiters' poll reads, end signals), `unique` (unique keys), `limit`
//! (queue limits), `type_limit` (task type limits), `rate` (rate limits), `type_rate` (task type and key rate limits), `fair` (fair queues), `history` (attempts' history,
//! tags, metadata, the schedule of a fired task), `deadline` (snoozes,
//! and deadlines to start). [`helpers`] holds what
//! they share (records, claims, the scheduled task type), public for
//! backends' own tests. [`model`] is
//! the model-based differential test against the lifecycle.

use std::sync::Arc;

use crate::backend::Backend;

mod cancel;
mod claim;
mod counts;
mod coverage;
mod deadline;
mod fair;
pub mod helpers;
mod history;
mod limit;
mod limit_setup;
pub mod model;
mod rate;
mod records;
mod reorder;
mod rescue;
mod schedule_workflow;
mod schedules;
mod settle;
mod type_limit;
mod type_limit_queues;
mod type_rate;
mod unique;
mod wait;
mod workers;
mod workflow;

pub use cancel::*;
pub use claim::*;
pub use counts::*;
pub use coverage::*;
pub use deadline::*;
pub use fair::*;
pub use helpers::{SCHEDULED_TASK, record, schedule_client, worker_info};
pub use history::*;
pub use limit::*;
pub use rate::*;
pub use records::*;
pub use reorder::*;
pub use rescue::*;
pub use schedule_workflow::*;
pub use schedules::*;
pub use settle::*;
pub use type_limit::*;
pub use type_limit_queues::*;
pub use type_rate::*;
pub use unique::*;
pub use wait::*;
pub use workers::*;
pub use workflow::*;

/// What a suite factory returns: a backend, or `None` when the backend's
/// server is not configured (the factory prints why; the test returns).
pub trait SuiteBackend {
    /// The backend to test, or `None` to skip.
    fn into_suite_backend(self) -> Option<Arc<dyn Backend>>;
}

impl SuiteBackend for Arc<dyn Backend> {
    fn into_suite_backend(self) -> Option<Arc<dyn Backend>> {
        Some(self)
    }
}

impl SuiteBackend for Option<Arc<dyn Backend>> {
    fn into_suite_backend(self) -> Option<Arc<dyn Backend>> {
        self
    }
}

/// Instantiates the suite for one backend: `conformance_suite!(name, factory)`
/// where `factory` is `|| async { … }` giving a fresh backend, as an
/// `Arc<dyn Backend>`, or as an `Option<Arc<dyn Backend>>` that is `None`
/// when a server-backed backend is not configured (see [`SuiteBackend`]).
///
/// Attributes written before the name are put on every generated test, so a
/// suite whose server is missing can show as ignored, with its reason:
/// `conformance_suite!(#[cfg_attr(taskq_no_redis, ignore = "no Redis")] redis, factory)`.
#[macro_export]
macro_rules! conformance_suite {
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::backend_tests!([$(#[$attr])*] $factory, [$crate::conformance::];
                claim_order, claim_respects_limit, claim_takes_only_its_task_types,
                eta_is_respected, pause_and_resume,
                cancel_pending, cancel_running, heartbeat_reports_lost_leases, reorder,
                reorder_without_gap, reorder_across_priorities, reorder_counts_delayed_tasks,
                settle_outcomes, fencing_rejects_stale_attempts,
                settle_batch_applies_a_repeat_once,
                rescue_expired_leases, rescue_waits_the_backoff,
                release_returns_without_spending_attempt,
                release_after_cancel_request_cancels,
                retry_terminal_tasks, purge, list_filters_and_pages,
                list_filters_follow_state_changes,
                concurrent_claims_are_exclusive, enqueue_rejects_duplicate_ids,
                idempotent_enqueue_refuses_a_stored_id_typed,
                records_round_trip, schedule_crud, schedule_due_index,
                schedule_fire_is_compare_and_set, schedule_fire_tolerates_queued_tick,
                schedule_fire_batch_applies_current_firings,
                schedule_concurrent_firings_fire_once, schedule_edit_refuses_stale_firing,
                schedule_fire_batch_bookkeeping,
                schedule_run_now_records_the_run, schedule_round_trip,
                schedule_fires_a_workflow_once_per_tick, delete_one_ended_task,
                worker_registry, worker_registry_gone_and_forgotten,
                worker_control_is_compare_and_set, stats_count_pending_by_type,
                workers_report_their_task_types, counts_add_up_per_minute_and_queue,
                queue_stats_show_pending_types_no_live_worker_runs,
                wait_task_states_follow_the_records, wait_hub_wakes_on_own_settle_and_cancel,
                unique_duplicate_names_the_holder, unique_batch_stores_the_first_of_each_key,
                unique_key_is_free_once_the_holder_ends, unique_period_and_delete_end_the_hold,
                unique_concurrent_submits_store_one,
                workflow_chain_releases_after_parent_finishes,
                workflow_chord_counts_down_to_release, workflow_failure_cancels_dependents,
                workflow_cancel_and_rescue_move_dependents,
                workflow_retry_resumes_from_the_failed_step,
                workflow_second_end_of_a_retried_step_counts,
                limit_caps_a_claim, limit_concurrent_claimers_never_exceed_it,
                limit_cleared_lifts_it, limit_rescued_task_frees_its_slot,
                limit_of_zero_is_refused,
                limit_type_caps_a_claim_and_others_pass,
                limit_type_concurrent_claimers_never_exceed_it,
                limit_type_rescued_task_frees_its_slot, limit_type_change_clear_and_zero,
                limit_type_respects_the_claim_types,
                limit_key_caps_each_key_apart, limit_key_concurrent_claimers_never_exceed_it,
                limit_key_rescue_frees_and_limits_combine,
                limit_type_set_after_a_claim_binds_the_next,
                limit_key_set_after_a_claim_binds_and_lists_running_keys,
                limit_type_mixed_claim_keeps_claim_order,
                limit_type_full_claim_still_takes_the_types_behind,
                limit_type_keyed_task_without_key_limit_keeps_its_lease,
                limit_type_across_queues_holds_the_total,
                limit_key_across_queues_holds_each_key,
                limit_rate_type_across_queues_share_one_bucket,
                limit_type_across_queues_racing_claimers_never_exceed_it,
                limit_type_across_queues_rescue_frees_the_slot,
                limit_rate_caps_starts_per_period, limit_rate_concurrent_claimers_never_exceed_it,
                limit_rate_change_keeps_the_bucket_and_clear_lifts_it,
                limit_rate_and_queue_limit_take_the_least, limit_rate_rescue_leaks_nothing,
                limit_rate_bad_input_is_refused,
                limit_rate_type_burst_then_pace, limit_rate_key_buckets_are_independent,
                limit_rate_type_change_and_lift, limit_rate_type_bad_input_changes_nothing,
                limit_rate_key_type_rate_and_limit_together,
                fair_small_key_goes_first_behind_a_big_key,
                fair_late_key_starts_at_the_claimed_round,
                fair_retry_keeps_its_round_and_off_gives_round_zero,
                fair_reorder_moves_among_rounds,
                fair_cancelled_lane_starts_at_the_current_round,
                fair_cancelled_lane_expired_and_keyless_and_per_queue,
                fair_weight_three_turns_to_one, fair_weight_reset_and_per_queue,
                fair_weight_bad_input_is_refused,
                fair_batch_over_a_fair_and_a_plain_queue,
                fair_batch_with_a_stored_id_is_refused,
                history_records_each_attempt_end,
                history_rescue_cancel_and_failure_are_recorded, history_keeps_the_last_entries,
                tags_filter_lists_tasks_carrying_every_tag,
                tags_metadata_filter_matches_typed_values,
                tags_schedule_firing_names_its_schedule,
                snooze_gives_the_attempt_back, expire_claim_never_starts_an_overdue_task,
                expire_sweep_takes_retries_and_batches,
                workflow_expired_step_moves_its_dependents);
        }
    };
}

/// One `#[tokio::test]` per named test function on one backend, shared by
/// [`conformance_suite!`] and the test files' own suites:
/// `backend_tests!([#[attr]…] factory, [path::to::]; test_a, test_b)` calls
/// `path::to::test_a(backend)` with a fresh backend from `factory` (an
/// `Arc<dyn Backend>`, or an `Option` of one, see [`SuiteBackend`]).
#[doc(hidden)]
#[macro_export]
macro_rules! backend_tests {
    ([$($attr:tt)*] $factory:expr, [$($path:tt)*];) => {};
    // One test per step: the attributes repeat inside each test, which a
    // single repetition over the tests cannot express.
    ([$($attr:tt)*] $factory:expr, [$($path:tt)*]; $test:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $test() {
            let factory = $factory;
            let Some(backend) =
                $crate::conformance::SuiteBackend::into_suite_backend(factory().await)
            else {
                return;
            };
            $($path)* $test(backend).await;
        }
        $crate::backend_tests!([$($attr)*] $factory, [$($path)*]; $($rest),*);
    };
}
