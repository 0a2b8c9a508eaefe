//! End-to-end behaviour of workers and clients through the public facade,
//! with handlers declared by `#[long_task]`, on every backend:
//! `cargo test memory::`, `cargo test sqlite::` or `cargo test redis::`
//! runs one (Redis needs `TASKQ_TEST_REDIS_URL` at build time, else its
//! tests are ignored; `redis_cluster::` needs `TASKQ_TEST_REDIS_CLUSTER=1`
//! and starts a private Redis Cluster, see `common::PrivateRedisCluster`).

#[path = "../common/mod.rs"]
mod common;
use common::unique;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use taskq::backend::Backend;
use taskq::prelude::*;
use taskq::{
    ErrorKind, MaintenanceConfig, PageRequest, StopReason, WorkerBuilder, WorkerControl,
    WorkerInfo, WorkerQueue, WorkerState,
};

mod blocking;
mod deadline;
mod hooks;
mod idempotent;
mod leases;
mod limit;
#[cfg(feature = "opentelemetry")]
mod otel;
mod outcomes;
mod rate;
mod remote_control;
mod steering;
mod subscriber;
mod support;
mod type_rate;
mod unique;
mod unserved;
mod wait;
mod workflow;

use blocking::*;
use deadline::*;
use hooks::*;
use idempotent::*;
use leases::*;
use limit::*;
#[cfg(feature = "opentelemetry")]
use otel::*;
use outcomes::*;
use rate::*;
use remote_control::*;
use steering::*;
use subscriber::*;
use support::*;
use type_rate::*;
use unique::*;
use unserved::*;
use wait::*;
use workflow::*;

/// `pair_suite!(#[attr]… name, factory)`: the tests that take two handles
/// on one store; `, announced` adds the test of a backend that announces
/// worker controls. The attributes (an `ignore` when the server is not
/// configured) go on each test.
macro_rules! pair_suite {
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        pair_suite!(@mod [$(#[$attr])*] $name, $factory;
            worker_is_paused_resumed_and_stopped_from_another_handle);
    };
    ($(#[$attr:meta])* $name:ident, $factory:expr, announced) => {
        pair_suite!(@mod [$(#[$attr])*] $name, $factory;
            worker_is_paused_resumed_and_stopped_from_another_handle,
            control_is_announced_between_heartbeats);
    };
    (@mod [$($attr:tt)*] $name:ident, $factory:expr; $($test:ident),*) => {
        mod $name {
            use super::*;
            pair_suite!(@tests [$($attr)*] $factory; $($test),*);
        }
    };
    (@tests [$($attr:tt)*] $factory:expr;) => {};
    (@tests [$($attr:tt)*] $factory:expr; $test:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $test() {
            let factory = $factory;
            let (backend, other) = factory().await;
            super::super::$test(backend, other).await;
        }
        pair_suite!(@tests [$($attr)*] $factory; $($rest),*);
    };
}

/// `wait_suite!(#[attr]… name, factory)`: the waiting tests, each on two
/// handles on one store.
macro_rules! wait_suite {
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        pair_suite!(@mod [$(#[$attr])*] $name, $factory;
            wait_wakes_on_a_settle_from_another_handle, wait_gives_the_typed_failure,
            wait_times_out_and_refuses_bad_input, wait_many_waiters_share_one_poller);
    };
}

/// `cargo test wait_results::` runs the waiting tests (`wait_results::sqlite::`
/// one backend).
mod wait_results {
    use super::*;

    wait_suite!(memory, common::memory_pair);

    #[cfg(feature = "sqlite")]
    wait_suite!(sqlite, || common::sqlite_pair("taskq-wait"));

    #[cfg(feature = "redis")]
    wait_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        || common::redis_pair("taskq-wait")
    );

    #[cfg(feature = "redis")]
    wait_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster,
        || common::redis_cluster_pair("taskq-wait")
    );

    #[cfg(all(feature = "redis", feature = "sqlite"))]
    wait_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis_sqlite,
        || common::redis_sqlite_pair("taskq-wait")
    );

    #[cfg(feature = "postgres")]
    wait_suite!(
        #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
        postgres,
        common::postgres_pair
    );

    #[cfg(feature = "mysql")]
    wait_suite!(
        #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
        mysql,
        common::mysql_pair
    );
}

/// `cargo test worker_control::` runs the worker-control tests alone.
mod worker_control {
    use super::*;

    pair_suite!(memory, common::memory_pair, announced);

    #[cfg(feature = "sqlite")]
    pair_suite!(sqlite, || common::sqlite_pair("taskq-worker-control"));

    #[cfg(feature = "redis")]
    pair_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        || common::redis_pair("taskq-worker-control"),
        announced
    );

    #[cfg(feature = "redis")]
    pair_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster,
        || common::redis_cluster_pair("taskq-worker-control"),
        announced
    );

    #[cfg(all(feature = "redis", feature = "sqlite"))]
    pair_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis_sqlite,
        || common::redis_sqlite_pair("taskq-worker-control"),
        announced
    );

    #[cfg(feature = "postgres")]
    pair_suite!(
        #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
        postgres,
        common::postgres_pair
    );

    #[cfg(feature = "mysql")]
    pair_suite!(
        #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
        mysql,
        common::mysql_pair
    );
}

/// `cargo test otel_trace::` runs the OpenTelemetry test on every backend
/// (`otel_trace::sqlite::` one); it needs the `opentelemetry` feature.
#[cfg(feature = "opentelemetry")]
mod otel_trace {
    use super::*;

    /// `otel_suite!(#[attr]… name, factory)`.
    macro_rules! otel_suite {
        ($(#[$attr:meta])* $name:ident, $factory:expr) => {
            mod $name {
                use super::*;
                taskq_core::backend_tests!([$(#[$attr])*] $factory, [super::super::];
                    otel_trace_id_set_at_submit_is_the_attempt_parent);
            }
        };
    }

    otel_suite!(memory, common::memory);

    #[cfg(feature = "sqlite")]
    otel_suite!(sqlite, || common::sqlite("taskq-otel-test"));

    #[cfg(feature = "redis")]
    otel_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        || common::redis("taskq-otel-test")
    );

    #[cfg(feature = "redis")]
    otel_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster,
        || common::redis_cluster("taskq-otel-test")
    );

    #[cfg(all(feature = "redis", feature = "sqlite"))]
    otel_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis_sqlite,
        || common::redis_sqlite("taskq-otel-test")
    );

    #[cfg(feature = "postgres")]
    otel_suite!(
        #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
        postgres,
        common::postgres
    );

    #[cfg(feature = "mysql")]
    otel_suite!(
        #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
        mysql,
        common::mysql
    );
}

/// `worker_suite!(#[attr]… name, factory)`: every end-to-end test on one
/// backend; the attributes (an `ignore` when the server is not
/// configured) go on each test.
macro_rules! worker_suite {
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        mod $name {
            use super::*;
            taskq_core::backend_tests!([$(#[$attr])*] $factory, [super::super::];
                typed_submit_runs_to_finished, submit_by_name_validates,
                retryable_errors_retry_with_backoff, permanent_errors_and_panics_fail,
                hard_and_soft_timeouts, cancel_pending_and_running,
                progress_is_readable_while_running, eta_and_countdown_are_respected,
                priorities_and_reorder_decide_order, paused_queue_waits_for_resume,
                retry_reruns_failed_task_with_same_id, shutdown_releases_unfinished_tasks,
                dead_worker_tasks_are_rescued, retention_prunes_old_records,
                client_errors_change_nothing, slow_handler_does_not_hold_back_its_batch,
                oversized_result_fails_without_retry,
                worker_without_the_handler_leaves_the_task,
                worker_warns_once_for_pending_tasks_no_worker_can_run,
                blocking_handler_times_out_on_time_beside_its_batch,
                blocked_handler_threads_keep_their_leases,
                blocking_option_gives_each_handler_a_thread,
                idempotent_submit_with_the_same_id_returns_it,
                idempotent_submit_retries_an_ambiguous_error,
                idempotent_submit_many_with_ids,
                unique_declared_key_answers_with_the_holder, unique_per_submission_and_bad_input,
                workflow_chain_group_chord_run_end_to_end,
                workflow_failure_cancels_and_retry_resumes, workflow_bad_input_and_cancel,
                workflow_schedule_fires_and_runs_to_its_end,
                hooks_see_every_attempt_and_its_end,
                limit_rate_held_task_starts_when_the_token_arrives,
                limit_rate_type_declared_paces_starts_without_polling,
                limit_type_declared_caps_running_tasks, limit_key_declared_caps_each_key,
                history_shows_each_attempt_of_a_retried_task,
                snooze_twice_then_finish_spends_one_attempt,
                snooze_past_the_bound_fails_with_its_kind, expire_while_waiting_for_its_eta);
        }
    };
}

/// `cargo test worker::memory::` (or `sqlite`, `redis`, …) runs one backend.
mod worker {
    use super::*;

    worker_suite!(memory, common::memory);

    #[cfg(feature = "sqlite")]
    worker_suite!(sqlite, || common::sqlite("taskq-worker-test"));

    #[cfg(feature = "redis")]
    worker_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        || common::redis("taskq-worker-test")
    );

    #[cfg(feature = "redis")]
    worker_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster,
        || common::redis_cluster("taskq-worker-test")
    );

    #[cfg(all(feature = "redis", feature = "sqlite"))]
    worker_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis_sqlite,
        || common::redis_sqlite("taskq-worker-test")
    );

    #[cfg(all(feature = "redis", feature = "sqlite"))]
    worker_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster_sqlite,
        || common::redis_cluster_sqlite("taskq-worker-test")
    );

    #[cfg(feature = "postgres")]
    worker_suite!(
        #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
        postgres,
        common::postgres
    );

    #[cfg(feature = "mysql")]
    worker_suite!(
        #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
        mysql,
        common::mysql
    );
}

/// Given alone, `soft_timeout` is checked against the default hard timeout
/// at compile time (`tests/ui/fail/option_conflicts.rs`) and keeps it.
#[long_task(soft_timeout = 30)]
async fn soft_only(_p: ()) -> Result<(), TaskError> {
    Ok(())
}

#[test]
fn soft_timeout_alone_keeps_the_default_hard_timeout() {
    let registry = taskq::registry::Registry::from_inventory().unwrap();
    let options = &registry.get("soft_only").unwrap().options;
    assert_eq!(options.soft_timeout, Some(Duration::from_secs(30)));
    assert_eq!(options.timeout, taskq::TaskOptions::DEFAULT.timeout);
}
