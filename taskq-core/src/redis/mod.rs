//! The Redis backend (feature `redis`, crate `fred`): delivery and task
//! records in Redis, for a fast path shared by workers on many hosts.
//!
//! # Layout
//! - `keys`: key names and the ready-set order encoding.
//! - `scripts`: the Lua scripts (their Lua in `scripts/*.lua`) and how they
//!   run; every multi-key change is one of them.
//! - `record`: a `TaskRecord` as a Redis hash.
//! - `cache`: what this process remembers of the tasks it claimed, and the
//!   id index for the rest.
//! - `signals`: pub/sub announcements turned into wake-ups, and the timer
//!   for delayed tasks.
//! - `enqueue`: storing new tasks (id index first, then a script per
//!   queue).
//! - `broker`: [`Broker`](crate::Broker) — claim, settle, leases, cancel,
//!   retry, rescue.
//! - `workflow`: workflow steps — carrying a step's end to its children
//!   (in other slots) through an outbox, and resuming them on a retry;
//!   `parents`: what a starting step reads of its parents.
//! - `store`: [`Store`](crate::Store) — get, list, progress, purge, stats.
//! - `schedules`: [`ScheduleStore`](crate::ScheduleStore) — schedules and
//!   their compare-and-set firing.
//! - `delivery`: hooks for Redis as the delivery path of records kept in
//!   SQL (taskq-sea's `SeaRedisBackend`): an idempotent push of pending
//!   tasks and the epoch key that reveals a data loss.
//! - `workers`: [`WorkerRegistry`](crate::WorkerRegistry) — live workers
//!   and control requests; `counts`: their counts of ended attempts per
//!   minute ([`crate::throughput`]).
//!
//! # Data model
//! Per queue: a ready sorted set ordered by priority, then the fair
//! round, then `seq`, then id (members encode them, scores are 0); a delayed set scored by due
//! time, promoted by the claim script when due; a running set scored by
//! lease deadline, which the rescuer scans; a done set scored by finish
//! time for purge; a created set for listing; a pause flag; a fair queue's
//! rounds. Records are
//! hashes. Queue stats count sorted sets (O(1) / O(log n) per queue).
//! List indexes — per state (but RUNNING), per task type and per both,
//! scored by creation time — are kept by the same scripts at every state
//! change, so a filtered list page costs O(log n + page), never a scan of
//! the records (see `scripts`); purge trims them with the records.
//! A workflow step waiting for its parents (`WAITING`) is in no queue
//! set, only in the list indexes; its count of parents yet to end is the
//! record's `waiting` field, and its run rule the `runs` field (so a
//! parent's end reads neither the step's JSON nor its siblings: O(1)). Each queue has a workflow outbox (a hash) of
//! the steps that ended and whose children have not all heard of it, and
//! each waiting step a set of the parents' ends it counted (see
//! `workflow`).
//!
//! # Redis Cluster
//! Connect with fred's cluster URL,
//! `redis-cluster://host:port?node=host:port&node=host:port` (any nodes as
//! seeds; the client reads the slot map and follows it). A Lua script may
//! only touch keys of one hash slot, so the keys are laid out by slot
//! (`P` is [`RedisConfig::prefix`], `Q` a queue name):
//!
//! | keys | slot | written by |
//! |---|---|---|
//! | `{P:Q}:ready`, `:delayed`, `:running`, `:done`, `:created`, `:paused`, `:delayed-order`, `:idx`, `:wf-outbox`, `:limit`, `:rate`, `:type-limits`, `:task:<id>`, `:task:<id>:arrived`, the list indexes `:idx:state:<S>`, `:idx:type:<T>`, `:idx:state:<S>:<T>` | one per queue | the queue scripts (`scripts.rs`, `delivery.rs`), which get the twelve keys before the records as `KEYS` and reach only record, arrived-set and list-index keys under the same tag |
//! | `{P:schedules}:s:<name>`, `:due`, `:names` | one for all schedules | the schedule scripts (`schedules.rs`) |
//! | `{P:workers}:w:<id>`, `:index` | one for all workers | the registry scripts (`workers.rs`) |
//! | `{P:stats}:m:<unix minute>` | one for all counts | workers' heartbeats (`counts.rs`), `HINCRBY`; each expires after a day |
//! | `P:queues`, `P:task-queue:<id>`, `P:epoch` | each its own | single-key commands only (pipelined: each routed to its node) |
//! | `P:type-limits` | its own | its one-key setter script, then copied into each queue's `{P:Q}:type-limits` (`type_limits.rs`) |
//! | `{P:type:T}:permits`, `:permits:key:<K>`, `:type-rate`, `:key-rates`, `:permits-seeded` | one per limited task type | the permit scripts (`permits.rs`): the type's running tasks and rate buckets over every queue |
//!
//! Queues spread over the cluster; schedules and workers each live in
//! one slot on purpose — there are few of them and their writes are
//! rare, and one slot keeps their scripts atomic. What spans slots is not
//! atomic and is ordered to be safe instead: an enqueue claims the id
//! index (`SET NX`) before its queue script runs, a batch spanning queues
//! runs one script per queue, and a schedule's firing is check, enqueue,
//! compare-and-set (see `schedules.rs`). A workflow step's end reaches
//! children in other queues through its queue's outbox, written in the
//! script that ends it and carried idempotently after (see `workflow.rs`:
//! a stopped process's entries are carried by the reconciler). Announcements use classic
//! `PUBLISH`, which the cluster bus delivers to subscribers on every node.
//! [`RedisBackend::delete_all_keys`] scans every primary. A prefix may not
//! start with `}` (the tag `{P:Q}` would be empty and each key hashed
//! whole). `tests/redis_conformance.rs` runs the conformance suite and these
//! cases on a private three-master cluster.
//!
//! # Retention
//! By default terminal records stay until the workers' pruner deletes
//! them ([`MaintenanceConfig::retention`](crate::MaintenanceConfig::retention),
//! 7 days by default), as on every other backend. Its purge deletes a
//! record, its done-set entry and its list-index entries in one script,
//! so list counts stay exact. [`RedisConfig::retention`] adds a TTL that
//! Redis enforces itself, for when no worker may run to prune; it costs an
//! `EXPIRE` per settled task (measured: about a tenth of a burn-down's
//! Redis time, and every key lookup then also checks the expiry table),
//! and an expired record leaves its index entries until the next purge.
//!
//! # Wake-ups
//! Scripts that make work due publish the queue name on
//! `<prefix>:work`; a subscriber connection turns that into
//! [`Broker::work_signal`](crate::Broker::work_signal), so an idle worker
//! claims at once instead of polling. Delayed tasks (ETAs, retry backoffs)
//! wake workers when they come due: every claim reports the queue's next
//! due time, a delayed task that becomes a queue's earliest is announced
//! as `<queue> <µs>` on the same channel, and one timer per process fires
//! the work signal then. A cancel request for a running task publishes its
//! id on `<prefix>:cancel`, which fires
//! [`Broker::cancel_signal`](crate::Broker::cancel_signal): every worker
//! renews its leases at once and the one running the task stops it.
//! Schedule writes publish the schedule's name on
//! `<prefix>:schedules-changed`, which the same connection turns into
//! [`ScheduleStore::schedule_signal`](crate::ScheduleStore::schedule_signal),
//! so an edit made by another process wakes this one's scheduler. Worker
//! controls publish the worker's id on `<prefix>:worker-control`, turned
//! into [`WorkerRegistry::control_signal`](crate::WorkerRegistry::control_signal),
//! so a worker on any host learns of it at once.

mod broker;
mod cache;
mod claim;
mod counts;
mod delivery;
mod enqueue;
mod expiry;
mod keys;
mod parents;
mod permits;
mod queue_settings;
mod record;
mod reply;
mod schedules;
mod scripts;
mod signals;
mod store;
mod type_limits;
mod workers;
mod workflow;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fred::prelude::*;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::ends::{PUSHED_FALLBACK_DEFAULT, TaskEnds};
use crate::error::Error;
use crate::task::TaskId;
use keys::{Keys, QueueKeys};
use signals::{DueTimer, Signals, channels, listen};

/// Connections in the command pool by default.
pub const POOL_SIZE_DEFAULT: usize = 4;
/// Key prefix by default.
pub const PREFIX_DEFAULT: &str = "taskq";
/// [`RedisConfig::command_timeout`] by default.
pub const COMMAND_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
/// [`RedisConfig::dead_connection_after`] by default.
pub const DEAD_CONNECTION_AFTER_DEFAULT: Duration = Duration::from_secs(4);
/// [`RedisConfig::connect_timeout`] by default.
pub const CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);

/// Settings of a [`RedisBackend`].
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`, or for Redis Cluster
    /// `redis-cluster://[user:password@]host:port?node=host:port&node=…`
    /// (see the module docs' "Redis Cluster").
    pub url: String,
    /// Every key starts with this (several deployments can share a server).
    pub prefix: String,
    /// Terminal records get a Redis TTL of this long when they finish.
    /// `None` (the default) leaves them to the workers' pruner, which
    /// deletes them with their index entries (see the module docs'
    /// "Retention").
    pub retention: Option<Duration>,
    /// Connections for commands (pub/sub uses one more).
    pub pool_size: usize,
    /// Delete every key under `prefix` when the backend is dropped — for
    /// tests and throw-away deployments.
    pub delete_keys_on_drop: bool,
    /// How long one command may take before it fails with a timeout
    /// (5 s by default). Every taskq command is small (claims, leases and
    /// settlements are bounded batches), but one `submit_many` is one
    /// script per queue: a batch of several 100,000 tasks needs more.
    pub command_timeout: Duration,
    /// A connection is treated as dead, closed and reconnected when a
    /// command sent on it gets no reply for this long, or (TCP keepalive,
    /// for idle connections such as the pub/sub one) when the peer stops
    /// answering probes sent after this long without traffic (4 s by
    /// default). Without it a connection into a network black hole waits
    /// out TCP retransmission (minutes), and after the network heals a
    /// worker still sat idle for seconds. Longer than any single command
    /// should run (a Lua script blocks the server that long too).
    pub dead_connection_after: Duration,
    /// How long one connection attempt may take (2 s by default): during
    /// a partition attempts go unanswered, and a short one means a new
    /// attempt, which reaches the server, starts soon after the heal.
    pub connect_timeout: Duration,
}

impl RedisConfig {
    /// Defaults for a server URL.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            prefix: PREFIX_DEFAULT.to_owned(),
            retention: None,
            pool_size: POOL_SIZE_DEFAULT,
            delete_keys_on_drop: false,
            command_timeout: COMMAND_TIMEOUT_DEFAULT,
            dead_connection_after: DEAD_CONNECTION_AFTER_DEFAULT,
            connect_timeout: CONNECT_TIMEOUT_DEFAULT,
        }
    }
}

/// Broker and store in Redis.
///
/// ```no_run
/// # async fn demo() -> Result<(), taskq_core::Error> {
/// let backend = taskq_core::RedisBackend::connect("redis://127.0.0.1:6379").await?;
/// let client = taskq_core::Client::new(std::sync::Arc::new(backend))?;
/// # Ok(()) }
/// ```
pub struct RedisBackend {
    pool: Pool,
    keys: Keys,
    config: RedisConfig,
    signal: Arc<Notify>,
    /// Fired when a running task's cancel was requested (any process).
    cancel_signal: Arc<Notify>,
    /// When the earliest delayed task this process knows of comes due.
    due_timer: Arc<DueTimer>,
    /// Wakes this process's schedulers when any process writes a schedule.
    schedule_signal: Arc<Notify>,
    /// Wakes this process's workers when a control request was made.
    control_signal: Arc<Notify>,
    /// Waiters of tasks that end, woken from the ended channel.
    ends: Arc<TaskEnds>,
    listener: JoinHandle<()>,
    timer: JoinHandle<()>,
    /// Tasks this process claimed (or pushed) and has not settled: their
    /// queue saves the id-index lookup on settle and heartbeat, their type
    /// and creation time save the settle script a record read. None of
    /// these ever changes, so an entry is never stale; entries go when the
    /// task settles.
    claimed: Mutex<HashMap<TaskId, Claimed>>,
    /// When each rate-limited queue's bucket next allows a start, as this
    /// process's last claim of it saw (`Broker::claim_hold`).
    holds: crate::rate_limit::ClaimHolds,
    /// When the earliest type or key bucket that held a task of each
    /// queue back frees, as this process's last claim of it saw
    /// (`Broker::claim_wake`).
    wakes: crate::rate_limit::ClaimHolds,
    /// The limited types whose last grant in this process refused a
    /// candidate: a hint for how far a claim's walk looks (`claim.rs`),
    /// never what a limit is held by.
    refused: Mutex<std::collections::HashSet<String>>,
    /// Only the delivery path of records kept elsewhere
    /// ([`RedisBackend::into_delivery_path`]): that store carries a
    /// step's end to its children, so settles skip the outbox.
    delivery_only: bool,
}

/// What `RedisBackend::claimed` keeps of a task.
#[derive(Clone)]
struct Claimed {
    queue: Arc<str>,
    task_type: Arc<str>,
    /// Creation time, µs since the epoch (its list-index score).
    created: i64,
    /// A workflow step with children whose end goes through the outbox
    /// (never on a delivery path only).
    children: bool,
    /// The attempt this process started, when the record had no history
    /// then: settling that attempt writes its history entry without
    /// reading the record (`SETTLE`'s docs).
    first_attempt: Option<AttemptStart>,
    /// The permit it holds in its type's slot, for a type or key limit
    /// (`permits.rs`): returned when it settles or is released.
    permit: Option<permits::Permit>,
}

/// A running attempt's start as its claim wrote it (the record's
/// `attempt`, `started_at` in µs and `worker_id`).
#[derive(Clone)]
struct AttemptStart {
    attempt: u32,
    started_at: i64,
    worker_id: Arc<str>,
}

impl RedisBackend {
    /// Connects with default settings.
    pub async fn connect(url: &str) -> Result<RedisBackend, Error> {
        RedisBackend::connect_with(RedisConfig::new(url)).await
    }

    /// Connects with the given settings.
    pub async fn connect_with(config: RedisConfig) -> Result<RedisBackend, Error> {
        if config.prefix.is_empty() {
            return Err(Error::InvalidArgument("the key prefix is empty".into()));
        }
        if config.prefix.starts_with('}') {
            // `{}…` is an empty hash tag: Redis Cluster would hash each
            // key whole and scatter a queue over slots.
            return Err(Error::InvalidArgument(
                "the key prefix starts with `}`, which empties the hash tag `{<prefix>:<queue>}`"
                    .into(),
            ));
        }
        if [
            config.command_timeout,
            config.dead_connection_after,
            config.connect_timeout,
        ]
        .contains(&Duration::ZERO)
        {
            // Zero means "no limit" to fred: exactly what these bound.
            return Err(Error::InvalidArgument(
                "command_timeout, dead_connection_after and connect_timeout must be longer than zero"
                    .into(),
            ));
        }
        let builder = builder(&config)?;
        let pool = builder
            .build_pool(config.pool_size.max(1))
            .map_err(Error::backend)?;
        pool.init().await.map_err(Error::backend)?;
        let subscriber = builder.build().map_err(Error::backend)?;
        subscriber.init().await.map_err(Error::backend)?;
        let keys = Keys::new(&config.prefix);
        let signal = Arc::new(Notify::new());
        let cancel_signal = Arc::new(Notify::new());
        let schedule_signal = Arc::new(Notify::new());
        let control_signal = Arc::new(Notify::new());
        let due_timer = Arc::new(DueTimer::default());
        let ends = Arc::new(TaskEnds::new(PUSHED_FALLBACK_DEFAULT));
        let timer = tokio::spawn(due_timer.clone().run(signal.clone()));
        let listener = tokio::spawn(listen(
            subscriber.clone(),
            keys.clone(),
            Signals {
                work: signal.clone(),
                cancel: cancel_signal.clone(),
                schedules: schedule_signal.clone(),
                control: control_signal.clone(),
                due: due_timer.clone(),
                ends: ends.clone(),
            },
        ));
        subscriber
            .subscribe(channels(&keys))
            .await
            .map_err(Error::backend)?;
        Ok(RedisBackend {
            pool,
            keys,
            config,
            signal,
            cancel_signal,
            due_timer,
            schedule_signal,
            control_signal,
            ends,
            listener,
            timer,
            claimed: Mutex::new(HashMap::new()),
            holds: Default::default(),
            wakes: Default::default(),
            refused: Mutex::default(),
            delivery_only: false,
        })
    }

    /// The settings this backend runs with.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Deletes every key under this backend's prefix (all its queues and
    /// records). Uses `SCAN`, so it does not block the server.
    pub async fn delete_all_keys(&self) -> Result<u64, Error> {
        delete_keys(self.pool.next(), &self.keys).await
    }

    /// Deletes the id index entries (`<prefix>:task-queue:<id>`) of
    /// `ids` in one pipeline: used when an enqueue is undone and when
    /// purged records are gone.
    async fn delete_task_indexes(&self, ids: &[TaskId]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let pipeline = self.pool.next().pipeline();
        for id in ids {
            let _: () = pipeline
                .del(self.keys.task_queue(*id))
                .await
                .map_err(Error::backend)?;
        }
        for reply in pipeline.try_all::<Value>().await {
            reply.map_err(Error::backend)?;
        }
        Ok(())
    }

    /// Wakes this process's workers when a delayed task is due at
    /// `due` (µs since the epoch), unless an earlier wake-up is set.
    fn wake_at(&self, due: Option<i64>) {
        if let Some(due) = due {
            self.due_timer.set(due);
        }
    }

    /// Announces on the ended channel that these tasks ended, for the
    /// waiters of every process (this one's hear it too). After the
    /// change, not in its script: a process dying in between leaves the
    /// waiters to their fallback poll. A failed publish is logged for the
    /// same reason.
    async fn announce_ended(&self, ids: impl IntoIterator<Item = TaskId>) {
        let message = ids
            .into_iter()
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        if message.is_empty() {
            return;
        }
        let published: Result<(), _> = self
            .pool
            .next()
            .publish(self.keys.ended_channel(), message)
            .await;
        if let Err(err) = published {
            warn!(error = %err, "could not announce ended tasks");
        }
    }

    fn queue_keys(&self, queue: &str) -> QueueKeys {
        self.keys.queue(queue)
    }

    fn retention_secs(&self) -> String {
        // EXPIRE takes whole seconds; round up so nothing goes early.
        self.config
            .retention
            .map_or(0, |r| r.as_secs() + u64::from(r.subsec_nanos() > 0))
            .to_string()
    }
}

impl Drop for RedisBackend {
    fn drop(&mut self) {
        self.listener.abort();
        self.timer.abort();
        if !self.config.delete_keys_on_drop {
            return;
        }
        // Drop cannot await: delete from a thread with its own runtime.
        let config = self.config.clone();
        let keys = self.keys.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::backend)?;
            runtime.block_on(async {
                let client = builder(&config)?.build().map_err(Error::backend)?;
                client.init().await.map_err(Error::backend)?;
                let deleted = delete_keys(&client, &keys).await;
                let _ = client.quit().await;
                deleted
            })
        });
        match cleanup.join() {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => warn!(error = %err, "could not delete the backend's keys"),
            Err(_) => warn!("deleting the backend's keys panicked"),
        }
    }
}

/// A client builder with reconnection (Redis restarts are survived),
/// bounded command times and dead-connection detection.
///
/// # Replayed commands
/// fred re-sends a command that was in flight on a connection that closed
/// (up to `max_command_attempts`), and a connection closed as
/// unresponsive is exactly one whose replies stopped: the server may have
/// run the command. Replaying is harmless for what is fenced or
/// idempotent — a settlement or progress update names its attempt, and
/// once settled the running set no longer holds that attempt, so the
/// replay is refused as stale; a lease renewal sets the same deadline
/// again; rescue re-checks each lease against the time it was given;
/// reads, stats and purge change nothing twice; the delivery push of
/// records kept in SQL may file a task again, which is what it is for
/// (SQL fences each claim it hands out). It is not for a claim (a replay claims a second batch, whose tasks this
/// process never receives: RUNNING for nobody until their lease ends and
/// a rescue puts them back, costing an attempt), a strict enqueue (a
/// replay after another worker claimed the task would write it back to
/// PENDING and run it twice), a release (it gives the attempt back, so a
/// replay after a new claim of the same attempt number would release
/// that one), nor cancel, retry, reorder and delete (a second
/// application, or a misleading "invalid transition" for one that
/// worked). Those go through [`RedisBackend::run_once`], which allows one
/// write: a connection that closes under them fails the call ("Connection
/// Closed") and the caller — the worker's claim loop, or the host for a
/// submit — decides, knowing that the outcome is unknown. A command that
/// timed out is never re-sent by fred (it skips timed-out commands when
/// replaying), whatever its attempts.
fn builder(config: &RedisConfig) -> Result<Builder, Error> {
    use fred::socket2::TcpKeepalive;
    let url = &config.url;
    let fred_config = Config::from_url(url)
        .map_err(|e| Error::InvalidArgument(format!("redis url `{url}`: {e}")))?;
    let dead = config.dead_connection_after;
    // Checked a few times per period, so a dead connection is closed
    // within about 1.25 × `dead`.
    let check = (dead / 4).max(Duration::from_millis(50));
    let keepalive = TcpKeepalive::new()
        .with_time(dead)
        .with_interval((dead / 4).max(Duration::from_secs(1)));
    // Probes before the kernel gives up (Linux's default is 9).
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
    let keepalive = keepalive.with_retries(3);
    let mut builder = Builder::from_config(fred_config);
    builder
        // Reconnect at once, then back off to at most 1 s between attempts:
        // after a partition heals the next attempt comes within a second.
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 1_000, 2))
        .with_connection_config(|c| {
            c.connection_timeout = config.connect_timeout;
            c.internal_command_timeout = config.command_timeout;
            c.max_command_attempts = 3;
            c.unresponsive.max_timeout = Some(dead);
            c.unresponsive.interval = check;
            c.tcp.keepalive = Some(keepalive);
            // Sent data unacknowledged this long fails the connection. fred's
            // unresponsive check alone does not: it times from the latest
            // write, and a worker writes every beat, so a connection into a
            // black hole stayed open, and after the heal its commands waited
            // out TCP's retransmission backoff (seconds after an 8 s cut).
            #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
            {
                c.tcp.user_timeout = Some(dead);
            }
        })
        .with_performance_config(|p| {
            p.default_command_timeout = config.command_timeout;
        });
    Ok(builder)
}

async fn delete_keys(client: &Client, keys: &Keys) -> Result<u64, Error> {
    // `SCAN` sees the keys of the node it runs on: on a cluster, walk
    // every primary (the patterns carry no single hash tag).
    let nodes: Vec<Option<Server>> = if client.is_clustered() {
        client
            .cached_cluster_state()
            .ok_or_else(|| Error::backend("the cluster's slot map is not known"))?
            .unique_primary_nodes()
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None]
    };
    let mut deleted = 0;
    for (node, pattern) in nodes
        .iter()
        .flat_map(|node| keys.patterns().map(|pattern| (node, pattern)))
    {
        let mut cursor = "0".to_owned();
        loop {
            let page = match node {
                Some(node) => {
                    client
                        .with_cluster_node(node.clone())
                        .scan_page(cursor, pattern.clone(), Some(1000), None)
                        .await
                }
                None => {
                    client
                        .scan_page(cursor, pattern.clone(), Some(1000), None)
                        .await
                }
            };
            let (next, found): (String, Vec<String>) = page.map_err(Error::backend)?;
            for chunk in found.chunks(100) {
                // One DEL per key: keys of different queues may live in
                // different cluster slots.
                let pipeline = client.pipeline();
                for key in chunk {
                    let _: () = pipeline.del(key.as_str()).await.map_err(Error::backend)?;
                }
                for reply in pipeline.try_all::<Value>().await {
                    reply.map_err(Error::backend)?;
                }
                deleted += chunk.len() as u64;
            }
            if next == "0" {
                break;
            }
            cursor = next;
        }
    }
    Ok(deleted)
}
