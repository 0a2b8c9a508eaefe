//! The Redis backend, on one server and on Redis Cluster: the shared
//! conformance suite, then Redis-specific behaviour (retention, wake-ups
//! across connections, key cleanup), then what only a cluster shows —
//! queues spread over the nodes while batches, lists, stats, purges and
//! key deletion span them, and announcements (work, delayed work,
//! cancels, schedule writes, worker controls) that reach a process
//! subscribed on another node.
//!
//! The single-server tests (`redis::`, `redis_specific::`) need
//! `TASKQ_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`); built without
//! it they are ignored. The cluster tests (`redis_cluster…`) run when
//! `TASKQ_TEST_REDIS_CLUSTER=1` (set by `.ci/run`) and start one private
//! three-master cluster for the binary ([`common::PrivateRedisCluster`]:
//! `redis-server` and `redis-cli` on the `PATH`, about two seconds); they
//! fail when it does not come up. Each test uses its own key prefix and
//! deletes its keys when its backend is dropped.
#![cfg(feature = "redis")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use fred::prelude::{
    Builder, Client, ClientLike, ClusterInterface, Config, KeysInterface, SortedSetsInterface,
};
use serde_json::json;
use taskq::backend::{Backend, Broker, ScheduleStore, Store, WorkerRegistry};
use taskq::{RedisBackend, RedisConfig, TaskRecord, WorkerControl};
use taskq_core::backend::{ClaimRequest, Outcome, Settlement};
use taskq_core::conformance::{record, worker_info};

use common::marks::{marks_start, time_cancel_of_running, wait_mark};

use common::PrivateRedisCluster;

/// Where a test's Redis is: the URL backends connect to, and each node's
/// own URL (to read which keys it holds).
struct Target {
    url: String,
    nodes: Vec<String>,
}

impl Target {
    /// The test server of `TASKQ_TEST_REDIS_URL` (panics when unset).
    fn single() -> Target {
        let url = common::redis_url();
        Target {
            nodes: vec![url.clone()],
            url,
        }
    }

    /// This binary's private cluster (see [`PrivateRedisCluster::shared`]).
    fn cluster() -> Target {
        let cluster = PrivateRedisCluster::shared();
        Target {
            url: cluster.url(),
            nodes: cluster.node_urls(),
        }
    }
}

/// A prefix no other test (or run) uses.
fn unique_prefix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "taskq-test-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn test_config(url: &str) -> RedisConfig {
    let mut config = RedisConfig::new(url);
    config.prefix = unique_prefix();
    config.delete_keys_on_drop = true;
    config
}

async fn fresh(url: &str) -> RedisBackend {
    RedisBackend::connect_with(test_config(url))
        .await
        .unwrap_or_else(|err| panic!("no Redis server answers at {url}: {err}"))
}

/// The shared conformance suite: `cargo test conformance::` runs it alone.
mod conformance {
    #[allow(unused_imports)]
    use super::*;

    taskq_core::conformance_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        || async { Arc::new(fresh(&Target::single().url).await) as Arc<dyn Backend> }
    );

    taskq_core::conformance_suite!(
        #[cfg_attr(
            taskq_no_redis_cluster,
            ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
        )]
        redis_cluster,
        || async { Arc::new(fresh(&Target::cluster().url).await) as Arc<dyn Backend> }
    );
}

/// The Redis-specific tests below, on one target: `redis_specific!(#[attr]…
/// name, target)` where `target` gives a [`Target`]; the attributes (an
/// `ignore` when the server is not configured) go on each test.
macro_rules! redis_specific {
    ($(#[$attr:meta])* $name:ident, $target:expr) => {
        mod $name {
            redis_specific!(@tests [$(#[$attr])*] $target;
                enqueue_wakes_other_hosts, delayed_task_wakes_worker_when_due,
                cancel_reaches_worker_on_other_host, retention_expires_finished_records,
                pruner_deletes_finished_records_by_default,
                settle_from_another_handle_reads_what_it_lacks,
                rescue_takes_bare_id_running_members,
                queue_stats_count_each_kind, keys_are_deleted_on_drop,
                duplicate_id_across_queues_changes_nothing, countdown_task_starts_when_due,
                cancel_stops_running_task_on_other_host_promptly);
        }
    };
    (@tests [$($attr:tt)*] $target:expr;) => {};
    // One test per step: the attributes repeat inside each test.
    (@tests [$($attr:tt)*] $target:expr; $test:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $test() {
            super::$test($target()).await;
        }
        redis_specific!(@tests [$($attr)*] $target; $($rest),*);
    };
}

redis_specific!(
    #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
    redis_specific,
    super::Target::single
);
redis_specific!(
    #[cfg_attr(
        taskq_no_redis_cluster,
        ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
    )]
    redis_cluster_specific,
    super::Target::cluster
);

fn claim_request<'a>(queue: &'a str, worker: &'a str) -> ClaimRequest<'a> {
    ClaimRequest {
        queue,
        limit: 10,
        worker_id: worker,
        lease: Duration::from_secs(30),
        now: Utc::now(),
    }
}

/// Two backends on one prefix: as two hosts sharing a deployment.
async fn two_hosts(url: &str) -> (RedisBackend, RedisBackend) {
    let config = test_config(url);
    let mut second = config.clone();
    second.delete_keys_on_drop = false;
    let first = RedisBackend::connect_with(config).await.expect("connect");
    let second = RedisBackend::connect_with(second).await.expect("connect");
    (first, second)
}

/// An enqueue on one host wakes an idle worker on another at once.
async fn enqueue_wakes_other_hosts(target: Target) {
    let url = target.url.clone();
    let (worker_host, client_host) = two_hosts(&url).await;
    let signal = worker_host.work_signal().expect("redis has a work signal");
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let task = record("t", "q", 5, Utc::now());
    client_host
        .enqueue(vec![task.clone()])
        .await
        .expect("enqueue");
    tokio::time::timeout(Duration::from_secs(2), woken)
        .await
        .expect("the worker's host was woken by the enqueue");
    let claimed = worker_host
        .claim(claim_request("q", "w"))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);

    // A task due later wakes nobody before it is due.
    let later = record("t", "q", 5, Utc::now() + chrono::Duration::seconds(60));
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    client_host.enqueue(vec![later]).await.expect("enqueue");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), woken)
            .await
            .is_err(),
        "a task not due yet woke the worker"
    );
}

/// A delayed task wakes an idle worker's host when it comes due, whether
/// the host learnt its due time from the enqueue's announcement or from
/// its own claim (a task enqueued before the host connected).
async fn delayed_task_wakes_worker_when_due(target: Target) {
    let url = target.url.clone();
    let delay = chrono::Duration::milliseconds(300);

    // Enqueued before the worker's host connects: its claim learns when.
    let config = test_config(&url);
    let mut worker_config = config.clone();
    worker_config.delete_keys_on_drop = false;
    let client_host = RedisBackend::connect_with(config).await.expect("connect");
    let early = record("t", "q", 5, Utc::now() + delay);
    client_host.enqueue(vec![early]).await.expect("enqueue");
    let worker_host = RedisBackend::connect_with(worker_config)
        .await
        .expect("connect");
    let signal = worker_host.work_signal().expect("redis has a work signal");
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let claimed = worker_host
        .claim(claim_request("q", "w"))
        .await
        .expect("claim");
    assert!(claimed.is_empty(), "claimed before it was due");
    tokio::time::timeout(Duration::from_secs(2), woken)
        .await
        .expect("the claim's due time woke the host");
    assert_eq!(
        worker_host
            .claim(claim_request("q", "w"))
            .await
            .expect("claim")
            .len(),
        1
    );

    // Enqueued while the host waits: the enqueue announces when.
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let due = Utc::now() + delay;
    client_host
        .enqueue(vec![record("t", "q", 5, due)])
        .await
        .expect("enqueue");
    tokio::time::timeout(Duration::from_secs(2), woken)
        .await
        .expect("the announced due time woke the host");
    assert!(Utc::now() >= due, "woken before the task was due");
    assert_eq!(
        worker_host
            .claim(claim_request("q", "w"))
            .await
            .expect("claim")
            .len(),
        1
    );
}

/// A cancel made on one host reaches the running attempt's worker on
/// another through its next heartbeat.
async fn cancel_reaches_worker_on_other_host(target: Target) {
    let url = target.url.clone();
    let (worker_host, client_host) = two_hosts(&url).await;
    let task = record("t", "q", 5, Utc::now());
    client_host
        .enqueue(vec![task.clone()])
        .await
        .expect("enqueue");
    worker_host
        .claim(claim_request("q", "w"))
        .await
        .expect("claim");
    let requested = client_host
        .cancel(task.id, Utc::now())
        .await
        .expect("cancel");
    assert!(requested.cancel_requested);
    let statuses = worker_host
        .heartbeat(
            "w",
            &[(task.id, 1)],
            Utc::now() + chrono::Duration::seconds(30),
        )
        .await
        .expect("heartbeat");
    assert_eq!(statuses, vec![taskq_core::LeaseStatus::CancelRequested]);
}

/// Enqueues two tasks of type `t` in queue `q` and finishes the first:
/// returns (finished, still pending).
async fn finish_one_of_two(backend: &RedisBackend) -> (TaskRecord, TaskRecord) {
    let done = record("t", "q", 5, Utc::now());
    let waiting = record("t", "q", 5, Utc::now());
    backend
        .enqueue(vec![done.clone(), waiting.clone()])
        .await
        .expect("enqueue");
    let claimed = backend
        .claim(ClaimRequest {
            limit: 1,
            ..claim_request("q", "w")
        })
        .await
        .expect("claim");
    assert_eq!(claimed[0].id, done.id);
    let settled = Settlement {
        id: done.id,
        attempt: 1,
        outcome: Outcome::Finished(json!("ok")),
        at: Utc::now(),
    };
    let applied = backend.settle(vec![settled]).await.expect("settle");
    assert_eq!(applied, vec![true]);
    (done, waiting)
}

/// Finished records expire after the retention; purge then drops what is
/// left of them (their index entries).
async fn retention_expires_finished_records(target: Target) {
    let url = target.url.clone();
    let mut config = test_config(&url);
    config.retention = Some(Duration::from_secs(1));
    let prefix = config.prefix.clone();
    let backend = RedisBackend::connect_with(config).await.expect("connect");
    let (done, waiting) = finish_one_of_two(&backend).await;
    assert!(backend.get(done.id).await.expect("get").is_some());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        backend.get(done.id).await.expect("get").is_none(),
        "the finished record outlived its retention"
    );
    assert!(
        backend.get(waiting.id).await.expect("get").is_some(),
        "a pending record expired"
    );
    let purged = backend
        .purge(&taskq::TaskState::TERMINAL, Utc::now())
        .await
        .expect("purge");
    assert_eq!(purged, 0, "the record had already expired");
    let listed = backend
        .list(&Default::default(), Default::default())
        .await
        .expect("list");
    assert_eq!(listed.total, 1, "the index no longer counts it");
    // The list indexes lost it too: by state, by type, by both.
    for (state, task_type) in [
        (Some(taskq::TaskState::Finished), None),
        (None, Some("t")),
        (Some(taskq::TaskState::Finished), Some("t")),
    ] {
        let filter = taskq::TaskFilter {
            state,
            task_type: task_type.map(str::to_owned),
            ..Default::default()
        };
        let listed = backend
            .list(&filter, Default::default())
            .await
            .expect("list");
        let expected = if state.is_some() { 0 } else { 1 };
        assert_eq!(listed.total, expected, "{filter:?}");
    }
    let finished_indexes = keys_matching(&target, &format!("*{prefix}*FINISHED*")).await;
    assert!(
        finished_indexes.is_empty(),
        "index keys left: {finished_indexes:?}"
    );
    let task_keys = keys_matching(&target, &format!("*{}*", done.id)).await;
    assert!(
        task_keys.is_empty(),
        "keys left for the task: {task_keys:?}"
    );
}

/// By default a finished record gets no TTL: the pruner's purge deletes
/// it, with its done-set, list-index and id-index entries, in one pass.
async fn pruner_deletes_finished_records_by_default(target: Target) {
    let config = test_config(&target.url);
    assert_eq!(
        config.retention, None,
        "the default leaves expiry to the pruner"
    );
    let prefix = config.prefix.clone();
    let backend = RedisBackend::connect_with(config).await.expect("connect");
    let (done, waiting) = finish_one_of_two(&backend).await;
    let task_keys = keys_matching(&target, &format!("*{}*", done.id)).await;
    assert_eq!(
        task_keys.len(),
        2,
        "the record and its id index: {task_keys:?}"
    );
    for (url, keys) in target.nodes.iter().zip(keys_per_node(&target, "*").await) {
        let node = Builder::from_config(Config::from_url(url).expect("url"))
            .build()
            .expect("client");
        node.init().await.expect("connect");
        for key in keys.iter().filter(|k| task_keys.contains(k)) {
            let ttl: i64 = node.ttl(key.as_str()).await.expect("ttl");
            assert_eq!(ttl, -1, "{key} got a TTL");
        }
        let _ = node.quit().await;
    }

    let purged = backend
        .purge(
            &taskq::TaskState::TERMINAL,
            Utc::now() + chrono::Duration::seconds(1),
        )
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    assert!(backend.get(done.id).await.expect("get").is_none());
    assert!(backend.get(waiting.id).await.expect("get").is_some());
    for (state, expected) in [(None, 1), (Some(taskq::TaskState::Finished), 0)] {
        let filter = taskq::TaskFilter {
            state,
            task_type: Some("t".into()),
            ..Default::default()
        };
        let listed = backend
            .list(&filter, Default::default())
            .await
            .expect("list");
        assert_eq!(listed.total, expected, "{filter:?}");
    }
    let left = keys_matching(&target, &format!("*{prefix}*FINISHED*")).await;
    assert!(left.is_empty(), "index keys left: {left:?}");
    let left = keys_matching(&target, &format!("*{}*", done.id)).await;
    assert!(left.is_empty(), "keys left for the task: {left:?}");
}

/// A handle that did not claim a task settles it too: the settle script
/// reads the type and creation time the handle lacks, and the fence
/// refuses a stale attempt from either handle.
async fn settle_from_another_handle_reads_what_it_lacks(target: Target) {
    let (claimer, other) = two_hosts(&target.url).await;
    let first = record("t", "q", 5, Utc::now());
    let second = record("t", "q", 5, Utc::now());
    claimer
        .enqueue(vec![first.clone(), second.clone()])
        .await
        .expect("enqueue");
    let claimed = claimer
        .claim(ClaimRequest {
            limit: 2,
            ..claim_request("q", "w")
        })
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let settle = |id, attempt, outcome| Settlement {
        id,
        attempt,
        outcome,
        at: Utc::now(),
    };
    let failed = || {
        Outcome::Failed(taskq::TaskFailure {
            kind: taskq::ErrorKind::Permanent,
            message: "no".into(),
        })
    };
    let applied = other
        .settle(vec![
            settle(first.id, 1, Outcome::Finished(json!(1))),
            settle(second.id, 2, Outcome::Finished(json!(2))),
        ])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true, false], "attempt 2 never ran");
    let applied = other
        .settle(vec![settle(second.id, 1, failed())])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true]);
    // The claimer still remembers both; its late settlements are stale.
    let applied = claimer
        .settle(vec![
            settle(first.id, 1, Outcome::Finished(json!(3))),
            settle(second.id, 1, Outcome::Finished(json!(4))),
        ])
        .await
        .expect("settle");
    assert_eq!(applied, vec![false, false]);

    let done = claimer.get(first.id).await.expect("get").expect("record");
    assert_eq!(
        (done.state, done.result, done.lease_until),
        (taskq::TaskState::Finished, Some(json!(1)), None)
    );
    for (state, expected) in [
        (taskq::TaskState::Finished, 1),
        (taskq::TaskState::Failed, 1),
        (taskq::TaskState::Running, 0),
        (taskq::TaskState::Pending, 0),
    ] {
        let filter = taskq::TaskFilter {
            state: Some(state),
            task_type: Some("t".into()),
            ..Default::default()
        };
        let listed = other.list(&filter, Default::default()).await.expect("list");
        assert_eq!(listed.total, expected, "{state:?}");
    }
}

/// A running-set member that is a bare id (as versions before attempts
/// were part of members wrote it) is rescued like any expired lease.
async fn rescue_takes_bare_id_running_members(target: Target) {
    let config = test_config(&target.url);
    let prefix = config.prefix.clone();
    let backend = RedisBackend::connect_with(config).await.expect("connect");
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let claimed = backend.claim(claim_request("q", "w")).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let running = backend.get(task.id).await.expect("get").expect("record");
    assert!(
        running.lease_until.is_some(),
        "a running task has its lease"
    );

    // Rewrite its member the old way, with a lease long expired.
    let pattern = format!("*{prefix}*:running");
    let mut rewritten = 0;
    for (url, keys) in target
        .nodes
        .iter()
        .zip(keys_per_node(&target, &pattern).await)
    {
        let node = Builder::from_config(Config::from_url(url).expect("url"))
            .build()
            .expect("client");
        node.init().await.expect("connect");
        for key in keys {
            let removed: i64 = node
                .zrem(key.as_str(), format!("{}:1", task.id))
                .await
                .expect("zrem");
            assert_eq!(removed, 1, "the member is `<id>:<attempt>`");
            let _: i64 = node
                .zadd(
                    key.as_str(),
                    None,
                    None,
                    false,
                    false,
                    (1.0, task.id.to_string()),
                )
                .await
                .expect("zadd");
            rewritten += 1;
        }
        let _: () = node.quit().await.expect("quit");
    }
    assert_eq!(rewritten, 1);

    let report = backend
        .rescue_expired(Utc::now(), &taskq_core::lifecycle::RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1);
    let requeued = backend.get(task.id).await.expect("get").expect("record");
    assert_eq!(
        (requeued.state, requeued.lease_until),
        (taskq::TaskState::Pending, None)
    );
    let again = backend.claim(claim_request("q", "w")).await.expect("claim");
    assert_eq!(again.iter().map(|t| t.attempt).collect::<Vec<_>>(), vec![2]);
}

/// Stats separate due, scheduled and running work, and see pauses.
async fn queue_stats_count_each_kind(target: Target) {
    let url = target.url.clone();
    let backend = fresh(&url).await;
    let now = Utc::now();
    let tasks = vec![
        record("t", "q", 5, now),
        record("t", "q", 5, now),
        record("t", "q", 5, now),
        record("t", "q", 5, now + chrono::Duration::seconds(60)),
    ];
    backend.enqueue(tasks).await.expect("enqueue");
    backend
        .claim(ClaimRequest {
            limit: 1,
            ..claim_request("q", "w")
        })
        .await
        .expect("claim");
    backend.set_queue_paused("idle", true).await.expect("pause");
    let stats = backend.queue_stats().await.expect("stats");
    let q = stats.iter().find(|s| s.queue == "q").expect("q listed");
    assert_eq!(
        (q.pending, q.scheduled, q.running, q.paused),
        (2, 1, 1, false)
    );
    let idle = stats
        .iter()
        .find(|s| s.queue == "idle")
        .expect("idle listed");
    assert!(idle.paused);
}

/// `delete_keys_on_drop` leaves nothing behind; a bad URL is a typed error.
async fn keys_are_deleted_on_drop(target: Target) {
    let url = target.url.clone();
    let config = test_config(&url);
    let pattern = format!("*{}*", config.prefix);
    let backend = RedisBackend::connect_with(config).await.expect("connect");
    backend
        .enqueue(vec![record("t", "q", 5, Utc::now())])
        .await
        .expect("enqueue");
    assert!(!keys_matching(&target, &pattern).await.is_empty());
    drop(backend);
    assert!(keys_matching(&target, &pattern).await.is_empty());

    assert!(matches!(
        RedisBackend::connect("not a url").await,
        Err(taskq::Error::InvalidArgument(_))
    ));
}

/// Keys matching a pattern on every node of `target`, each read with a
/// connection of its own (`SCAN` sees one node's keys).
async fn keys_matching(target: &Target, pattern: &str) -> Vec<String> {
    keys_per_node(target, pattern).await.concat()
}

/// Keys matching a pattern, node by node.
async fn keys_per_node(target: &Target, pattern: &str) -> Vec<Vec<String>> {
    let mut nodes = Vec::new();
    for url in &target.nodes {
        let client = Builder::from_config(Config::from_url(url).expect("url"))
            .build()
            .expect("client");
        client.init().await.expect("connect");
        let mut cursor = "0".to_owned();
        let mut found = Vec::new();
        loop {
            let (next, keys): (String, Vec<String>) = client
                .scan_page(cursor, pattern.to_owned(), Some(1000), None)
                .await
                .expect("scan");
            found.extend(keys);
            if next == "0" {
                break;
            }
            cursor = next;
        }
        let _ = client.quit().await;
        nodes.push(found);
    }
    nodes
}

/// An id that exists in one queue cannot be enqueued again in another;
/// the failed batch leaves nothing behind.
async fn duplicate_id_across_queues_changes_nothing(target: Target) {
    let url = target.url.clone();
    let backend = fresh(&url).await;
    let first = record("t", "a", 5, Utc::now());
    backend.enqueue(vec![first.clone()]).await.expect("enqueue");
    let mut copy = first.clone();
    copy.queue = "b".into();
    let fresh_task = record("t", "b", 5, Utc::now());
    assert!(matches!(
        backend.enqueue(vec![fresh_task.clone(), copy]).await,
        Err(taskq::Error::InvalidArgument(_))
    ));
    assert_eq!(
        backend.get(first.id).await.expect("get").map(|r| r.queue),
        Some("a".to_owned())
    );
    assert!(backend.get(fresh_task.id).await.expect("get").is_none());
    assert!(
        backend
            .claim(claim_request("b", "w"))
            .await
            .expect("claim")
            .is_empty()
    );
    // The fresh task's id was not used up by the failed batch.
    backend
        .enqueue(vec![fresh_task.clone()])
        .await
        .expect("enqueue again");
}

/// Two clients on one prefix (as two hosts), the first running a worker
/// that neither polls nor renews leases within a test's time: whatever
/// reaches it in time came by a signal.
async fn worker_host_pair(
    url: &str,
) -> (
    taskq::Client,
    taskq::Client,
    taskq::ShutdownHandle,
    tokio::task::JoinHandle<()>,
) {
    let (worker_host, client_host) = two_hosts(url).await;
    let worker_client = taskq::Client::new(Arc::new(worker_host)).expect("client");
    let client = taskq::Client::new(Arc::new(client_host)).expect("client");
    let worker = taskq::Worker::builder(&worker_client)
        .queue("default", 4)
        .poll_interval(Duration::from_secs(60))
        .heartbeat_interval(Duration::from_secs(60))
        .lease(Duration::from_secs(300))
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(async move { worker.run().await.expect("worker") });
    // Let it go idle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (worker_client, client, shutdown, running)
}

/// A task with a short countdown starts when due, not at the next poll.
async fn countdown_task_starts_when_due(target: Target) {
    let url = target.url.clone();
    let (_worker, client, shutdown, running) = worker_host_pair(&url).await;
    let key = unique_prefix();
    let submitted = Instant::now();
    client
        .submit(marks_start, key.clone())
        .countdown(Duration::from_millis(100))
        .await
        .expect("submit");
    let started = wait_mark(&key, Duration::from_secs(1))
        .await
        .duration_since(submitted);
    assert!(
        started >= Duration::from_millis(100),
        "started early: {started:?}"
    );
    assert!(
        started < Duration::from_millis(400),
        "started late: {started:?}"
    );
    shutdown.shutdown();
    running.await.expect("join");
}

/// A cancel requested on one host stops the task running on another at
/// once (pub/sub), not at the worker's next heartbeat.
async fn cancel_stops_running_task_on_other_host_promptly(target: Target) {
    let url = target.url.clone();
    let (worker, client, shutdown, running) = worker_host_pair(&url).await;
    let key = unique_prefix();
    let (id, stopped) = time_cancel_of_running(&client, &key, Duration::from_secs(1)).await;
    assert!(
        stopped < Duration::from_secs(1),
        "the cancel took {stopped:?}"
    );
    for _ in 0..200 {
        if worker.get(id).await.expect("get").state == taskq::TaskState::Cancelled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        worker.get(id).await.expect("get").state,
        taskq::TaskState::Cancelled
    );
    shutdown.shutdown();
    running.await.expect("join");
}

/// A cluster client of the test's own, to see where keys live.
async fn cluster_client(target: &Target) -> Client {
    let client = Builder::from_config(Config::from_url(&target.url).expect("cluster url"))
        .build()
        .expect("client");
    client.init().await.expect("connect to the cluster");
    client
}

/// `per_node` queue names for each primary, whose keys (hash tag
/// `{<prefix>:<queue>}`) hash to a slot that primary serves: so the test
/// spans every node whatever the slot map.
fn queues_on_every_node(client: &Client, prefix: &str, per_node: usize) -> Vec<String> {
    let routing = client.cached_cluster_state().expect("slot map");
    let primaries = routing.unique_primary_nodes();
    assert_eq!(primaries.len(), 3, "three masters: {primaries:?}");
    let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in 0.. {
        let queue = format!("q{n}");
        let slot = fred::util::redis_keyslot(format!("{{{prefix}:{queue}}}").as_bytes());
        let node = routing.get_server(slot).expect("slot served").to_string();
        let names = by_node.entry(node).or_default();
        if names.len() < per_node {
            names.push(queue);
        }
        if by_node.len() == primaries.len() && by_node.values().all(|q| q.len() == per_node) {
            break;
        }
    }
    by_node.into_values().flatten().collect()
}

fn claim_up_to<'a>(queue: &'a str, limit: usize) -> ClaimRequest<'a> {
    ClaimRequest {
        queue,
        limit,
        worker_id: "w",
        lease: Duration::from_secs(30),
        now: Utc::now(),
    }
}

/// Queues on every node, driven by calls that each span all of them: one
/// enqueue batch, one heartbeat, one settle batch, lists and stats over
/// every queue, a purge; then `delete_all_keys` empties every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    taskq_no_redis_cluster,
    ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
)]
async fn redis_cluster_calls_span_queues_on_every_node() {
    let target = Target::cluster();
    let config = test_config(&target.url);
    let backend = RedisBackend::connect_with(config.clone())
        .await
        .expect("connect");
    let client = cluster_client(&target).await;
    let queues = queues_on_every_node(&client, &config.prefix, 2);
    let _ = client.quit().await;

    // One batch over six queues: two due tasks and one delayed each.
    let now = Utc::now();
    let mut tasks = Vec::new();
    for queue in &queues {
        tasks.push(record("t", queue, 5, now));
        tasks.push(record("t", queue, 5, now));
        tasks.push(record("t", queue, 5, now + chrono::Duration::seconds(60)));
    }
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let nodes = keys_per_node(&target, &format!("*{}*", config.prefix)).await;
    assert!(
        nodes.iter().all(|keys| !keys.is_empty()),
        "every node holds some of the queues' keys: {nodes:?}"
    );

    let mut claimed = Vec::new();
    for queue in &queues {
        let got = backend.claim(claim_up_to(queue, 10)).await.expect("claim");
        assert_eq!(got.len(), 2, "the due tasks of `{queue}`");
        claimed.extend(got);
    }
    let held: Vec<_> = claimed.iter().map(|r| (r.id, r.attempt)).collect();
    let statuses = backend
        .heartbeat("w", &held, Utc::now() + chrono::Duration::seconds(30))
        .await
        .expect("heartbeat");
    assert!(
        statuses.iter().all(|s| *s == taskq_core::LeaseStatus::Held),
        "{statuses:?}"
    );

    // Settle everything at once: half finish, half come back as retries.
    let settlements = claimed
        .iter()
        .enumerate()
        .map(|(i, r)| Settlement {
            id: r.id,
            attempt: r.attempt,
            outcome: if i % 2 == 0 {
                Outcome::Finished(json!(i))
            } else {
                Outcome::Retry {
                    error: taskq::TaskFailure {
                        kind: taskq::ErrorKind::Retryable,
                        message: "again".into(),
                    },
                    run_at: Utc::now(),
                }
            },
            at: Utc::now(),
        })
        .collect();
    let applied = backend.settle(settlements).await.expect("settle");
    assert!(applied.iter().all(|a| *a), "{applied:?}");

    let listed = backend
        .list(&Default::default(), taskq::PageRequest::new(1, 100))
        .await
        .expect("list");
    assert_eq!(listed.total, tasks.len() as u64);
    let listed_ids: BTreeSet<_> = listed.items.iter().map(|r| r.id).collect();
    let enqueued_ids: BTreeSet<_> = tasks.iter().map(|r| r.id).collect();
    assert_eq!(listed_ids, enqueued_ids);
    let finished = backend
        .list(
            &taskq::TaskFilter {
                state: Some(taskq::TaskState::Finished),
                ..Default::default()
            },
            taskq::PageRequest::new(1, 100),
        )
        .await
        .expect("list finished");
    assert_eq!(finished.total, queues.len() as u64);

    let stats = backend.queue_stats().await.expect("stats");
    let stat_queues: BTreeSet<_> = stats.iter().map(|s| s.queue.clone()).collect();
    assert_eq!(stat_queues, queues.iter().cloned().collect());
    for s in &stats {
        assert_eq!((s.pending, s.scheduled, s.running), (1, 1, 0), "{s:?}");
    }

    let purged = backend
        .purge(&taskq::TaskState::TERMINAL, Utc::now())
        .await
        .expect("purge");
    assert_eq!(purged, queues.len() as u64);
    for task in claimed.iter().step_by(2) {
        assert!(backend.get(task.id).await.expect("get").is_none());
    }

    let deleted = backend.delete_all_keys().await.expect("delete all keys");
    assert!(deleted > 0);
    let left = keys_per_node(&target, &format!("*{}*", config.prefix)).await;
    assert!(
        left.iter().all(Vec::is_empty),
        "keys left on the nodes: {left:?}"
    );
}

/// Waits for `signal` while `act` runs; panics after two seconds.
async fn expect_signal<F: std::future::Future>(
    signal: &tokio::sync::Notify,
    what: &str,
    act: F,
) -> F::Output {
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let output = act.await;
    tokio::time::timeout(Duration::from_secs(2), woken)
        .await
        .unwrap_or_else(|_| panic!("{what} did not reach the other process"));
    output
}

/// Announcements made on any node reach a process whose subscriber
/// connection sits on one node: work on queues of every node, a delayed
/// task's due time, a running task's cancel, a schedule write and a
/// worker control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    taskq_no_redis_cluster,
    ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
)]
async fn redis_cluster_announcements_reach_other_nodes() {
    let target = Target::cluster();
    let (listener, speaker) = two_hosts(&target.url).await;
    let client = cluster_client(&target).await;
    let queues = queues_on_every_node(&client, &listener.config().prefix, 1);
    let _ = client.quit().await;

    let work = listener.work_signal().expect("work signal");
    let cancel = listener.cancel_signal().expect("cancel signal");
    for queue in &queues {
        let task = record("t", queue, 5, Utc::now());
        expect_signal(&work, &format!("work on `{queue}`"), async {
            speaker.enqueue(vec![task.clone()]).await.expect("enqueue")
        })
        .await;
        // A delayed task's due time is announced, then wakes at due.
        let delay = chrono::Duration::milliseconds(300);
        expect_signal(&work, &format!("delayed work on `{queue}`"), async {
            speaker
                .enqueue(vec![record("t", queue, 5, Utc::now() + delay)])
                .await
                .expect("enqueue delayed")
        })
        .await;
        speaker.claim(claim_up_to(queue, 1)).await.expect("claim");
        let requested = expect_signal(&cancel, &format!("a cancel on `{queue}`"), async {
            speaker.cancel(task.id, Utc::now()).await.expect("cancel")
        })
        .await;
        assert!(requested.cancel_requested);
    }

    let schedules = listener.schedule_signal().expect("schedule signal");
    let schedule = taskq::Schedule::new(
        taskq::ScheduleDef::interval("every-minute", "t", Duration::from_secs(60)),
        Utc::now(),
    )
    .expect("schedule");
    expect_signal(&schedules, "a schedule write", async {
        speaker
            .create_schedule(schedule)
            .await
            .expect("create schedule")
    })
    .await;

    let controls = listener.control_signal().expect("control signal");
    listener
        .register_worker(&worker_info("w-1", chrono::Duration::seconds(30)))
        .await
        .expect("register");
    expect_signal(&controls, "a worker control", async {
        speaker
            .control_worker("w-1", WorkerControl::Pause, Utc::now())
            .await
            .expect("control")
    })
    .await;
}

/// A backend on a cluster whose prefix would leave the hash tag empty
/// (`{}` hashes the whole key) is refused: its queues' keys would scatter
/// over slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    taskq_no_redis_cluster,
    ignore = "TASKQ_TEST_REDIS_CLUSTER=1 is not set"
)]
async fn redis_cluster_prefix_keeps_the_hash_tag() {
    let target = Target::cluster();
    let mut config = test_config(&target.url);
    config.prefix = format!("}}{}", config.prefix);
    assert!(matches!(
        RedisBackend::connect_with(config).await,
        Err(taskq::Error::InvalidArgument(_))
    ));
}
