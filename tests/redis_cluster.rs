//! The Redis backend on Redis Cluster: the shared conformance suite, then
//! what only a cluster shows — queues spread over the nodes while batches,
//! lists, stats, purges and key deletion span them, and announcements
//! (work, delayed work, cancels, schedule writes) that reach a process
//! subscribed on another node.
//!
//! The tests start one private three-master cluster for the binary
//! (`redis-server` and `redis-cli` on the `PATH`, about two seconds) and
//! keep apart by key prefix. Without those tools they print that they
//! skipped — unless `TASKQ_TEST_REDIS_CLUSTER=1` (set by `.ci/run`) demands
//! the cluster, then they fail.
#![cfg(feature = "redis")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use fred::prelude::*;
use serde_json::json;
use taskq::{Broker, RedisBackend, RedisConfig, ScheduleStore, Store, WorkerRegistry};
use taskq_core::backend::{ClaimRequest, Outcome, Settlement};
use taskq_core::conformance::{record, worker_info};

use common::PrivateRedisCluster;

taskq_core::conformance_suite!(redis_cluster, || common::redis_cluster("taskq-cluster"));

/// A fresh prefix on the shared cluster; `None` when it is skipped.
fn cluster_config() -> Option<(&'static PrivateRedisCluster, RedisConfig)> {
    let cluster = PrivateRedisCluster::shared()?;
    let mut config = RedisConfig::new(cluster.url());
    config.prefix = common::unique("taskq-cluster");
    config.delete_keys_on_drop = true;
    Some((cluster, config))
}

async fn connect(config: &RedisConfig) -> RedisBackend {
    RedisBackend::connect_with(config.clone())
        .await
        .expect("connect to the cluster")
}

/// A cluster client of the test's own, to see where keys live.
async fn cluster_client(cluster: &PrivateRedisCluster) -> Client {
    let client = Builder::from_config(Config::from_url(&cluster.url()).expect("cluster url"))
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

/// The keys under `prefix` each node holds, read node by node.
async fn keys_per_node(cluster: &PrivateRedisCluster, prefix: &str) -> Vec<Vec<String>> {
    let mut nodes = Vec::new();
    for url in cluster.node_urls() {
        let client = Builder::from_config(Config::from_url(&url).expect("node url"))
            .build()
            .expect("client");
        client.init().await.expect("connect to a node");
        let mut found = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            let (next, keys): (String, Vec<String>) = client
                .scan_page(cursor, format!("*{prefix}*"), Some(1000), None)
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

fn claim_request<'a>(queue: &'a str, limit: usize) -> ClaimRequest<'a> {
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
async fn redis_cluster_calls_span_queues_on_every_node() {
    let Some((cluster, config)) = cluster_config() else {
        return;
    };
    let backend = connect(&config).await;
    let client = cluster_client(cluster).await;
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
    let nodes = keys_per_node(cluster, &config.prefix).await;
    assert!(
        nodes.iter().all(|keys| !keys.is_empty()),
        "every node holds some of the queues' keys: {nodes:?}"
    );

    let mut claimed = Vec::new();
    for queue in &queues {
        let got = backend
            .claim(claim_request(queue, 10))
            .await
            .expect("claim");
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
    let left = keys_per_node(cluster, &config.prefix).await;
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
async fn redis_cluster_announcements_reach_other_nodes() {
    let Some((cluster, config)) = cluster_config() else {
        return;
    };
    let listener = connect(&config).await;
    let mut second = config.clone();
    second.delete_keys_on_drop = false;
    let speaker = connect(&second).await;
    let client = cluster_client(cluster).await;
    let queues = queues_on_every_node(&client, &config.prefix, 1);
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
        speaker.claim(claim_request(queue, 1)).await.expect("claim");
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
            .control_worker("w-1", taskq::WorkerControl::Pause, Utc::now())
            .await
            .expect("control")
    })
    .await;
}

/// A backend on a cluster whose prefix would leave the hash tag empty
/// (`{}` hashes the whole key) is refused: its queues' keys would scatter
/// over slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_prefix_keeps_the_hash_tag() {
    let Some((_, mut config)) = cluster_config() else {
        return;
    };
    config.prefix = format!("}}{}", config.prefix);
    assert!(matches!(
        RedisBackend::connect_with(config).await,
        Err(taskq::Error::InvalidArgument(_))
    ));
}
