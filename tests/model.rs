//! The model test on every backend setup: random operation sequences
//! applied to the backend and to the lifecycle's reference store, every
//! record and return value compared (`taskq_core::conformance::model`).
//! `cargo test model` runs it on all; `cargo test model_sqlite` on one.
//! `TASKQ_MODEL_CASES=2000` runs many more cases.

mod common;

use std::sync::Arc;

use taskq::backend::Backend;
use taskq_core::conformance::model::check;

fn server<T>(backend: Option<T>) -> T {
    backend.expect("this backend's server is not configured")
}

#[test]
fn model_memory() {
    check("memory", 256, || async {
        Arc::new(taskq::MemoryBackend::new()) as Arc<dyn Backend>
    });
}

#[test]
fn model_sqlite() {
    check("sqlite", 48, || async {
        server(common::sqlite("model").await)
    });
}

#[test]
fn model_postgres() {
    check("postgres", 24, || async {
        server(common::postgres().await)
    });
}

#[test]
fn model_mysql() {
    check("mysql", 16, || async { server(common::mysql().await) });
}

#[test]
fn model_redis() {
    check("redis", 48, || async {
        server(common::redis("model").await)
    });
}

#[test]
fn model_redis_cluster() {
    check("redis_cluster", 24, || async {
        server(common::redis_cluster("model").await)
    });
}

/// SQL records with Redis delivery.
#[test]
fn model_redis_sqlite() {
    check("redis_sqlite", 32, || async {
        server(common::redis_sqlite("model").await)
    });
}
