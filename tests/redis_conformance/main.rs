//! The Redis backend, on one server and on Redis Cluster: the shared
//! conformance suite, then Redis-specific behaviour (retention, wake-ups
//! across connections, key cleanup), then what only a cluster shows —
//! queues spread over the nodes while batches, lists, stats, purges and
//! key deletion span them, and announcements (work, delayed work,
//! cancels, schedule writes, worker controls) that reach a process
//! subscribed on another node.
//!
//! The single-server tests (`redis::`, `redis_specific::`) need
//! `TASKQ_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`); built without
//! it they are ignored. The cluster tests (`redis_cluster…`) run when
//! `TASKQ_TEST_REDIS_CLUSTER=1` (set by `.ci/run`) and start one private
//! three-master cluster for the binary ([`common::PrivateRedisCluster`]:
//! `redis-server` and `redis-cli` on the `PATH`, about two seconds); they
//! fail when it does not come up. Each test uses its own key prefix and
//! deletes its keys when its backend is dropped.
#![cfg(feature = "redis")]

#[path = "../common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use fred::prelude::{
    Builder, Client, ClientLike, ClusterInterface, Config, KeysInterface, SortedSetsInterface,
};
use serde_json::json;
use taskq::backend::{Backend, Broker, ScheduleStore, Store, WorkerRegistry};
use taskq::{RedisBackend, RedisConfig, TaskRecord, WorkerControl};
use taskq_core::backend::{ClaimRequest, Outcome, Settlement};
use taskq_core::conformance::{record, worker_info};

use common::marks::{marks_start, time_cancel_of_running, wait_mark};

use common::PrivateRedisCluster;

mod cluster;
mod hosts;
mod records;
mod support;
mod workflow;

use hosts::*;
use records::*;
use support::*;
use workflow::*;

/// The shared conformance suite: `cargo test conformance::` runs it alone.
mod conformance {
    #[allow(unused_imports)]
    use super::*;

    taskq_core::conformance_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        || async { Arc::new(fresh(&Target::single().url).await) as Arc<dyn Backend> }
    );

    taskq_core::conformance_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster,
        || async { Arc::new(fresh(&Target::cluster().url).await) as Arc<dyn Backend> }
    );
}

/// The Redis-specific tests below, on one target: `redis_specific!(#[attr]…
/// name, target)` where `target` gives a [`Target`]; the attributes (an
/// `ignore` when the server is not configured) go on each test.
macro_rules! redis_specific {
    ($(#[$attr:meta])* $name:ident, $target:expr) => {
        mod $name {
            redis_specific!(@tests [$(#[$attr])*] $target;
                enqueue_wakes_other_hosts, delayed_task_wakes_worker_when_due,
                cancel_reaches_worker_on_other_host, retention_expires_finished_records,
                pruner_deletes_finished_records_by_default,
                settle_from_another_handle_reads_what_it_lacks,
                redis_history_of_an_unread_settle_matches_a_read_one,
                rescue_takes_bare_id_running_members,
                queue_stats_count_each_kind, keys_are_deleted_on_drop,
                duplicate_id_across_queues_changes_nothing, countdown_task_starts_when_due,
                cancel_stops_running_task_on_other_host_promptly,
                limit_type_set_on_another_host_binds_its_claims);
        }
    };
    (@tests [$($attr:tt)*] $target:expr;) => {};
    // One test per step: the attributes repeat inside each test.
    (@tests [$($attr:tt)*] $target:expr; $test:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $test() {
            super::$test($target()).await;
        }
        redis_specific!(@tests [$($attr)*] $target; $($rest),*);
    };
}

redis_specific!(
    #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
    redis_specific,
    super::Target::single
);

redis_specific!(
    #[cfg_attr(
        taskq_no_redis_cluster,
        ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
    )]
    redis_cluster_specific,
    super::Target::cluster
);

/// Workflows end to end (`workflow.rs`), on one server and on the cluster.
macro_rules! redis_workflow {
    ($(#[$attr:meta])* $name:ident, $target:expr) => {
        mod $name {
            redis_specific!(@tests [$(#[$attr])*] $target;
                workflow_chain_and_cross_queue_chord_run, workflow_failure_cancels_dependents,
                workflow_retry_resumes_across_queues, workflow_outbox_left_behind_is_carried_once);
        }
    };
}

redis_workflow!(
    #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
    redis_workflow,
    super::Target::single
);

redis_workflow!(
    #[cfg_attr(
        taskq_no_redis_cluster,
        ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
    )]
    redis_cluster_workflow,
    super::Target::cluster
);

/// Nothing listens on port 1: connecting fails, naming the cause (the
/// bound only keeps a regression from hanging the suite).
#[tokio::test]
async fn redis_closed_port_fails_with_the_cause() {
    let connect = RedisBackend::connect("redis://127.0.0.1:1");
    let result = tokio::time::timeout(Duration::from_secs(60), connect)
        .await
        .expect("connect gave up within a minute");
    let Err(err) = result else {
        panic!("nothing listens on port 1")
    };
    let message = err.to_string().to_lowercase();
    assert!(message.contains("refused"), "{message}");
}
