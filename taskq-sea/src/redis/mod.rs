//! SQL records with Redis delivery (feature `redis`): [`SeaRedisBackend`],
//! the architecture of Celery deployments with a Redis broker and a
//! database of results, done so that Redis may lose everything.
//!
//! # Architecture
//! The database is the source of truth for every task record and
//! schedule; Redis holds a delivery copy of the live tasks (a
//! [`RedisBackend`]: priority order, ETA, wake-ups, pause flags, leases).
//! - **enqueue** inserts the records in one SQL transaction (duplicate ids
//!   fail there, changing nothing), then pushes them into Redis.
//! - **claim** pops from Redis (one Lua script), then marks the claimed
//!   rows `RUNNING` in one SQL statement fenced by attempt: a row must be
//!   at the attempt before and still claimable. A task Redis handed out
//!   that SQL does not agree on (cancelled meanwhile, a stale copy) is
//!   dropped from Redis and never runs; if SQL still has it pending it is
//!   pushed again with SQL's values.
//! - **settle** writes SQL first (one statement per batch, fenced by
//!   attempt, so a stale attempt never overwrites) and returns once it
//!   committed. Redis is acknowledged without the result, which it does
//!   not need: a retry before the settle returns (its copy must be
//!   pending again to be delivered), an ended task (finished, failed,
//!   cancelled) in the background, batched, since its acknowledgement
//!   only takes it out of Redis's running set.
//! - **heartbeat**, **release**, **cancel**, **pause** and **rescue** act
//!   on both; SQL's answer counts. **retry** and rescued tasks are pushed
//!   from their SQL records.
//! - **cancel** of a running task is announced through Redis's pub/sub
//!   ([`Broker::cancel_signal`] is Redis's): the worker running it, on
//!   any host, renews its leases at once and SQL's answer tells it to
//!   stop. If Redis does not hold the task's running copy (it lost it),
//!   nothing is announced and the worker learns at its next heartbeat.
//! - **get, list, stats, progress, purge, schedules, workers** read and
//!   write SQL only (purge also drops Redis's leftovers of finished
//!   tasks). Schedule writes and worker controls are announced through
//!   Redis's pub/sub, so sleeping schedulers and the controlled worker,
//!   on any host, act at once whatever the SQL database (SQLite and
//!   MySQL have no notifications of their own).
//!
//! # Crash windows, and what closes them
//! - SQL committed, Redis push failed or the process died before it (or
//!   a host transaction committed and [`AfterCommit::deliver`] was not
//!   called): the task is accepted (durable) but not deliverable. A failed
//!   push makes the next reconcile pass of the same process (within a
//!   second on a worker) sweep; the rest is caught by the periodic sweep
//!   ([`taskq_core::maintenance::reconciler::SWEEP_INTERVAL_DEFAULT`]).
//! - Redis claimed, SQL mark failed: the claim is handed back to Redis
//!   (`release`); if that fails too, Redis's lease expires and its rescue
//!   requeues the task, whose SQL row never left `PENDING`.
//! - SQL settled, Redis not acknowledged (the background acknowledgement
//!   failed, or the process died before it was sent): Redis still holds
//!   the task running and requeues it when its lease expires; the claim's
//!   SQL fence refuses it (the row is terminal) and it is dropped.
//!   Nothing runs twice. A retry whose push was lost is requeued by Redis
//!   due at once, but the fence also wants a pending row due
//!   (`scheduled_at` reached), so it is refused before its run time and
//!   SQL's copy, with that time, is pushed back: it runs at its time.
//! - Redis lost its data (restart without persistence, `FLUSHALL`): the
//!   epoch key `<prefix>:epoch` is gone. The reconciler of every worker
//!   checks it each [`taskq_core::maintenance::reconciler::CHECK_INTERVAL_DEFAULT`],
//!   and on a loss restores the pause flags, queue, type and rate limits
//!   (with full buckets: the spent ones were Redis's) and pushes
//!   every `PENDING` task back; running tasks keep running (their leases
//!   are SQL's) and if their worker dies, SQL's rescue requeues and
//!   pushes them. Until they end, Redis's running set (which a queue
//!   limit counts, claims being Redis's) lacks them: a limited queue may
//!   run up to that many more than its limit for that while.
//!
//! A sweep without a loss (the periodic one, or after a failed push)
//! reads only the ids and queues of pending tasks, a page at a time, asks
//! Redis which of them it lacks, and reads and pushes only those records.
//!
//! Delivery is at least once, as everywhere in taskq: a task runs twice
//! only when its lease expired while it ran (its worker stalled or died).
//!
//! # Which mode to choose
//! - **SQL alone** ([`SeaBackend`]): the simplest; one store, transactional
//!   enqueue with the host's own writes. Enough for thousands of jobs/s on
//!   PostgreSQL.
//! - **Redis alone** ([`RedisBackend`]): the fastest; records expire after
//!   a retention, and a Redis without persistence loses tasks.
//! - **SQL records, Redis delivery** (this): records as durable and
//!   queryable as SQL's, claims as cheap as Redis's, and Redis may lose
//!   everything without losing a task; transactional enqueue too (below).
//!   Costs two stores to run.
//!
//! # Enqueue inside the host's transaction
//! [`SeaRedisBackend::enqueue_in`] stores tasks in the host's own SQL
//! transaction; the [`AfterCommit`] it returns pushes them into Redis
//! once the host committed (it reads them back from SQL, so a rolled-back
//! transaction delivers nothing). Tasks inserted into SQL by other means
//! (e.g. [`SeaBackend::enqueue_in`] on [`SeaRedisBackend::sql`], or a
//! host that never calls [`AfterCommit::deliver`]) wait for the next
//! periodic sweep.

mod broker;
mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use taskq_core::backend::{ReconcileReport, Settlement};
use taskq_core::redis::{RedisBackend, RedisConfig};
use taskq_core::{
    Broker, Error, ErrorKind, Outcome, Store, TaskFailure, TaskId, TaskRecord, TaskState,
};
use tokio::sync::mpsc;
use tracing::warn;

use sea_orm::ConnectionTrait;

use crate::SeaBackend;

/// How long Redis keeps its copy of a finished task by default: the copy
/// is only bookkeeping for delivery, the record lives in SQL.
pub const DELIVERY_RETENTION_DEFAULT: Duration = Duration::from_secs(600);

/// Pending tasks one sweep step reads from SQL (whole records after a
/// loss, otherwise ids checked in Redis first).
const SWEEP_PAGE: u64 = 500;

/// Most acknowledgements one background Redis call carries.
const ACK_BATCH_MAX: usize = 1000;

/// Task records (and schedules) in SQL through SeaORM, delivery through
/// Redis; see the [module documentation](self).
///
/// ```no_run
/// # async fn demo() -> Result<(), taskq_core::Error> {
/// let backend = taskq_sea::SeaRedisBackend::connect(
///     "postgres://app@db/app",
///     "redis://127.0.0.1:6379",
/// )
/// .await?;
/// let client = taskq_core::Client::new(std::sync::Arc::new(backend))?;
/// # Ok(()) }
/// ```
pub struct SeaRedisBackend {
    sql: SeaBackend,
    /// Shared with the acknowledging task (see [`SeaRedisBackend::new`]).
    redis: Arc<RedisBackend>,
    /// Finished tasks whose outcome SQL stored, for Redis to acknowledge
    /// in the background (see the module docs).
    acks: mpsc::UnboundedSender<Settlement>,
    /// The Redis epoch this process last saw (see `reconcile_pass`).
    epoch: Mutex<Option<String>>,
    /// Something may be missing from Redis (a push failed): the next
    /// reconcile pass sweeps.
    needs_sweep: AtomicBool,
}

impl SeaRedisBackend {
    /// Connects to the database (running taskq's migrations) and to Redis
    /// with default settings, except that Redis keeps finished tasks'
    /// copies only [`DELIVERY_RETENTION_DEFAULT`].
    pub async fn connect(sql_url: &str, redis_url: &str) -> Result<SeaRedisBackend, Error> {
        let mut config = RedisConfig::new(redis_url);
        config.retention = Some(DELIVERY_RETENTION_DEFAULT);
        let redis = RedisBackend::connect_with(config).await?;
        SeaRedisBackend::new(SeaBackend::connect(sql_url).await?, redis).await
    }

    /// Joins a connected SQL backend and Redis backend. If Redis holds no
    /// delivery epoch yet (a new deployment, or Redis lost its data while
    /// no process ran), every pending SQL task is pushed into it first.
    ///
    /// Spawns the task that acknowledges finished tasks in Redis; it ends
    /// once the backend is dropped and what it was given is acknowledged.
    pub async fn new(sql: SeaBackend, redis: RedisBackend) -> Result<SeaRedisBackend, Error> {
        let redis = Arc::new(redis.into_delivery_path());
        let (acks, pending) = mpsc::unbounded_channel();
        tokio::spawn(acknowledge(redis.clone(), pending));
        let backend = SeaRedisBackend {
            sql,
            redis,
            acks,
            epoch: Mutex::new(None),
            needs_sweep: AtomicBool::new(false),
        };
        backend.reconcile_pass(false).await?;
        Ok(backend)
    }

    /// Enqueues new `PENDING` tasks inside the host's own transaction (or
    /// connection), as [`SeaBackend::enqueue_in`]: they exist only if `txn`
    /// commits. Redis cannot join that transaction, so the tasks reach it
    /// when the host calls [`AfterCommit::deliver`] after the commit; a
    /// rolled-back transaction delivers nothing, whether or not `deliver`
    /// is called. If the host never calls it (or the process dies first),
    /// the reconciler's periodic sweep delivers the committed tasks.
    ///
    /// ```no_run
    /// # async fn run(backend: &taskq_sea::SeaRedisBackend, client: &taskq_core::Client)
    /// #     -> Result<(), taskq_core::Error> {
    /// use taskq_sea::sea_orm::TransactionTrait;
    /// let txn = backend.sql().connection().begin().await.map_err(taskq_core::Error::backend)?;
    /// // … the host's own writes through `txn` …
    /// let record = client
    ///     .submit_json("send_welcome_mail", serde_json::json!({ "user": 42 }))
    ///     .into_record()?;
    /// let after_commit = backend.enqueue_in(&txn, vec![record]).await?;
    /// txn.commit().await.map_err(taskq_core::Error::backend)?;
    /// after_commit.deliver().await?;
    /// # Ok(()) }
    /// ```
    pub async fn enqueue_in(
        &self,
        txn: &impl ConnectionTrait,
        tasks: Vec<TaskRecord>,
    ) -> Result<AfterCommit<'_>, Error> {
        let ids = tasks.iter().map(|t| t.id).collect();
        self.sql.enqueue_in(txn, tasks).await?;
        Ok(AfterCommit { backend: self, ids })
    }

    /// The SQL side: the records, for the host's own queries.
    pub fn sql(&self) -> &SeaBackend {
        &self.sql
    }

    /// The Redis side: the delivery copy.
    pub fn redis(&self) -> &RedisBackend {
        &self.redis
    }

    /// Checks whether Redis lost its data and, if so, or if `sweep` is
    /// set, or a push failed since the last pass, pushes every pending
    /// task back (idempotently: tasks Redis holds pending or running are
    /// left alone).
    ///
    /// A loss shows as the epoch key missing (this call then sets a new
    /// one) or holding another value than this process saw last (another
    /// process set a new one). A process's first pass adopts the epoch it
    /// finds.
    pub async fn reconcile_pass(&self, sweep: bool) -> Result<ReconcileReport, Error> {
        let candidate = uuid::Uuid::now_v7().to_string();
        let current = self.redis.delivery_epoch(&candidate).await?;
        let lost = {
            let seen = self.seen_epoch();
            current == candidate || seen.as_ref().is_some_and(|seen| *seen != current)
        };
        let sweep = sweep || lost || self.needs_sweep.swap(false, Ordering::SeqCst);
        if !sweep {
            *self.seen_epoch() = Some(current);
            return Ok(ReconcileReport::default());
        }
        if lost && self.seen_epoch().is_some() {
            warn!("Redis lost its data; putting every pending task back");
        }
        match self.sweep(lost).await {
            Ok(restored) => {
                *self.seen_epoch() = Some(current);
                Ok(ReconcileReport {
                    swept: true,
                    restored,
                })
            }
            Err(err) => {
                // Try again next pass (the epoch stays unseen, too).
                self.needs_sweep.store(true, Ordering::SeqCst);
                Err(err)
            }
        }
    }

    fn seen_epoch(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.epoch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Restores the pause flags, then puts back every pending task Redis
    /// lacks, a page at a time. Returns how many tasks Redis did not have.
    ///
    /// After a loss Redis lacks everything: each page of pending records
    /// is pushed as read. Otherwise (the periodic sweep, a failed push)
    /// Redis usually lacks little or nothing, so a page is SQL's ids and
    /// queues, then Redis's answer which of them it lacks, and only those
    /// records are read (still pending) and pushed: a sweep over tasks
    /// Redis holds reads no record and sends none.
    async fn sweep(&self, lost: bool) -> Result<u64, Error> {
        self.sync_pauses().await?;
        let mut restored = 0;
        let mut after = None;
        loop {
            let read = if lost {
                let page = self.sql.pending_after(after, SWEEP_PAGE).await?;
                after = page.last().map(|r| (r.created_at, r.id)).or(after);
                restored += self.redis.push_pending(&page).await?;
                page.len()
            } else {
                let (page, last) = self.sql.pending_ids_after(after, SWEEP_PAGE).await?;
                after = last.or(after);
                let lacking = self.redis.lacking(&page).await?;
                if !lacking.is_empty() {
                    let pending: Vec<TaskRecord> = self
                        .sql
                        .records_of(&lacking)
                        .await?
                        .into_iter()
                        .filter(|r| r.state == TaskState::Pending)
                        .collect();
                    restored += self.redis.push_pending(&pending).await?;
                }
                page.len()
            };
            if (read as u64) < SWEEP_PAGE {
                break;
            }
        }
        Ok(restored)
    }

    /// Makes Redis's pause flags, queue, rate and type limits SQL's.
    async fn sync_pauses(&self) -> Result<(), Error> {
        let paused = self.sql.paused_queues().await?;
        let limits = self.sql.queue_limits().await?;
        let rates = self.sql.queue_rates().await?;
        for stats in self.redis.queue_stats().await? {
            if stats.paused && !paused.contains(&stats.queue) {
                self.redis.set_queue_paused(&stats.queue, false).await?;
            }
            if stats.limit.is_some() && !limits.iter().any(|(queue, _)| *queue == stats.queue) {
                self.redis.set_queue_limit(&stats.queue, None).await?;
            }
            if stats.rate_limit.is_some() && !rates.iter().any(|(queue, _)| *queue == stats.queue) {
                self.redis.set_queue_rate_limit(&stats.queue, None).await?;
            }
        }
        for queue in &paused {
            self.redis.set_queue_paused(queue, true).await?;
        }
        for (queue, limit) in limits {
            self.redis.set_queue_limit(&queue, Some(limit)).await?;
        }
        for (queue, limit) in rates {
            self.redis.set_queue_rate_limit(&queue, Some(limit)).await?;
        }
        // Task type limits: Redis's copy becomes SQL's rows.
        let types = self.sql.type_limits().await?;
        for row in self.redis.type_limits().await? {
            if !types.iter().any(|t| t.task_type == row.task_type) {
                self.redis.set_type_limit(&row.task_type, None).await?;
                self.redis.set_key_limit(&row.task_type, None).await?;
                self.redis.set_type_rate_limit(&row.task_type, None).await?;
                self.redis.set_key_rate_limit(&row.task_type, None).await?;
            }
        }
        for row in types {
            self.redis.set_type_limit(&row.task_type, row.limit).await?;
            self.redis
                .set_key_limit(&row.task_type, row.key_limit)
                .await?;
            self.redis
                .set_type_rate_limit(&row.task_type, row.rate_limit)
                .await?;
            self.redis
                .set_key_rate_limit(&row.task_type, row.key_rate_limit)
                .await?;
        }
        Ok(())
    }

    /// Pushes records into Redis; a failure is left to the reconciler
    /// (the records are safe in SQL).
    async fn push_or_defer(&self, records: &[TaskRecord]) {
        if let Err(err) = self.redis.push_pending(records).await {
            warn!(error = %err, tasks = records.len(),
                "could not push tasks into Redis; the reconciler will");
            self.needs_sweep.store(true, Ordering::SeqCst);
        }
    }

    /// Drops tasks Redis handed out that SQL would not let run (see the
    /// module docs), and pushes back those SQL still has pending.
    async fn drop_unclaimable(&self, copies: Vec<TaskRecord>) {
        let now = Utc::now();
        let ids: Vec<_> = copies.iter().map(|r| r.id).collect();
        let drops = copies
            .into_iter()
            .map(|copy| Settlement {
                id: copy.id,
                attempt: copy.attempt,
                outcome: Outcome::Cancelled(TaskFailure {
                    kind: ErrorKind::Cancelled,
                    message: "the record store did not allow this claim".into(),
                }),
                at: now,
            })
            .collect();
        if let Err(err) = self.redis.settle(drops).await {
            warn!(error = %err, "could not drop unclaimable tasks from Redis");
        }
        self.push_pending_of(&ids).await;
    }

    /// Pushes those of `ids` that SQL has pending, from SQL's records; a
    /// failure is left to the reconciler.
    pub(super) async fn push_pending_of(&self, ids: &[TaskId]) {
        if ids.is_empty() {
            return;
        }
        match self.sql.records_of(ids).await {
            Ok(records) => {
                let pending: Vec<TaskRecord> = records
                    .into_iter()
                    .filter(|r| r.state == TaskState::Pending)
                    .collect();
                self.push_or_defer(&pending).await;
            }
            Err(err) => {
                warn!(error = %err, "could not read tasks to push back");
                self.needs_sweep.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Drops Redis's leftovers of tasks that finished before `before`
    /// (their copies may already have expired; their index entries stay
    /// until this).
    async fn purge_copies(&self, before: chrono::DateTime<Utc>) {
        let before = match self.redis.config().retention {
            Some(retention) => chrono::Duration::from_std(retention)
                .ok()
                .and_then(|r| Utc::now().checked_sub_signed(r))
                .map_or(before, |cutoff| cutoff.max(before)),
            None => before,
        };
        if let Err(err) = self.redis.purge(&TaskState::TERMINAL, before).await {
            warn!(error = %err, "could not purge finished tasks' copies from Redis");
        }
    }
}

/// Acknowledges in Redis, in batches, the finished tasks whose outcome SQL
/// stored: drops them from Redis's running set (their copies expire with
/// the retention). Off the settle's path: SQL's record is the durable
/// one, and a lost acknowledgement is harmless (see the module docs).
async fn acknowledge(redis: Arc<RedisBackend>, mut pending: mpsc::UnboundedReceiver<Settlement>) {
    let mut batch = Vec::with_capacity(ACK_BATCH_MAX);
    while pending.recv_many(&mut batch, ACK_BATCH_MAX).await > 0 {
        if let Err(err) = redis.settle(std::mem::take(&mut batch)).await {
            // Redis requeues them when their leases expire; the claim's
            // SQL fence then drops them.
            warn!(error = %err, "could not acknowledge finished tasks in Redis");
        }
    }
}

/// Tasks [`SeaRedisBackend::enqueue_in`] stored in a host transaction,
/// waiting for the host to [`deliver`](AfterCommit::deliver) them after
/// it commits.
#[must_use = "call `deliver` after the commit; otherwise the tasks wait for the reconciler's sweep"]
#[derive(Debug)]
pub struct AfterCommit<'a> {
    backend: &'a SeaRedisBackend,
    ids: Vec<TaskId>,
}

impl AfterCommit<'_> {
    /// The ids of the tasks enqueued.
    pub fn ids(&self) -> &[TaskId] {
        &self.ids
    }

    /// Pushes the tasks into Redis, waking idle workers in every process.
    /// Call it after the transaction committed: it reads the tasks back
    /// from SQL and pushes those it finds pending, so after a rollback
    /// (or before the commit) it finds and delivers nothing. Returns how
    /// many tasks it filed in Redis (0 also when an earlier sweep already
    /// had).
    ///
    /// On an error the tasks are still safe in SQL: this process's
    /// reconciler sweeps at its next pass, any process's periodic sweep
    /// delivers them.
    pub async fn deliver(self) -> Result<u64, Error> {
        let backend = self.backend;
        let pushed = async {
            let records = backend.sql.records_of(&self.ids).await?;
            let pending: Vec<TaskRecord> = records
                .into_iter()
                .filter(|r| r.state == TaskState::Pending)
                .collect();
            backend.redis.push_pending(&pending).await
        }
        .await;
        if pushed.is_err() {
            backend.needs_sweep.store(true, Ordering::SeqCst);
        }
        pushed
    }
}

impl std::fmt::Debug for SeaRedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaRedisBackend")
            .field("sql", &self.sql)
            .field("redis_prefix", &self.redis.config().prefix)
            .finish_non_exhaustive()
    }
}
