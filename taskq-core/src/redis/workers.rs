//! [`WorkerRegistry`] in Redis: one hash per worker (its report as JSON,
//! its reported state, the requested state) that expires when the worker
//! would be forgotten, and an index sorted set scored by that time — all
//! under the hash tag `{<prefix>:workers}`, so the scripts below stay
//! atomic on Redis Cluster.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fred::prelude::*;
use fred::types::scripts::Script;
use tokio::sync::Notify;
use tracing::warn;

use super::RedisBackend;
use crate::backend::{WorkerControl, WorkerInfo, WorkerRegistry, WorkerState};
use crate::error::Error;
use crate::throughput::MinuteCounts;

/// KEYS: hash, index. ARGV: id, info, state, forget-at (ms), mode
/// (`register` drops the requested state). Returns the requested state.
static BEAT: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("scripts/worker_beat.lua")));

/// KEYS: hash, index. ARGV: id. Returns 1 if the worker was there.
static DEREGISTER: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("scripts/worker_deregister.lua")));

/// KEYS: hash. ARGV: expected state, expected requested (`''`: none), new
/// requested. Returns -1 if missing, 0 if either changed, 1 if stored.
static CONTROL: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("scripts/worker_control.lua")));

/// Compare-and-set rounds before a control gives up on a busy worker
/// record (each loss means another control or a state change won).
const CONTROL_ATTEMPTS: usize = 5;

impl RedisBackend {
    /// After a worker control was stored: announces it (on
    /// `<prefix>:worker-control`), so the worker, on whatever host, reports
    /// and obeys now. If the announcement is lost (it is logged), the
    /// worker's next heartbeat still reads the request.
    ///
    /// Public for registries that store workers elsewhere and use this
    /// backend's pub/sub to reach them (`taskq_sea::SeaRedisBackend`).
    pub async fn worker_control_requested(&self, id: &str) {
        let published: Result<i64, _> = self
            .pool
            .next()
            .publish(self.keys.control_channel(), id)
            .await;
        if let Err(err) = published {
            warn!(error = %err, "could not announce a worker control");
        }
    }

    fn worker_tag(&self) -> String {
        format!("{{{}:workers}}", self.config.prefix)
    }

    fn worker_key(&self, id: &str) -> String {
        format!("{}:w:{id}", self.worker_tag())
    }

    fn worker_index(&self) -> String {
        format!("{}:index", self.worker_tag())
    }

    async fn beat(&self, worker: &WorkerInfo, mode: &str) -> Result<Option<WorkerState>, Error> {
        let info = serde_json::to_string(worker).map_err(Error::Serialization)?;
        let keys = vec![self.worker_key(&worker.id), self.worker_index()];
        let args = vec![
            worker.id.clone(),
            info,
            worker.state.as_str().to_owned(),
            worker.forget_at().timestamp_millis().to_string(),
            mode.to_owned(),
        ];
        let requested: Option<String> = BEAT
            .evalsha_with_reload(self.pool.next(), keys, args)
            .await
            .map_err(Error::backend)?;
        Ok(requested.as_deref().and_then(WorkerState::parse))
    }

    /// The stored record (as written, not yet as seen at a time).
    async fn read_worker(&self, id: &str) -> Result<Option<WorkerInfo>, Error> {
        let fields: Vec<Option<String>> = self
            .pool
            .next()
            .hmget(self.worker_key(id), vec!["info", "requested"])
            .await
            .map_err(Error::backend)?;
        decode(id, fields)
    }
}

fn decode(id: &str, fields: Vec<Option<String>>) -> Result<Option<WorkerInfo>, Error> {
    let mut fields = fields.into_iter();
    let (Some(Some(info)), requested) = (fields.next(), fields.next().flatten()) else {
        return Ok(None);
    };
    let mut worker: WorkerInfo = serde_json::from_str(&info)
        .map_err(|_| Error::backend(format!("worker `{id}`: stored info is invalid")))?;
    worker.requested = requested.as_deref().and_then(WorkerState::parse);
    Ok(Some(worker))
}

#[async_trait]
impl WorkerRegistry for RedisBackend {
    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), Error> {
        self.beat(worker, "register").await.map(drop)
    }

    async fn worker_heartbeat(&self, worker: &WorkerInfo) -> Result<Option<WorkerState>, Error> {
        self.beat(worker, "beat").await
    }

    async fn deregister_worker(&self, id: &str) -> Result<bool, Error> {
        let removed: i64 = DEREGISTER
            .evalsha_with_reload(
                self.pool.next(),
                vec![self.worker_key(id), self.worker_index()],
                vec![id.to_owned()],
            )
            .await
            .map_err(Error::backend)?;
        Ok(removed == 1)
    }

    async fn list_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerInfo>, Error> {
        let client = self.pool.next();
        // Forgotten workers' hashes expired on their own; drop their index
        // entries (scored by the same time).
        let _: i64 = client
            .zremrangebyscore(
                self.worker_index(),
                f64::NEG_INFINITY,
                (now.timestamp_millis() - 1) as f64,
            )
            .await
            .map_err(Error::backend)?;
        let mut ids: Vec<String> = client
            .zrange(self.worker_index(), 0, -1, None, false, None, false)
            .await
            .map_err(Error::backend)?;
        ids.sort();
        let pipeline = client.pipeline();
        for id in &ids {
            let _: () = pipeline
                .hmget(self.worker_key(id), vec!["info", "requested"])
                .await
                .map_err(Error::backend)?;
        }
        let replies: Vec<Result<Vec<Option<String>>, fred::error::Error>> =
            pipeline.try_all().await;
        let mut workers = Vec::with_capacity(ids.len());
        for (id, reply) in ids.iter().zip(replies) {
            let stored = decode(id, reply.map_err(Error::backend)?)?;
            workers.extend(stored.and_then(|worker| worker.seen_at(now)));
        }
        Ok(workers)
    }

    async fn get_worker(&self, id: &str, now: DateTime<Utc>) -> Result<Option<WorkerInfo>, Error> {
        Ok(self.read_worker(id).await?.and_then(|w| w.seen_at(now)))
    }

    async fn control_worker(
        &self,
        id: &str,
        control: WorkerControl,
        now: DateTime<Utc>,
    ) -> Result<WorkerInfo, Error> {
        for _ in 0..CONTROL_ATTEMPTS {
            // As seen, `state` is the stored one unless gone (and a gone
            // worker fails `target`).
            let Some(stored) = self.get_worker(id, now).await? else {
                break;
            };
            let target = control.target(&stored)?;
            let args = vec![
                stored.state.as_str().to_owned(),
                stored.requested.map_or("", WorkerState::as_str).to_owned(),
                target.as_str().to_owned(),
            ];
            let stored_now: i64 = CONTROL
                .evalsha_with_reload(self.pool.next(), vec![self.worker_key(id)], args)
                .await
                .map_err(Error::backend)?;
            match stored_now {
                1 => {
                    self.worker_control_requested(id).await;
                    let mut worker = stored;
                    worker.requested = Some(target);
                    return Ok(worker);
                }
                0 => continue,
                _ => break,
            }
        }
        match self.read_worker(id).await? {
            None => Err(Error::WorkerNotFound(id.to_owned())),
            Some(_) => Err(Error::backend(format!(
                "worker `{id}` changed under {CONTROL_ATTEMPTS} controls in a row; try again"
            ))),
        }
    }

    fn control_signal(&self) -> Option<Arc<Notify>> {
        Some(self.control_signal.clone())
    }

    async fn add_counts(&self, counts: &[MinuteCounts], _now: DateTime<Utc>) -> Result<(), Error> {
        // Old minutes expire on their own.
        self.add_minute_counts(counts).await
    }

    async fn counts_since(&self, since: DateTime<Utc>) -> Result<Vec<MinuteCounts>, Error> {
        self.minute_counts_since(since).await
    }
}
