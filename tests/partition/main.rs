//! Network partition of one worker host: a worker process runs in a
//! network namespace of its own, joined to the test's private server
//! (Redis, PostgreSQL, MariaDB) by a veth pair, and the link is turned
//! into a black hole (every packet silently dropped, both ways) for longer
//! than the worker's lease. `cargo test --all-features --test partition
//! redis::` (or `postgres::`, `mysql::`) runs one backend.
//!
//! What must hold (issue 18): the cut-off worker stops its handler at its
//! lease deadline by its own clock (the attempt's token fires with
//! `StopReason::LeaseLost`), a worker outside the namespace rescues the
//! task and finishes it exactly once (the cut-off attempt's late result is
//! fenced), and once the link heals the cut-off worker claims and runs new
//! work within a few seconds.
//!
//! The black hole is a `pfifo` queue of length 0 on both interfaces of a
//! router namespace between the worker and the server: a packet handed to
//! it is dropped without a word, so an established TCP connection stalls
//! (retransmits into nothing, backing off) and a new connection attempt
//! times out — as behind a dead switch. (A more specific
//! `blackhole` route only does that to established connections: a new
//! `connect` fails at once with `EINVAL`; netem is not in this kernel.)
//!
//! Needs root and iproute2 (`ip netns`, `tc`): otherwise the tests are
//! ignored (`taskq_no_netns`, see `build.rs`), unless `CI` is set, where
//! they run and fail. The Redis test also runs where the other Redis tests
//! run (`TASKQ_TEST_REDIS_URL` set at build time) and starts its own
//! `redis-server`; the PostgreSQL test needs the server binaries
//! (`taskq_no_postgres_server`) and starts its own server with `initdb` and
//! `pg_ctl`; the MariaDB one needs `mariadbd` and `mariadb-install-db`
//! (`taskq_no_mariadb_server`) — none touches the shared servers.
#![cfg(any(feature = "redis", feature = "postgres", feature = "mysql"))]

#[path = "../common/mod.rs"]
mod common;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
mod support;

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "redis")]
use support::CHILD_PREFIX;
use support::{CANCEL_GRACE, CHILD_URL, HEARTBEAT, LEASE};
use taskq::MaintenanceConfig;
use taskq::backend::Backend;
use taskq::prelude::*;

/// The worker inside the namespace, with the backend's default connection
/// settings (what is tested is what a user gets). Does nothing when run
/// on its own; exits after two minutes should the parent die.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the partition tests inside a network namespace"]
async fn partition_worker_child() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    // Its warnings go to `child.out` in the test's directory.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let client = Client::new(child_backend(&url).await).expect("client");
    let worker = Worker::builder(&client)
        .worker_id("cut-off")
        .queue("partition", 1)
        .lease(LEASE)
        .heartbeat_interval(HEARTBEAT)
        .cancel_grace(CANCEL_GRACE)
        .poll_interval(Duration::from_millis(500))
        .maintenance(MaintenanceConfig {
            rescue_interval: Duration::from_millis(250),
            ..MaintenanceConfig::default()
        })
        .build()
        .expect("worker");
    worker
        .run_until(tokio::time::sleep(Duration::from_secs(120)))
        .await
        .expect("worker run");
}

/// The child's backend, chosen by the URL's scheme.
async fn child_backend(url: &str) -> Arc<dyn Backend> {
    #[cfg(feature = "redis")]
    if url.starts_with("redis") {
        let mut config = taskq::RedisConfig::new(url.to_owned());
        config.prefix = std::env::var(CHILD_PREFIX).expect("the key prefix");
        return Arc::new(
            taskq::RedisBackend::connect_with(config)
                .await
                .expect("connect"),
        );
    }
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    if url.starts_with("postgres") || url.starts_with("mysql") {
        return Arc::new(taskq::SqlBackend::connect(url).await.expect("connect"));
    }
    panic!("the partition child has no backend for {url}");
}
