//! The model test on every backend setup: random operation sequences
//! applied to the backend and to the lifecycle's reference store, every
//! record and return value compared (`taskq_core::conformance::model`).
//! `cargo test model` runs it on all; `cargo test model_sqlite` on one.
//! `TASKQ_MODEL_CASES=2000` runs many more cases. Each setup builds with
//! its backend's feature.

mod common;

use std::sync::Arc;

use taskq::backend::Backend;
use taskq_core::conformance::model::check;

#[test]
fn model_memory() {
    check("memory", 256, || async {
        Arc::new(taskq::MemoryBackend::new()) as Arc<dyn Backend>
    });
}

#[cfg(feature = "sqlite")]
#[test]
fn model_sqlite() {
    check("sqlite", 48, || async { common::sqlite("model").await });
}

#[cfg(feature = "postgres")]
#[test]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
fn model_postgres() {
    check("postgres", 24, || async { common::postgres().await });
}

#[cfg(feature = "mysql")]
#[test]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
fn model_mysql() {
    check("mysql", 16, || async { common::mysql().await });
}

#[cfg(feature = "redis")]
#[test]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
fn model_redis() {
    check("redis", 48, || async { common::redis("model").await });
}

#[cfg(feature = "redis")]
#[test]
#[cfg_attr(
    taskq_no_redis_cluster,
    ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
)]
fn model_redis_cluster() {
    check("redis_cluster", 24, || async {
        common::redis_cluster("model").await
    });
}

/// SQL records with Redis delivery.
#[cfg(all(feature = "redis", feature = "sqlite"))]
#[test]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
fn model_redis_sqlite() {
    check("redis_sqlite", 32, || async {
        common::redis_sqlite("model").await
    });
}
