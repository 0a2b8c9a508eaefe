//! Idempotent submits on every backend: a caller-chosen id, a submit of an
//! id that exists, and the client's own retry after an ambiguous error.
//!
//! The ambiguous error is *fault injection around a real backend*:
//! [`LostReply`] hands each call to the backend under test unchanged,
//! except that it can drop the reply of an `enqueue` after the backend
//! applied it, answering `Error::Backend` as a connection lost between the
//! commit and the reply would. (A faithful server restart at exactly that
//! moment is not reproducible in a test; `tests/connection_loss.rs` and
//! `tests/redis_restart.rs` cover restarts themselves.)

use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use taskq::backend::{
    Broker, ClaimRequest, Enqueued, LeaseStatus, PendingByType, ReconcileReport, RescueReport,
    RetryPolicies, ScheduleStore, Settlement, Store, WorkerRegistry,
};
use taskq::schedule::ScheduleFiring;
use taskq::{Position, Progress, QueueStats, Schedule, SubmitRetry, TaskFilter};
use taskq_core::ends::TaskEnds;
use tokio::sync::Notify;

use super::*;

/// Submitting an id twice stores one task: the second submit answers
/// with the id and says it was a duplicate; the same id with other params
/// or another task type is `TaskExists`, and nothing changes.
pub async fn idempotent_submit_with_the_same_id_returns_it(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let id = uuid::Uuid::now_v7();
    let params = || Echo {
        text: "once".into(),
        times: 2,
    };
    let first = client
        .submit(echo, params())
        .id(id)
        .outcome()
        .await
        .unwrap();
    assert_eq!((first.id, first.duplicate), (id, false));
    let stored = client.get(id).await.unwrap();
    // Again, typed and by name, with other options: the stored task wins.
    let again = client
        .submit(echo, params())
        .id(id)
        .priority(9)
        .outcome()
        .await
        .unwrap();
    assert_eq!((again.id, again.duplicate), (id, true));
    let by_name = client
        .submit_json("echo", json!({ "text": "once", "times": 2 }))
        .id(id)
        .await
        .unwrap();
    assert_eq!(by_name, id);
    let unchanged = client.get(id).await.unwrap();
    assert_eq!(
        (unchanged.priority, unchanged.created_at, unchanged.state),
        (stored.priority, stored.created_at, TaskState::Pending)
    );
    // Another task under the id: refused, typed.
    let other_params = client
        .submit(
            echo,
            Echo {
                text: "twice".into(),
                times: 2,
            },
        )
        .id(id)
        .await;
    assert!(
        matches!(other_params, Err(Error::TaskExists(existing)) if existing == id),
        "{other_params:?}"
    );
    let other_type = client.submit(record_order, params()).id(id).outcome().await;
    assert!(
        matches!(other_type, Err(Error::TaskExists(existing)) if existing == id),
        "{other_type:?}"
    );
    assert_eq!(client.get(id).await.unwrap().params, stored.params);
    let all = client
        .list(&TaskFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(all.total, 1, "one task stored");
    // A finished task still answers for its id: the submit stays done.
    let stop = spawn(fast_worker(&client).build().unwrap());
    let done = client.wait_for(id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(done.result, Some(json!("onceonce")));
    let after = client
        .submit(echo, params())
        .id(id)
        .outcome()
        .await
        .unwrap();
    assert!(after.duplicate);
    stop().await;
}

/// An `enqueue` whose reply is lost after the backend stored the task is
/// tried again by the client with the same id, which finds it stored and
/// answers with it: one task, not two, and not a duplicate (this submit
/// stored it). A reply lost every time gives up after `SubmitRetry::tries`.
pub async fn idempotent_submit_retries_an_ambiguous_error(backend: Arc<dyn Backend>) {
    let faulty = Arc::new(LostReply::new(backend));
    let client = Client::new(faulty.clone()).unwrap();

    // The first reply is lost after the write (the client drew the id).
    faulty.lose(1, true);
    let submitted = client.submit(echo, plain("lost")).outcome().await.unwrap();
    assert!(!submitted.duplicate, "its own earlier try stored it");
    assert_eq!(faulty.enqueues(), 2, "tried once more");
    let found = client
        .list(&TaskFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(found.total, 1, "stored once");
    assert_eq!(found.items[0].id, submitted.id);

    // Lost before the write, twice: the third try stores it.
    faulty.lose(2, false);
    let id = client.submit(echo, plain("late")).await.unwrap();
    assert_eq!(faulty.enqueues(), 3);
    assert_eq!(client.get(id).await.unwrap().state, TaskState::Pending);

    // Lost every time: `Error::Backend` after the default 4 tries (and
    // 100 + 200 + 400 ms); with `SubmitRetry::NONE`, after one.
    faulty.lose(u32::MAX, false);
    let started = Instant::now();
    let gave_up = client.submit(echo, plain("x")).await;
    assert!(matches!(gave_up, Err(Error::Backend(_))), "{gave_up:?}");
    assert_eq!(faulty.enqueues(), 4);
    assert!(started.elapsed() >= Duration::from_millis(700));
    faulty.lose(u32::MAX, false);
    let once = client.clone().with_submit_retry(SubmitRetry::NONE);
    assert!(matches!(
        once.submit(echo, plain("x")).await,
        Err(Error::Backend(_))
    ));
    assert_eq!(faulty.enqueues(), 1);

    // A typed refusal is never retried: an id stored with other params.
    faulty.lose(0, false);
    let refused = client.submit(echo, plain("x")).id(submitted.id).await;
    assert!(matches!(refused, Err(Error::TaskExists(_))), "{refused:?}");
    assert_eq!(faulty.enqueues(), 1);
    let total = client
        .list(&TaskFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap()
        .total;
    assert_eq!(total, 2, "nothing stored by the refusals");
}

/// A batch under the caller's ids: the stored ones answer as duplicates
/// and the new ones are stored, in one call; an id stored with other
/// params fails the batch with nothing stored; an id twice is refused; a
/// lost reply is tried again and answers as stored by this call.
pub async fn idempotent_submit_many_with_ids(backend: Arc<dyn Backend>) {
    let faulty = Arc::new(LostReply::new(backend));
    let client = Client::new(faulty.clone()).unwrap();
    let ids: Vec<TaskId> = (0..6).map(|_| uuid::Uuid::now_v7()).collect();
    let total = || async {
        client
            .list(&TaskFilter::default(), PageRequest::new(1, 20))
            .await
            .unwrap()
            .total
    };
    let first = client
        .submit_many_with_ids(echo, [(ids[0], plain("a")), (ids[1], plain("b"))])
        .await
        .unwrap();
    let seen = |answers: &[taskq::Submitted]| -> Vec<(TaskId, bool)> {
        answers.iter().map(|s| (s.id, s.duplicate)).collect()
    };
    assert_eq!(seen(&first), [(ids[0], false), (ids[1], false)]);
    let again = client
        .submit_many_with_ids(
            echo,
            [
                (ids[0], plain("a")),
                (ids[2], plain("c")),
                (ids[1], plain("b")),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        seen(&again),
        [(ids[0], true), (ids[2], false), (ids[1], true)]
    );
    assert_eq!(total().await, 3);
    // Another task under a stored id: refused, nothing of the batch stored.
    let other = client
        .submit_many_with_ids(echo, [(ids[3], plain("d")), (ids[0], plain("not a"))])
        .await;
    assert!(
        matches!(other, Err(Error::TaskExists(existing)) if existing == ids[0]),
        "{other:?}"
    );
    let twice = client
        .submit_many_with_ids(echo, [(ids[3], plain("d")), (ids[3], plain("d"))])
        .await;
    assert!(twice.is_err(), "{twice:?}");
    assert_eq!(total().await, 3);
    assert!(client.get(ids[3]).await.is_err());
    // The reply lost after the write: tried again, found stored by itself.
    faulty.lose(1, true);
    let lost = client
        .submit_many_with_ids(echo, [(ids[4], plain("e")), (ids[5], plain("f"))])
        .await
        .unwrap();
    assert_eq!(seen(&lost), [(ids[4], false), (ids[5], false)]);
    assert_eq!(faulty.enqueues(), 2);
    assert_eq!(total().await, 5);
}

fn plain(text: &str) -> Echo {
    Echo {
        text: text.into(),
        times: 1,
    }
}

/// A backend that hands every call to `inner`, and can lose the reply of
/// the next `enqueue`s (see the module's doc).
pub struct LostReply {
    inner: Arc<dyn Backend>,
    /// Replies of `enqueue` still to lose.
    lose: AtomicU32,
    /// Whether a lost reply's enqueue was applied first.
    applied: std::sync::atomic::AtomicBool,
    /// `enqueue` calls since the last [`LostReply::lose`].
    enqueues: AtomicU32,
    /// `claim` calls, all told (`rate.rs` counts a worker's claims).
    claims: AtomicU32,
}

impl LostReply {
    fn new(inner: Arc<dyn Backend>) -> LostReply {
        LostReply {
            inner,
            lose: AtomicU32::new(0),
            applied: Default::default(),
            enqueues: AtomicU32::new(0),
            claims: AtomicU32::new(0),
        }
    }

    /// Wraps `inner`, losing nothing until told to.
    pub fn wrap(inner: Arc<dyn Backend>) -> LostReply {
        LostReply::new(inner)
    }

    /// `claim` calls so far.
    pub fn claims(&self) -> u32 {
        self.claims.load(Ordering::SeqCst)
    }

    /// Loses the next `count` enqueue replies, after applying each
    /// enqueue when `applied`, before when not.
    fn lose(&self, count: u32, applied: bool) {
        self.lose.store(count, Ordering::SeqCst);
        self.applied.store(applied, Ordering::SeqCst);
        self.enqueues.store(0, Ordering::SeqCst);
    }

    fn enqueues(&self) -> u32 {
        self.enqueues.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Broker for LostReply {
    async fn enqueue(&self, tasks: Vec<TaskRecord>) -> Result<Enqueued, Error> {
        self.enqueues.fetch_add(1, Ordering::SeqCst);
        let lost = self
            .lose
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !lost {
            return self.inner.enqueue(tasks).await;
        }
        if self.applied.load(Ordering::SeqCst) {
            self.inner.enqueue(tasks).await?;
        }
        Err(Error::backend("injected: connection lost before the reply"))
    }
    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Vec<TaskRecord>, Error> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        self.inner.claim(request).await
    }
    async fn settle(&self, settlements: Vec<Settlement>) -> Result<Vec<bool>, Error> {
        self.inner.settle(settlements).await
    }
    async fn heartbeat(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, Error> {
        self.inner.heartbeat(worker_id, tasks, lease_until).await
    }
    async fn release(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.inner.release(worker_id, tasks, now).await
    }
    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        self.inner.cancel(id, now).await
    }
    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        self.inner.retry(id, now).await
    }
    async fn reorder(&self, id: TaskId, position: Position) -> Result<TaskRecord, Error> {
        self.inner.reorder(id, position).await
    }
    async fn set_queue_paused(&self, queue: &str, paused: bool) -> Result<(), Error> {
        self.inner.set_queue_paused(queue, paused).await
    }

    async fn set_queue_limit(&self, queue: &str, limit: Option<u32>) -> Result<(), Error> {
        self.inner.set_queue_limit(queue, limit).await
    }
    async fn set_type_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        self.inner.set_type_limit(task_type, limit).await
    }
    async fn set_key_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        self.inner.set_key_limit(task_type, limit).await
    }
    async fn set_queue_rate_limit(
        &self,
        queue: &str,
        limit: Option<taskq::RateLimit>,
    ) -> Result<(), Error> {
        self.inner.set_queue_rate_limit(queue, limit).await
    }
    async fn set_queue_fair(&self, queue: &str, fair: bool) -> Result<(), Error> {
        self.inner.set_queue_fair(queue, fair).await
    }
    async fn set_fair_weight(
        &self,
        queue: &str,
        key: &str,
        weight: Option<u32>,
    ) -> Result<(), Error> {
        self.inner.set_fair_weight(queue, key, weight).await
    }
    async fn fair_weights(&self, queue: &str) -> Result<Vec<taskq::FairWeight>, Error> {
        self.inner.fair_weights(queue).await
    }
    fn claim_hold(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.inner.claim_hold(queue)
    }
    fn claim_wake(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.inner.claim_wake(queue)
    }
    async fn set_type_rate_limit(
        &self,
        task_type: &str,
        limit: Option<taskq::RateLimit>,
    ) -> Result<(), Error> {
        self.inner.set_type_rate_limit(task_type, limit).await
    }
    async fn set_key_rate_limit(
        &self,
        task_type: &str,
        limit: Option<taskq::RateLimit>,
    ) -> Result<(), Error> {
        self.inner.set_key_rate_limit(task_type, limit).await
    }
    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        policies: &dyn RetryPolicies,
    ) -> Result<RescueReport, Error> {
        self.inner.rescue_expired(now, policies).await
    }
    async fn expire_overdue(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, Error> {
        self.inner.expire_overdue(now, limit).await
    }
    async fn reconcile(&self, sweep: bool) -> Result<Option<ReconcileReport>, Error> {
        self.inner.reconcile(sweep).await
    }
    fn work_signal(&self) -> Option<Arc<Notify>> {
        self.inner.work_signal()
    }
    fn cancel_signal(&self) -> Option<Arc<Notify>> {
        self.inner.cancel_signal()
    }
}

#[async_trait]
impl Store for LostReply {
    async fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, Error> {
        self.inner.get(id).await
    }
    async fn list(
        &self,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<taskq::Page<TaskRecord>, Error> {
        self.inner.list(filter, page).await
    }
    async fn record_progress(
        &self,
        id: TaskId,
        attempt: u32,
        progress: Progress,
    ) -> Result<bool, Error> {
        self.inner.record_progress(id, attempt, progress).await
    }
    async fn delete_task(&self, id: TaskId) -> Result<TaskRecord, Error> {
        self.inner.delete_task(id).await
    }
    async fn workflow_steps(&self, workflow: taskq::WorkflowId) -> Result<Vec<TaskRecord>, Error> {
        self.inner.workflow_steps(workflow).await
    }
    async fn purge(&self, states: &[TaskState], before: DateTime<Utc>) -> Result<u64, Error> {
        self.inner.purge(states, before).await
    }
    async fn queue_stats(&self) -> Result<Vec<QueueStats>, Error> {
        self.inner.queue_stats().await
    }
    async fn type_limits(&self) -> Result<Vec<taskq::TypeLimitStats>, Error> {
        self.inner.type_limits().await
    }
    async fn pending_by_type(&self) -> Result<Vec<PendingByType>, Error> {
        self.inner.pending_by_type().await
    }
    async fn task_states(&self, ids: &[TaskId]) -> Result<Vec<(TaskId, TaskState)>, Error> {
        self.inner.task_states(ids).await
    }
    fn task_ends(&self) -> Option<Arc<TaskEnds>> {
        self.inner.task_ends()
    }
}

#[async_trait]
impl ScheduleStore for LostReply {
    async fn create_schedule(&self, schedule: Schedule) -> Result<(), Error> {
        self.inner.create_schedule(schedule).await
    }
    async fn update_schedule(&self, schedule: &Schedule) -> Result<(), Error> {
        self.inner.update_schedule(schedule).await
    }
    async fn delete_schedule(&self, name: &str) -> Result<bool, Error> {
        self.inner.delete_schedule(name).await
    }
    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>, Error> {
        self.inner.get_schedule(name).await
    }
    async fn list_schedules(&self, page: PageRequest) -> Result<taskq::Page<Schedule>, Error> {
        self.inner.list_schedules(page).await
    }
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Schedule>, Error> {
        self.inner.due_schedules(now, limit).await
    }
    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, Error> {
        self.inner.next_schedule_due().await
    }
    async fn fire_schedules(&self, firings: Vec<ScheduleFiring>) -> Result<Vec<bool>, Error> {
        self.inner.fire_schedules(firings).await
    }
    fn schedule_signal(&self) -> Option<Arc<Notify>> {
        self.inner.schedule_signal()
    }
}

#[async_trait]
impl WorkerRegistry for LostReply {
    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), Error> {
        self.inner.register_worker(worker).await
    }
    async fn worker_heartbeat(&self, worker: &WorkerInfo) -> Result<Option<WorkerState>, Error> {
        self.inner.worker_heartbeat(worker).await
    }
    async fn deregister_worker(&self, id: &str) -> Result<bool, Error> {
        self.inner.deregister_worker(id).await
    }
    async fn list_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerInfo>, Error> {
        self.inner.list_workers(now).await
    }
    async fn control_worker(
        &self,
        id: &str,
        control: WorkerControl,
        now: DateTime<Utc>,
    ) -> Result<WorkerInfo, Error> {
        self.inner.control_worker(id, control, now).await
    }
    fn control_signal(&self) -> Option<Arc<Notify>> {
        self.inner.control_signal()
    }
    async fn add_counts(
        &self,
        counts: &[taskq::throughput::MinuteCounts],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.inner.add_counts(counts, now).await
    }
    async fn counts_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<taskq::throughput::MinuteCounts>, Error> {
        self.inner.counts_since(since).await
    }
}
