//! The contract between taskq and a storage backend: [`Broker`] moves live
//! tasks through their states, [`Store`] answers questions about records,
//! [`ScheduleStore`] keeps and fires schedules, [`WorkerRegistry`] lists
//! live workers and carries control requests to them.
//!
//! A backend implements all four (the blanket [`Backend`] trait joins them).
//! What each transition does to a record is [`crate::lifecycle`]'s: this
//! module says how a backend must apply it. The conformance suite and the
//! model test (`taskq_core::conformance`, feature `conformance`) check
//! both; a new backend is done when it passes them.
//!
//! # Rules every backend keeps
//! - **Atomic transitions.** Each task moves through one call at a time:
//!   two workers claiming at once never get the same task; a settle, cancel
//!   or rescue that races another sees the other's result.
//! - **Fencing by attempt.** Calls that act for a running attempt carry
//!   `(id, attempt)` and apply only while the task is `RUNNING` with that
//!   attempt, so a worker that lost its lease cannot overwrite the attempt
//!   that replaced it.
//! - **Queue limits.** A claim takes no more than its queue's limit
//!   leaves, counting the queue's `RUNNING` tasks in the same atomic step
//!   ([`lifecycle::claim_capacity`](crate::lifecycle::claim_capacity)):
//!   concurrent claimers together never exceed it. Nor more than its rate
//!   limit's bucket allows at the claim's `now`, read and moved in the same
//!   step ([`lifecycle::rate_capacity`](crate::lifecycle::rate_capacity),
//!   [`lifecycle::rate_spend`](crate::lifecycle::rate_spend)); a claim that
//!   leaves the bucket empty records when it next allows a start
//!   ([`Broker::claim_hold`]).
//! - **Type and key limits.** Nor more tasks of a type than its limit
//!   leaves beside the type's `RUNNING` tasks, nor more of one
//!   concurrency key than the type's key limit leaves beside the running
//!   ones with that key, counted in the same step
//!   ([`lifecycle::TypeCaps`](crate::lifecycle::TypeCaps)); a task of a
//!   full type or key keeps its place and the claim goes on past it.
//! - **Order.** Among due pending tasks of a queue, higher `priority` first,
//!   then lower `fair_round` (in a fair queue, [`Broker::set_queue_fair`];
//!   0 elsewhere), then lower `seq` (the ETA in microseconds, then
//!   submission order; reordering rewrites it).
//! - **A step's end moves its workflow.** Whatever makes a workflow step
//!   terminal (settle, cancel, rescue, a release after a cancel request)
//!   applies [`lifecycle::parent_ended`](crate::lifecycle::parent_ended)
//!   to each of its children in the same transaction or script (or, where
//!   a child lives out of the script's reach, through a record written
//!   with the end and applied idempotently after it), so a crash neither
//!   loses nor repeats a release; a `WAITING` step is never claimed.
//! - **Errors change nothing.** A missing id is [`Error::NotFound`]; a state
//!   that does not allow the call is [`Error::InvalidTransition`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::ends::TaskEnds;
use crate::error::Error;
use crate::rate_limit::RateLimit;
use crate::retry_policy::RetryPolicies;
use crate::task::{Progress, TaskId, TaskRecord, TaskState, WorkflowId};
use crate::workflow::StepEnd;
mod schedule_store;
mod types;
mod worker_registry;

pub use crate::worker_state::{
    WORKER_GONE_KEPT, WorkerControl, WorkerInfo, WorkerQueue, WorkerState,
};
pub use schedule_store::ScheduleStore;
pub use types::*;
pub use worker_registry::WorkerRegistry;

/// Delivery: the state machine of live tasks.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Accepts new `PENDING` tasks: all, or none when an id is stored or
    /// repeated ([`Error::TaskExists`]). A task whose unique key is held
    /// is left out and reported in [`Enqueued::duplicates`], atomically
    /// with the check (`lifecycle`, "submit (unique)").
    async fn enqueue(&self, tasks: Vec<TaskRecord>) -> Result<Enqueued, Error>;

    /// Claims up to `limit` due pending tasks of an unpaused queue, in
    /// order, for `worker_id` (never one past its deadline to start: a
    /// claim may expire those it meets, [`crate::lifecycle::expire`]), and
    /// no more than the queue's own limit leaves ([`Broker::set_queue_limit`])
    /// and its rate limit's bucket allows at `now`, spent in the same step
    /// ([`Broker::set_queue_rate_limit`]): each becomes `RUNNING` with `attempt + 1`,
    /// `started_at = now`, a lease until `now + lease` and no progress.
    /// The returned records are the claimed state.
    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Vec<TaskRecord>, Error>;

    /// Applies finished attempts, fenced by attempt. Returns, per
    /// settlement in order, whether it was applied (`false`: stale).
    async fn settle(&self, settlements: Vec<Settlement>) -> Result<Vec<bool>, Error>;

    /// Extends the leases of a worker's running attempts to `lease_until`,
    /// reporting per task whether it is still held and whether cancel was
    /// requested.
    async fn heartbeat(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, Error>;

    /// Returns a worker's running attempts to `PENDING` without spending
    /// an attempt (graceful shutdown; the worker stopped them first); one
    /// whose cancel was requested ends `CANCELLED` at `now` instead
    /// ([`lifecycle::release`](crate::lifecycle::release)).
    async fn release(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        now: DateTime<Utc>,
    ) -> Result<(), Error>;

    /// Cancels: a pending task becomes `CANCELLED` at once; a running one
    /// gets `cancel_requested` (its worker stops it and settles it as
    /// cancelled). Terminal tasks: [`Error::InvalidTransition`].
    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error>;

    /// Puts a `FAILED`, `CANCELLED` or `EXPIRED` task back to `PENDING`,
    /// due now, same id, with one more retry allowed if its retries were
    /// spent, no deadline and no snoozes counted ([`crate::lifecycle::retry`]).
    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error>;

    /// Moves a pending task within its queue; the id stays.
    async fn reorder(&self, id: TaskId, position: Position) -> Result<TaskRecord, Error>;

    /// Pauses or resumes claiming from a queue, for every worker.
    async fn set_queue_paused(&self, queue: &str, paused: bool) -> Result<(), Error>;

    /// Sets (`Some(n)`) or clears (`None`) the queue's limit: at most `n`
    /// of its tasks run at once across every worker. Stored in the
    /// backend and read inside every claim, which counts the queue's
    /// `RUNNING` tasks and takes at most what is left
    /// ([`lifecycle::claim_capacity`](crate::lifecycle::claim_capacity)),
    /// atomically with concurrent claims: it applies to the next claim of
    /// every worker. `Some(0)` is [`Error::InvalidArgument`] and changes
    /// nothing ([`lifecycle::check_queue_limit`](crate::lifecycle::check_queue_limit)).
    /// Independent of the pause flag.
    async fn set_queue_limit(&self, queue: &str, limit: Option<u32>) -> Result<(), Error>;

    /// Sets (`Some(n)`) or clears (`None`) the limit of a task type: at
    /// most `n` tasks of `task_type` run at once across every worker and
    /// queue (on Redis through permits in the type's slot, see
    /// `redis/permits.rs`). Stored in the
    /// backend and read inside every claim, which counts the type's
    /// `RUNNING` tasks and passes over (leaving in place) those of a full
    /// type ([`lifecycle::TypeCaps`](crate::lifecycle::TypeCaps)),
    /// atomically with concurrent claims. `Some(0)` is
    /// [`Error::InvalidArgument`] and changes nothing
    /// ([`lifecycle::check_type_limit`](crate::lifecycle::check_type_limit)).
    async fn set_type_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error>;

    /// Sets (`Some(n)`) or clears (`None`) the key limit of a task type:
    /// at most `n` of its tasks with one concurrency key
    /// ([`TaskRecord::concurrency_key`]) run at once, for every key apart
    /// over every queue. Read inside every claim like the type limit,
    /// which counts the type's `RUNNING` tasks with the candidate's key;
    /// a task without a key is not held by it. `Some(0)` is
    /// [`Error::InvalidArgument`] and changes nothing.
    async fn set_key_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error>;

    /// Sets (`Some`) or clears (`None`) the rate limit of a task type: at
    /// most `starts` of its tasks start per `period`, across every worker
    /// and queue. A token
    /// bucket kept in the backend and spent in every claim's atomic step
    /// through [`lifecycle::TypeCaps`](crate::lifecycle::TypeCaps): a task
    /// it holds back stays `PENDING` in its place and the claim walks past
    /// it. Changing the limit keeps what the bucket spent; clearing it
    /// forgets it. A bad limit
    /// ([`lifecycle::check_type_rate_limit`](crate::lifecycle::check_type_rate_limit))
    /// is [`Error::InvalidArgument`] and changes nothing.
    async fn set_type_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error>;

    /// Sets (`Some`) or clears (`None`) the key rate limit of a task type:
    /// at most `starts` of its tasks with one concurrency key start per
    /// `period`, each key its own bucket (a task without a key is not held
    /// by it). Kept like [`Broker::set_type_rate_limit`]; a key's bucket
    /// is stored only while it is spent.
    async fn set_key_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error>;

    /// Sets (`Some`) or clears (`None`) the queue's rate limit: at most
    /// `starts` of its tasks start per `period`, across every worker (a
    /// token bucket, see [`RateLimit`]). Stored in the backend and read in
    /// every claim, which takes at most what the bucket allows at its
    /// `now` and spends it in the same atomic step
    /// ([`lifecycle::rate_capacity`](crate::lifecycle::rate_capacity)):
    /// it applies to the next claim of every worker. Changing the limit
    /// keeps what the bucket spent; clearing it forgets it. A bad limit
    /// ([`lifecycle::check_rate_limit`](crate::lifecycle::check_rate_limit))
    /// is [`Error::InvalidArgument`] and changes nothing.
    async fn set_queue_rate_limit(
        &self,
        queue: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error>;

    /// Sets the queue fair (`true`) or not (`false`, the default): in a
    /// fair queue the concurrency keys of its tasks take turns, so one
    /// key's backlog does not delay another key's task behind all of it.
    /// Each task submitted to a fair queue gets a `fair_round`
    /// ([`lifecycle::fair_round`](crate::lifecycle::fair_round)), its
    /// key's next, and claims take lower rounds first among equal
    /// priority ([`lifecycle::claim_order`](crate::lifecycle::claim_order)).
    /// Tasks pending when the setting changes keep their rounds; setting
    /// it off forgets the queue's rounds. Independent of the pause flag
    /// and the limits.
    async fn set_queue_fair(&self, queue: &str, fair: bool) -> Result<(), Error>;

    /// Sets the weight of concurrency key `key` in `queue` (`None`: back
    /// to 1): in a fair queue the key's tasks take `weight` turns to a
    /// key of weight 1's one
    /// ([`lifecycle::fair_turn`](crate::lifecycle::fair_turn)), from the
    /// next task submitted. Kept while the queue is set not fair and fair
    /// again. A weight of 0 or above
    /// [`MAX_FAIR_WEIGHT`](crate::lifecycle::MAX_FAIR_WEIGHT), or a bad key,
    /// is [`Error::InvalidArgument`] and changes nothing
    /// ([`lifecycle::check_fair_weight`](crate::lifecycle::check_fair_weight)).
    async fn set_fair_weight(
        &self,
        queue: &str,
        key: &str,
        weight: Option<u32>,
    ) -> Result<(), Error>;

    /// The weights set in `queue`, by key.
    async fn fair_weights(&self, queue: &str) -> Result<Vec<FairWeight>, Error>;

    /// When the last claim of `queue` through this backend left its rate
    /// limit's bucket empty: the time the bucket next allows a start
    /// ([`lifecycle::rate_next_start`](crate::lifecycle::rate_next_start)).
    /// A worker whose claim came back short sleeps until then instead of
    /// claiming again on every signal. `None` (the default): not held.
    fn claim_hold(&self, queue: &str) -> Option<DateTime<Utc>> {
        let _ = queue;
        None
    }

    /// When the last claim of `queue` through this backend held a task
    /// back by its type's or key's rate limit: the time the earliest such
    /// bucket next allows a start ([`lifecycle::TypeCaps::rate_wake`](crate::lifecycle::TypeCaps::rate_wake)).
    /// Unlike [`Broker::claim_hold`] it holds nothing back (other types'
    /// tasks are claimed at once): a worker whose claim came back short
    /// claims again by then rather than after its poll interval. `None`
    /// (the default): nothing held by a type or key rate.
    fn claim_wake(&self, queue: &str) -> Option<DateTime<Utc>> {
        let _ = queue;
        None
    }

    /// Applies [`crate::lifecycle::rescue`] to every `RUNNING` task whose lease
    /// ended before `now`: back to `PENDING` after its type's backoff
    /// (from `policies`), or `FAILED` when no retry is left, or `CANCELLED`
    /// when cancel was requested. Each task's rescue is atomic and fenced
    /// by its attempt and expired lease, so it is safe to run on every
    /// worker.
    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        policies: &dyn RetryPolicies,
    ) -> Result<RescueReport, Error>;

    /// Applies [`crate::lifecycle::expire`] to up to `limit` `PENDING`
    /// tasks whose `expires_at` is at or before `now` (first attempts and
    /// retries alike, read from an index on the deadline, not a scan), in
    /// one atomic step per batch; an expired workflow step moves its
    /// dependents as any end does. Returns how many expired: a caller
    /// repeats while it gets `limit`. Safe to run on every worker.
    async fn expire_overdue(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, Error>;

    /// For a backend whose delivery path is a copy of durable records
    /// (SQL records with Redis delivery): puts back into the delivery path
    /// what it lost, checking cheaply for a loss on every call and every
    /// pending task when `sweep` is set. On Redis: carries the workflow
    /// step ends a stopped process left in the queues' outboxes. Safe to
    /// run on every worker.
    ///
    /// `Ok(None)` means the backend has one store and nothing to
    /// reconcile (the default); the worker's reconciler then stops.
    async fn reconcile(&self, sweep: bool) -> Result<Option<ReconcileReport>, Error> {
        let _ = sweep;
        Ok(None)
    }

    /// A signal fired when work may have become available to this process
    /// (a local enqueue, retry or resume). Workers also poll, so a backend
    /// that cannot see other processes' enqueues still works.
    fn work_signal(&self) -> Option<Arc<Notify>> {
        None
    }

    /// A signal fired when a running task's cancel may have been requested
    /// (by any process): workers renew their leases at once, which tells
    /// them of the request, instead of at their next heartbeat.
    fn cancel_signal(&self) -> Option<Arc<Notify>> {
        None
    }
}

/// Records: reading, progress and housekeeping.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, Error>;

    /// Tasks matching `filter`, newest first (`created_at`, then id).
    async fn list(&self, filter: &TaskFilter, page: PageRequest)
    -> Result<Page<TaskRecord>, Error>;

    /// Stores progress of a running attempt, fenced by attempt. Returns
    /// whether it was applied.
    async fn record_progress(
        &self,
        id: TaskId,
        attempt: u32,
        progress: Progress,
    ) -> Result<bool, Error>;

    /// Deletes one ended task's record (`FINISHED`, `FAILED`, `CANCELLED`
    /// or `EXPIRED`) and returns it. A pending or running task is
    /// [`Error::InvalidTransition`] (cancel it first), and stays.
    async fn delete_task(&self, id: TaskId) -> Result<TaskRecord, Error>;

    /// Deletes tasks in the given terminal states that finished before
    /// `before`. Non-terminal states are an [`Error::InvalidArgument`].
    async fn purge(&self, states: &[TaskState], before: DateTime<Utc>) -> Result<u64, Error>;

    /// Counts per queue: every queue with a live (pending or running) task,
    /// a pause flag, a limit or a rate limit (which it reports, with
    /// `rate_held_until` from the bucket at the current time). A queue with neither may also appear, with zeros:
    /// backends that keep a registry of queues list every queue they saw.
    /// `live_workers` and the `unclaimable` fields are left empty (see
    /// [`QueueStats`]).
    async fn queue_stats(&self) -> Result<Vec<QueueStats>, Error>;

    /// Every task type with a stored limit, key limit, rate limit or key
    /// rate limit, by name, with its `RUNNING` tasks counted now and its
    /// buckets read at the current time ([`Broker::set_type_limit`],
    /// [`Broker::set_key_limit`], [`Broker::set_type_rate_limit`],
    /// [`Broker::set_key_rate_limit`]).
    async fn type_limits(&self) -> Result<Vec<TypeLimitStats>, Error>;

    /// Pending tasks (due or scheduled) per queue and task type, ordered by
    /// queue, then type; pairs without a pending task are left out. Read
    /// from an index of pending tasks (a `GROUP BY` over the pending rows,
    /// Redis's per-state-and-type sets), not a scan of every record.
    async fn pending_by_type(&self) -> Result<Vec<PendingByType>, Error>;

    /// The records of those of `ids` that exist, in any order: a step's
    /// parents when it starts. The default reads them one by one; a
    /// backend should answer in few queries.
    async fn get_many(&self, ids: &[TaskId]) -> Result<Vec<TaskRecord>, Error> {
        let mut records = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(record) = self.get(id).await? {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// What a starting step reads of its parents: the [`StepEnd`] of
    /// those of `ids` that exist, in any order. `queue` is the step's own
    /// queue, where its parents most often are (a hint: Redis looks there
    /// first, before the id index). The default cuts down
    /// [`Store::get_many`]'s records; a backend whose records are large
    /// (history, params) may read only these fields.
    async fn step_parents(
        &self,
        ids: &[TaskId],
        queue: Option<&str>,
    ) -> Result<Vec<StepEnd>, Error> {
        let _ = queue;
        Ok(self
            .get_many(ids)
            .await?
            .into_iter()
            .map(StepEnd::of)
            .collect())
    }

    /// Every stored step of workflow `workflow`, in any order (empty when
    /// there is no such workflow).
    async fn workflow_steps(&self, workflow: WorkflowId) -> Result<Vec<TaskRecord>, Error>;

    /// The states of those of `ids` that exist (missing ones are left
    /// out), in any order: what the shared fallback poll of waiters asks
    /// each interval, at most [`POLL_BATCH`](crate::ends::POLL_BATCH) ids
    /// at a time. The default reads the records one by one; a backend
    /// should answer in one query.
    async fn task_states(&self, ids: &[TaskId]) -> Result<Vec<(TaskId, TaskState)>, Error> {
        let mut states = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(record) = self.get(id).await? {
                states.push((id, record.state));
            }
        }
        Ok(states)
    }

    /// The hub through which this backend wakes waiters when tasks end
    /// ([`crate::ends`]): it calls [`TaskEnds::ended`] when a task of any
    /// process may have ended, as far as it can tell, and builds the hub
    /// with the fallback poll that covers what it cannot. One per backend
    /// instance, so that its waiters share one poller.
    ///
    /// `None` (the default): the backend pushes nothing, and each
    /// [`Client`](crate::Client) polls for its waiters every
    /// [`POLL_INTERVAL_DEFAULT`](crate::ends::POLL_INTERVAL_DEFAULT) with
    /// [`Store::task_states`].
    fn task_ends(&self) -> Option<Arc<TaskEnds>> {
        None
    }

    /// Brings the backend's schema (every table it uses, records or not)
    /// up to date; idempotent. What [`Client::migrate`](crate::Client::migrate)
    /// runs, for deploys that migrate before any worker starts. The
    /// default does nothing: a backend without a schema (memory, Redis)
    /// has nothing to migrate.
    async fn migrate(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// A complete backend: delivery, records, schedules and workers.
pub trait Backend: Broker + Store + ScheduleStore + WorkerRegistry {}

impl<T: Broker + Store + ScheduleStore + WorkerRegistry> Backend for T {}

/// Checks the states a purge may touch.
pub fn check_purge_states(states: &[TaskState]) -> Result<(), Error> {
    match states.iter().find(|state| !state.is_terminal()) {
        Some(state) => Err(Error::InvalidArgument(format!(
            "purge only removes terminal tasks, not {state}"
        ))),
        None => Ok(()),
    }
}
