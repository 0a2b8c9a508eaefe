//! Fresh, isolated backends for the end-to-end suites (`worker`, `http`):
//! one function per backend, each returning `None` — after saying on
//! stderr that the suite skips — when its server is not configured.

// Each test crate uses the factories its suites need.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use taskq::Backend;

static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// A name no other test of this run uses: `<prefix>_<pid>_<n>`.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn memory() -> Option<Arc<dyn Backend>> {
    Some(Arc::new(taskq::MemoryBackend::new()))
}

/// A new SQLite file in the temp directory.
#[cfg(feature = "sqlite")]
pub async fn sqlite(label: &str) -> Option<Arc<dyn Backend>> {
    let path = std::env::temp_dir().join(format!("{}.db", unique(label)));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    Some(Arc::new(
        taskq::SqlBackend::connect(&url)
            .await
            .expect("sqlite backend"),
    ))
}

/// A fresh key prefix on `TASKQ_TEST_REDIS_URL`, deleted when dropped.
#[cfg(feature = "redis")]
pub async fn redis(label: &str) -> Option<Arc<dyn Backend>> {
    let Ok(url) = std::env::var("TASKQ_TEST_REDIS_URL") else {
        eprintln!("skipped: TASKQ_TEST_REDIS_URL is not set");
        return None;
    };
    let mut config = taskq::RedisConfig::new(url);
    config.prefix = unique(label);
    config.delete_keys_on_drop = true;
    Some(Arc::new(
        taskq::RedisBackend::connect_with(config)
            .await
            .expect("redis backend"),
    ))
}

/// A fresh schema (PostgreSQL) or database (MySQL) of the test server.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub async fn sql_server(server: taskq::sea::scratch::Server) -> Option<Arc<dyn Backend>> {
    let scratch = taskq::sea::scratch::Scratch::from_env(server)
        .await
        .expect("scratch schema or database")?;
    Some(Arc::new(
        taskq::SqlBackend::connect(scratch.url())
            .await
            .expect("SQL server backend"),
    ))
}

#[cfg(feature = "postgres")]
pub async fn postgres() -> Option<Arc<dyn Backend>> {
    sql_server(taskq::sea::scratch::Server::Postgres).await
}

#[cfg(feature = "mysql")]
pub async fn mysql() -> Option<Arc<dyn Backend>> {
    sql_server(taskq::sea::scratch::Server::Mysql).await
}
