//! Where a backend's bench data lives, and opening backends on it: a
//! fresh SQLite file, PostgreSQL schema, MySQL database or Redis key
//! prefix per run, dropped at the end.

use std::sync::Arc;

use taskq::backend::Backend;

use crate::cpu::Watch;

/// Where a server backend's bench data lives, to open a second backend on
/// it and to drop it afterwards.
pub struct Place {
    /// The URL of the bench's own schema / database.
    pub url: String,
    /// The PostgreSQL schema / MySQL database to drop afterwards.
    pub scratch: Option<taskq::sea::scratch::Scratch>,
    /// For SQL records with Redis delivery: the Redis place
    /// (`redis://…#<prefix>`).
    pub delivery: Option<String>,
}

/// A fresh schema (PostgreSQL) or database (MySQL) for the bench.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn server_place(name: &str) -> Place {
    use taskq::sea::scratch::{Scratch, Server};
    let server = if name == "postgres" {
        Server::Postgres
    } else {
        Server::Mysql
    };
    // Panics, naming the variable, when it is unset.
    let scratch = Scratch::from_env(server).await.expect("scratch");
    Place {
        url: scratch.url().to_owned(),
        scratch: Some(scratch),
        delivery: None,
    }
}

pub async fn place(name: &str) -> Place {
    match name {
        "redis-postgres" | "redis-sqlite" => {
            let mut records = Box::pin(place(&name["redis-".len()..])).await;
            records.delivery = Some(Box::pin(place("redis")).await.url);
            records
        }
        "redis" => {
            let server = std::env::var("TASKQ_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let micros = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            // The key prefix rides after the `#`; see `open`.
            Place {
                url: format!("{server}#taskq-bench-{}-{micros}", std::process::id()),
                scratch: None,
                delivery: None,
            }
        }
        "postgres" | "mysql" => {
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            return server_place(name).await;
            #[cfg(not(any(feature = "postgres", feature = "mysql")))]
            panic!("build the bench with --features {name}");
        }
        _ => {
            let path = std::env::temp_dir().join(format!("taskq-bench-{}.db", std::process::id()));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            Place {
                url: format!("sqlite://{}", path.display()),
                scratch: None,
                delivery: None,
            }
        }
    }
}

impl Place {
    /// Whether a second backend on this place is another process's view
    /// of it (a server or a shared file): then wake-ups come through it.
    pub fn is_server(&self, name: &str) -> bool {
        self.scratch.is_some() || name.starts_with("redis")
    }

    /// The servers behind `name`, for CPU figures.
    pub fn watches(&self, name: &str) -> Vec<Watch<'_>> {
        let mut watches = Vec::new();
        if name.contains("postgres") {
            watches.push(Watch::Postgres);
        }
        if name.contains("mysql") {
            watches.push(Watch::Mysql);
        }
        if let Some(redis) = self.delivery.as_deref() {
            watches.push(Watch::Redis(redis));
        } else if name == "redis" {
            watches.push(Watch::Redis(&self.url));
        }
        watches
    }
}

pub async fn cleanup(place: &Place) {
    if let Some(scratch) = &place.scratch {
        scratch.clone().drop_now().await.expect("drop bench data");
    }
    if place.url.starts_with("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", &place.url["sqlite://".len()..]));
        }
    }
}

/// A backend on `place`, the one whose Redis keys go when it is dropped.
pub async fn open(name: &str, place: &Place) -> Arc<dyn Backend> {
    open_with(name, place, true).await
}

/// A backend on `place`; `delete_keys`: its Redis keys go when it is
/// dropped (the owner's backend; a worker process's must leave them).
pub async fn open_with(name: &str, place: &Place, delete_keys: bool) -> Arc<dyn Backend> {
    if let Some(delivery) = &place.delivery {
        return open_sql_redis(&place.url, delivery, delete_keys).await;
    }
    match name {
        "memory" => Arc::new(taskq::MemoryBackend::new()),
        "redis" => open_redis(&place.url, delete_keys).await,
        _ => Arc::new(
            taskq::SqlBackend::connect(&place.url)
                .await
                .expect("connect"),
        ),
    }
}

/// Settings for `redis://…#<prefix>`.
#[cfg(feature = "redis")]
fn redis_config(url: &str, delete_keys: bool) -> taskq::RedisConfig {
    let (server, prefix) = url.split_once('#').expect("redis place");
    let mut config = taskq::RedisConfig::new(server);
    config.prefix = prefix.to_owned();
    config.delete_keys_on_drop = delete_keys;
    config
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str, delete_keys: bool) -> Arc<dyn Backend> {
    Arc::new(
        taskq::RedisBackend::connect_with(redis_config(url, delete_keys))
            .await
            .expect("connect"),
    )
}

/// SQL records at `records`, delivery through Redis at `delivery`.
#[cfg(feature = "redis")]
async fn open_sql_redis(records: &str, delivery: &str, delete_keys: bool) -> Arc<dyn Backend> {
    let mut config = redis_config(delivery, delete_keys);
    // Finished tasks' copies live as briefly as `SqlRedisBackend::connect` keeps them.
    config.retention = Some(taskq::sea::redis::DELIVERY_RETENTION_DEFAULT);
    let redis = taskq::RedisBackend::connect_with(config)
        .await
        .expect("connect");
    let sql = taskq::SqlBackend::connect(records).await.expect("connect");
    Arc::new(taskq::SqlRedisBackend::new(sql, redis).await.expect("join"))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(_url: &str, _delete_keys: bool) -> Arc<dyn Backend> {
    panic!("build the bench with --features redis")
}

#[cfg(not(feature = "redis"))]
async fn open_sql_redis(_records: &str, _delivery: &str, _delete_keys: bool) -> Arc<dyn Backend> {
    panic!("build the bench with --features redis")
}
