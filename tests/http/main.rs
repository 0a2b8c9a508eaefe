//! The HTTP routes, called through the router with `tower::ServiceExt::oneshot`
//! (no socket), on every embedded backend: `cargo test --features http --test
//! http http_routes::memory::` (or `sqlite::`, `postgres::`, `mysql::`,
//! `redis::`) runs one; the servers are read from `TASKQ_TEST_POSTGRES_URL`,
//! `TASKQ_TEST_MYSQL_URL` and `TASKQ_TEST_REDIS_URL` (unset at build time:
//! their tests are ignored). Every endpoint and every error
//! status (400, 401, 403, 404, 405, 409, 413, 415, 422) is exercised; the
//! OpenAPI document's shape is checked once (`openapi::`), on memory.

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use taskq::backend::Backend;
use taskq::http::{self, Auth, HttpConfig};
use taskq::prelude::*;
use taskq::registry::Registry;
use tower::ServiceExt;

mod api;
mod bounds;
mod bulk;
mod deadline;
mod fair;
mod history;
mod lifecycle;
mod limits;
mod metrics;
mod openapi;
mod queues_workers;
mod schedules;
mod support;
mod tasks;
mod type_rate;
mod wait;
mod workflows;

use api::*;
use bounds::*;
use bulk::*;
use deadline::*;
use fair::*;
use history::*;
use lifecycle::*;
use limits::*;
use metrics::*;
use queues_workers::*;
use schedules::*;
use support::*;
use tasks::*;
use type_rate::*;
use wait::*;
use workflows::*;

/// `http_suite!(#[attr]… name, factory)`: every route test on one backend;
/// the attributes (an `ignore` when the server is not configured) go on
/// each test.
macro_rules! http_suite {
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        mod $name {
            use super::*;
            taskq_core::backend_tests!([$(#[$attr])*] $factory, [super::super::];
                task_types_are_listed_with_their_schema,
                submit_stores_the_task_with_overrides,
                submit_idempotent_id_returns_the_existing_task,
                submit_unique_answers_with_the_holder,
                submit_errors_name_the_problem_and_store_nothing,
                list_filters_and_paginates_like_the_seeds,
                cancel_retry_and_reorder_follow_the_state_machine,
                purge_deletes_ended_tasks_by_state_and_age,
                delete_removes_one_ended_task,
                queues_show_depth_and_pause_resume_purge,
                queue_limit_is_set_shown_lifted_and_checked,
                limit_rate_is_set_shown_lifted_and_checked,
                fair_queue_is_set_shown_and_checked, fair_weights_are_set_listed_and_checked,
                limit_type_is_set_shown_lifted_and_checked,
                limit_key_is_set_by_submit_and_checked,
                limit_rate_type_is_set_shown_lifted_and_checked,
                worker_progress_and_results_show_through_the_api,
                workers_are_listed_paused_resumed_and_shut_down,
                metrics_count_tasks_by_queue_and_state,
                metrics_show_attempts_and_run_times_as_tasks_run,
                throughput_counts_what_workers_ended,
                openapi_document_describes_every_route,
                auth_is_required_and_errors_keep_their_shape,
                junk_input_never_breaks_a_route,
                dashboard_page_and_assets_are_served_without_data,
                schedules_are_created_steered_and_deleted,
                an_explicit_registry_limits_the_task_types,
                detail_wait_long_polls_until_the_task_ends,
                submit_out_of_range_overrides_are_400_naming_the_field,
                names_no_url_reaches_are_400_naming_the_field,
                writes_that_are_not_json_are_415,
                bodiless_writes_need_the_csrf_header,
                schedule_list_query_is_decoded_and_every_400_names_its_field,
                schedule_of_a_unit_task_needs_no_params,
                history_tags_and_metadata_are_stored_filtered_and_shown,
                history_detail_shows_every_attempt,
                submit_expire_bad_deadlines_are_400_and_expired_shows,
                bulk_acts_by_ids_and_filter_and_says_what_it_skipped,
                bulk_bad_input_names_the_field_and_changes_nothing);
        }
    };
}

/// `http_workflow_suite!(#[attr]… name, factory)`: the workflow routes on
/// one backend (`cargo test --test http -- workflow`).
macro_rules! http_workflow_suite {
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        mod $name {
            use super::*;
            taskq_core::backend_tests!([$(#[$attr])*] $factory, [super::super::];
                workflow_submit_reads_back_and_runs_to_the_end,
                workflow_errors_name_the_step_and_store_nothing,
                workflow_cancel_ends_every_open_step,
                workflow_retry_of_the_failed_step_resumes_it,
                workflow_schedule_over_rest);
        }
    };
}

/// `cargo test http_routes::memory::` (or `sqlite`, `redis`, …) runs one
/// backend.
mod http_routes {
    use super::*;

    http_suite!(memory, common::memory);

    /// `cargo test http_workflows::memory::` (or `sqlite`, `postgres`,
    /// `mysql`, `redis`).
    mod http_workflows {
        use super::*;

        http_workflow_suite!(memory, common::memory);

        #[cfg(feature = "sqlite")]
        http_workflow_suite!(sqlite, || common::sqlite("taskq-http-workflow-test"));

        #[cfg(feature = "postgres")]
        http_workflow_suite!(
            #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
            postgres,
            common::postgres
        );

        #[cfg(feature = "mysql")]
        http_workflow_suite!(
            #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
            mysql,
            common::mysql
        );

        #[cfg(feature = "redis")]
        http_workflow_suite!(
            #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
            redis,
            || common::redis("taskq-http-workflow-test")
        );
    }

    #[cfg(feature = "sqlite")]
    http_suite!(sqlite, || common::sqlite("taskq-http-test"));

    #[cfg(feature = "redis")]
    http_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        || common::redis("taskq-http-test")
    );

    #[cfg(feature = "postgres")]
    http_suite!(
        #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
        postgres,
        common::postgres
    );

    #[cfg(feature = "mysql")]
    http_suite!(
        #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
        mysql,
        common::mysql
    );
}
