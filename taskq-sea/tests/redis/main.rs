//! SQL records with Redis delivery (`SeaRedisBackend`): the shared
//! conformance suite on SQLite, PostgreSQL and MySQL records, then what is
//! particular to two stores — restoring Redis after it lost its data,
//! refusing copies SQL does not agree with.
//!
//! Needs `TASKQ_TEST_REDIS_URL`; the PostgreSQL variants also need
//! `TASKQ_TEST_POSTGRES_URL`, the MySQL ones `TASKQ_TEST_MYSQL_URL`.
//! Built without them the tests are ignored. The `redis_cluster_sqlite`
//! variants deliver through a private three-master Redis Cluster of the
//! binary's own instead (run when `TASKQ_TEST_REDIS_CLUSTER=1`; they fail
//! without `redis-server`). Each
//! backend gets its own key prefix (deleted on drop) and its own SQLite
//! file, PostgreSQL schema or MySQL database.

#[path = "../../../tests/common/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use taskq_core::conformance::record;
use taskq_core::redis::{RedisBackend, RedisConfig};
use taskq_core::{
    Backend, Broker, ClaimRequest, LeaseStatus, Outcome, Settlement, Store, TaskRecord, TaskState,
};
use taskq_sea::SeaBackend;
use taskq_sea::SeaRedisBackend;
use taskq_sea::scratch::{Scratch, Server};

mod data_loss;
mod out_of_step;
mod support;

use support::*;

/// The shared conformance suite: `cargo test conformance::` runs it alone.
mod conformance {
    #[allow(unused_imports)]
    use super::*;

    taskq_core::conformance_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis_sqlite,
        || async { Arc::new(fresh_sqlite().await) as Arc<dyn Backend> }
    );

    taskq_core::conformance_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster_sqlite,
        || async { Arc::new(fresh_cluster_sqlite().await) as Arc<dyn Backend> }
    );

    taskq_core::conformance_suite!(
        #[cfg_attr(
            any(taskq_no_redis, taskq_no_postgres),
            ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_POSTGRES_URL is not set"
        )]
        redis_postgres,
        || async { Arc::new(fresh_postgres().await) as Arc<dyn Backend> }
    );

    taskq_core::conformance_suite!(
        #[cfg_attr(
            any(taskq_no_redis, taskq_no_mysql),
            ignore = "TASKQ_TEST_REDIS_URL or TASKQ_TEST_MYSQL_URL is not set"
        )]
        redis_mysql,
        || async { Arc::new(fresh_mysql().await) as Arc<dyn Backend> }
    );
}
