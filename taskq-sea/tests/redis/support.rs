//! The two stores (Redis delivery, SQL records) and the helpers the tests share.

use super::*;

/// `TASKQ_TEST_REDIS_URL`; panics when unset (the tests that need it are
/// ignored then, see `build.rs`).
pub(super) fn redis_url() -> String {
    match std::env::var("TASKQ_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("TASKQ_TEST_REDIS_URL is not set: this test needs a Redis server"),
    }
}

/// A key prefix and SQLite file name no other test (or run) uses.
pub(super) fn unique(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "taskq-test-{what}-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub(super) async fn redis_side(url: &str) -> RedisBackend {
    let mut config = RedisConfig::new(url);
    config.prefix = unique("sea-redis");
    config.delete_keys_on_drop = true;
    RedisBackend::connect_with(config)
        .await
        .unwrap_or_else(|err| panic!("no Redis server answers at {url}: {err}"))
}

/// SQLite records in a fresh file (left for the SQLite tests' sweep of
/// hour-old files).
pub(super) async fn sqlite_side() -> SeaBackend {
    let dir = std::env::temp_dir().join("taskq-sea-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}.db", unique("redis")));
    SeaBackend::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect to SQLite")
}

/// Records in a fresh schema (PostgreSQL) or database (MySQL / MariaDB)
/// of the test server, as the SQL suites make them.
pub(super) async fn server_side(server: Server) -> SeaBackend {
    let scratch = Scratch::from_env(server)
        .await
        .unwrap_or_else(|err| panic!("scratch on {}: {err}", server.env_var()));
    let mut options = sea_orm::ConnectOptions::new(scratch.url());
    options.sqlx_logging(false).max_connections(8);
    SeaBackend::connect_with(options)
        .await
        .expect("connect to the SQL server")
}

pub(super) async fn fresh_sqlite() -> SeaRedisBackend {
    let redis = redis_side(&redis_url()).await;
    SeaRedisBackend::new(sqlite_side().await, redis)
        .await
        .expect("join")
}

/// SQLite records delivered through this binary's private Redis Cluster.
pub(super) async fn fresh_cluster_sqlite() -> SeaRedisBackend {
    let cluster = redis_server::PrivateRedisCluster::shared();
    let redis = redis_side(&cluster.url()).await;
    SeaRedisBackend::new(sqlite_side().await, redis)
        .await
        .expect("join")
}

pub(super) async fn fresh_postgres() -> SeaRedisBackend {
    let url = redis_url();
    let sql = server_side(Server::Postgres).await;
    SeaRedisBackend::new(sql, redis_side(&url).await)
        .await
        .expect("join")
}

pub(super) async fn fresh_mysql() -> SeaRedisBackend {
    let url = redis_url();
    let sql = server_side(Server::Mysql).await;
    SeaRedisBackend::new(sql, redis_side(&url).await)
        .await
        .expect("join")
}

pub(super) fn claim_request(limit: usize) -> ClaimRequest<'static> {
    ClaimRequest {
        queue: "q",
        limit,
        worker_id: "w",
        lease: Duration::from_secs(30),
        now: Utc::now(),
        task_types: None,
    }
}

pub(super) fn due(n: usize) -> Vec<TaskRecord> {
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    (0..n)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::microseconds(i as i64)))
        .collect()
}

/// Claims `n` due tasks at `start` with a 100 ms lease.
pub(super) async fn claim_briefly(
    backend: &SeaRedisBackend,
    n: usize,
    start: chrono::DateTime<Utc>,
) -> Vec<TaskRecord> {
    backend
        .claim(ClaimRequest {
            lease: Duration::from_millis(100),
            now: start,
            ..claim_request(n)
        })
        .await
        .expect("claim")
}
