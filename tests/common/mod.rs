//! Fresh, isolated backends for the end-to-end suites (`worker`, `http`):
//! one function per backend. A server-backed one panics when its variable
//! (`TASKQ_TEST_REDIS_URL`, …) is unset or its server does not answer: a
//! test that cannot run for want of a server is `#[ignore]`d at build
//! time instead (the `taskq_no_*` cfgs of `build.rs`), so it never passes
//! without running. The `*_pair` functions give two handles (two
//! connections, as two hosts would have) on one fresh store.

// Each test crate uses the factories its suites need.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use taskq::backend::Backend;

mod mariadb_server;
pub mod marks;
mod postgres_server;
mod redis_server;
// As `dead_code` above: each test crate uses what its tests need.
#[allow(unused_imports)]
pub use mariadb_server::{PrivateMariadb, mariadb_server_installed};
#[allow(unused_imports)]
pub use postgres_server::{PrivatePostgres, postgres_server_bin};
#[allow(unused_imports)]
pub use redis_server::{PrivateRedis, PrivateRedisCluster};

static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// A name no other test of this run uses: `<prefix>_<pid>_<n>`.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn memory() -> Arc<dyn Backend> {
    Arc::new(taskq::MemoryBackend::new())
}

/// Two handles on one store.
pub type Pair = (Arc<dyn Backend>, Arc<dyn Backend>);

/// The in-memory backend lives in one process: both handles are the same.
pub async fn memory_pair() -> Pair {
    let backend: Arc<dyn Backend> = Arc::new(taskq::MemoryBackend::new());
    (backend.clone(), backend)
}

/// A new SQLite file in the temp directory.
#[cfg(feature = "sqlite")]
pub async fn sqlite(label: &str) -> Arc<dyn Backend> {
    sql_connect(&sqlite_url(label)).await
}

/// Two connections to a new SQLite file.
#[cfg(feature = "sqlite")]
pub async fn sqlite_pair(label: &str) -> Pair {
    let url = sqlite_url(label);
    (sql_connect(&url).await, sql_connect(&url).await)
}

#[cfg(feature = "sqlite")]
pub fn sqlite_url(label: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}.db", unique(label)));
    format!("sqlite://{}?mode=rwc", path.display())
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
async fn sql_connect(url: &str) -> Arc<dyn Backend> {
    Arc::new(
        taskq::SqlBackend::connect(url)
            .await
            .unwrap_or_else(|err| panic!("no SQL database at {url}: {err}")),
    )
}

/// A fresh key prefix on `TASKQ_TEST_REDIS_URL`, deleted when dropped.
#[cfg(feature = "redis")]
pub async fn redis(label: &str) -> Arc<dyn Backend> {
    redis_connect(&redis_config(label), true).await
}

/// Two connections under a fresh key prefix; the first deletes its keys
/// when dropped.
#[cfg(feature = "redis")]
pub async fn redis_pair(label: &str) -> Pair {
    let config = redis_config(label);
    (
        redis_connect(&config, true).await,
        redis_connect(&config, false).await,
    )
}

/// A fresh key prefix on [`redis_url`].
#[cfg(feature = "redis")]
fn redis_config(label: &str) -> taskq::RedisConfig {
    redis_config_on(redis_url(), label)
}

/// `TASKQ_TEST_REDIS_URL`; panics when it is unset (a test that needs it
/// carries `#[cfg_attr(taskq_no_redis, ignore = …)]`).
#[cfg(feature = "redis")]
pub fn redis_url() -> String {
    match std::env::var("TASKQ_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "TASKQ_TEST_REDIS_URL is not set: this test needs a Redis server \
             (it is ignored when the variable is unset at build time)"
        ),
    }
}

/// A fresh key prefix on `url`.
#[cfg(feature = "redis")]
fn redis_config_on(url: String, label: &str) -> taskq::RedisConfig {
    let mut config = taskq::RedisConfig::new(url);
    config.prefix = unique(label);
    config
}

/// A fresh key prefix on this binary's private Redis Cluster
/// ([`PrivateRedisCluster::shared`]), deleted when dropped.
#[cfg(feature = "redis")]
pub async fn redis_cluster(label: &str) -> Arc<dyn Backend> {
    let config = redis_config_on(PrivateRedisCluster::shared().url(), label);
    redis_connect(&config, true).await
}

/// Two connections under a fresh key prefix on this binary's private
/// Redis Cluster; the first deletes its keys when dropped.
#[cfg(feature = "redis")]
pub async fn redis_cluster_pair(label: &str) -> Pair {
    let config = redis_config_on(PrivateRedisCluster::shared().url(), label);
    (
        redis_connect(&config, true).await,
        redis_connect(&config, false).await,
    )
}

#[cfg(feature = "redis")]
async fn redis_connect(config: &taskq::RedisConfig, delete_keys_on_drop: bool) -> Arc<dyn Backend> {
    let mut config = config.clone();
    config.delete_keys_on_drop = delete_keys_on_drop;
    let url = config.url.clone();
    Arc::new(
        taskq::RedisBackend::connect_with(config)
            .await
            .unwrap_or_else(|err| panic!("no Redis server answers at {url}: {err}")),
    )
}

/// SQLite records in a new temp file, delivered through a fresh key
/// prefix on `TASKQ_TEST_REDIS_URL`.
#[cfg(all(feature = "redis", feature = "sqlite"))]
pub async fn redis_sqlite(label: &str) -> Arc<dyn Backend> {
    redis_sqlite_pair(label).await.0
}

/// Two handles (two SQLite connections, two Redis connections) on one
/// pair of stores; the first deletes the Redis keys when dropped.
#[cfg(all(feature = "redis", feature = "sqlite"))]
pub async fn redis_sqlite_pair(label: &str) -> Pair {
    let (first, second) = redis_sql_pair(label, &sqlite_url(label)).await;
    (first, second)
}

/// SQLite records in a new temp file, delivered through a fresh key
/// prefix on this binary's private Redis Cluster.
#[cfg(all(feature = "redis", feature = "sqlite"))]
pub async fn redis_cluster_sqlite(label: &str) -> Arc<dyn Backend> {
    let config = redis_config_on(PrivateRedisCluster::shared().url(), label);
    sql_redis_pair(config, &sqlite_url(label)).await.0 as Arc<dyn Backend>
}

/// Records in a fresh schema (PostgreSQL) or database (MySQL) of the
/// test server, delivered through a fresh key prefix on
/// `TASKQ_TEST_REDIS_URL`: two handles, as [`redis_sql_pair`].
#[cfg(all(feature = "redis", any(feature = "postgres", feature = "mysql")))]
pub async fn redis_sql_server_pair(
    label: &str,
    server: taskq::sea::scratch::Server,
) -> (Arc<taskq::SqlRedisBackend>, Arc<taskq::SqlRedisBackend>) {
    let config = redis_config(label);
    let scratch = taskq::sea::scratch::Scratch::from_env(server)
        .await
        .expect("scratch schema or database");
    sql_redis_pair(config, scratch.url()).await
}

/// Two handles on the records at `sql_url`, delivered through a fresh
/// key prefix on `TASKQ_TEST_REDIS_URL`, as [`sql_redis_pair`].
#[cfg(all(
    feature = "redis",
    any(feature = "sqlite", feature = "postgres", feature = "mysql")
))]
pub async fn redis_sql_pair(
    label: &str,
    sql_url: &str,
) -> (Arc<taskq::SqlRedisBackend>, Arc<taskq::SqlRedisBackend>) {
    sql_redis_pair(redis_config(label), sql_url).await
}

/// Two `SqlRedisBackend` handles (each with its own SQL pool and Redis
/// connections, as two processes have) on the records at `sql_url`,
/// delivered through Redis under `config`; the first deletes the Redis
/// keys when dropped.
#[cfg(all(
    feature = "redis",
    any(feature = "sqlite", feature = "postgres", feature = "mysql")
))]
async fn sql_redis_pair(
    config: taskq::RedisConfig,
    sql_url: &str,
) -> (Arc<taskq::SqlRedisBackend>, Arc<taskq::SqlRedisBackend>) {
    let mut handles = Vec::new();
    for delete_keys_on_drop in [true, false] {
        let mut config = config.clone();
        config.delete_keys_on_drop = delete_keys_on_drop;
        let url = config.url.clone();
        let redis = taskq::RedisBackend::connect_with(config)
            .await
            .unwrap_or_else(|err| panic!("no Redis server answers at {url}: {err}"));
        let sql = taskq::SqlBackend::connect(sql_url)
            .await
            .unwrap_or_else(|err| panic!("no SQL database at {sql_url}: {err}"));
        handles.push(Arc::new(
            taskq::SqlRedisBackend::new(sql, redis)
                .await
                .expect("sql + redis backend"),
        ));
    }
    let second = handles.pop().expect("two handles");
    (handles.pop().expect("two handles"), second)
}

/// Two connections to a fresh schema (PostgreSQL) or database (MySQL) of
/// the test server.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub async fn sql_server_pair(server: taskq::sea::scratch::Server) -> Pair {
    let scratch = taskq::sea::scratch::Scratch::from_env(server)
        .await
        .expect("scratch schema or database");
    (
        sql_connect(scratch.url()).await,
        sql_connect(scratch.url()).await,
    )
}

/// A fresh schema (PostgreSQL) or database (MySQL) of the test server.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub async fn sql_server(server: taskq::sea::scratch::Server) -> Arc<dyn Backend> {
    let scratch = taskq::sea::scratch::Scratch::from_env(server)
        .await
        .expect("scratch schema or database");
    sql_connect(scratch.url()).await
}

#[cfg(feature = "postgres")]
pub async fn postgres() -> Arc<dyn Backend> {
    sql_server(taskq::sea::scratch::Server::Postgres).await
}

#[cfg(feature = "postgres")]
pub async fn postgres_pair() -> Pair {
    sql_server_pair(taskq::sea::scratch::Server::Postgres).await
}

#[cfg(feature = "mysql")]
pub async fn mysql() -> Arc<dyn Backend> {
    sql_server(taskq::sea::scratch::Server::Mysql).await
}

#[cfg(feature = "mysql")]
pub async fn mysql_pair() -> Pair {
    sql_server_pair(taskq::sea::scratch::Server::Mysql).await
}

/// A worker on the `default` queue (8 slots) that notices a lost server
/// or an expired lease within a second: short poll, heartbeat, lease and
/// rescue intervals, for the tests that take Redis away mid-run.
pub fn quick_recovery_worker(client: &taskq::Client) -> taskq::Worker {
    taskq::Worker::builder(client)
        .queue("default", 8)
        .poll_interval(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(200))
        .lease(Duration::from_secs(2))
        .maintenance(taskq::MaintenanceConfig {
            rescue_interval: Duration::from_millis(200),
            ..taskq::MaintenanceConfig::default()
        })
        .build()
        .expect("worker")
}

/// The backend a worker process of a kill test uses: Redis for
/// `redis://…#<key prefix>` URLs (`redis_place`), SQL otherwise.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub async fn child_backend(url: &str) -> Arc<dyn Backend> {
    #[cfg(feature = "redis")]
    if let Some((server, prefix)) = url.strip_prefix("redis://").and_then(|u| u.split_once('#')) {
        let mut config = taskq::RedisConfig::new(format!("redis://{server}"));
        config.prefix = prefix.to_owned();
        return Arc::new(
            taskq::RedisBackend::connect_with(config)
                .await
                .expect("connect"),
        );
    }
    Arc::new(taskq::SqlBackend::connect(url).await.expect("connect"))
}

/// A run's Redis key prefix (its keys go with the backend) as the URL
/// worker processes get (`redis://…#<prefix>`), and a backend on it.
#[cfg(feature = "redis")]
pub async fn redis_place(label: &str) -> (String, Arc<dyn Backend>) {
    let url = redis_url();
    let prefix = format!("{label}-{}", std::process::id());
    let mut config = taskq::RedisConfig::new(url.clone());
    config.prefix = prefix.clone();
    config.delete_keys_on_drop = true;
    let backend = taskq::RedisBackend::connect_with(config)
        .await
        .unwrap_or_else(|err| panic!("no Redis server answers at {url}: {err}"));
    (format!("{url}#{prefix}"), Arc::new(backend))
}
