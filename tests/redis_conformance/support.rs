//! Targets (one server or the private cluster), fresh backends and the helpers the Redis tests share.

use super::*;

/// Where a test's Redis is: the URL backends connect to, and each node's
/// own URL (to read which keys it holds).
pub(super) struct Target {
    pub(super) url: String,
    pub(super) nodes: Vec<String>,
}

impl Target {
    /// The test server of `TASKQ_TEST_REDIS_URL` (panics when unset).
    pub(super) fn single() -> Target {
        let url = common::redis_url();
        Target {
            nodes: vec![url.clone()],
            url,
        }
    }

    /// This binary's private cluster (see [`PrivateRedisCluster::shared`]).
    pub(super) fn cluster() -> Target {
        let cluster = PrivateRedisCluster::shared();
        Target {
            url: cluster.url(),
            nodes: cluster.node_urls(),
        }
    }
}

/// A prefix no other test (or run) uses.
pub(super) fn unique_prefix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "taskq-test-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub(super) fn test_config(url: &str) -> RedisConfig {
    let mut config = RedisConfig::new(url);
    config.prefix = unique_prefix();
    config.delete_keys_on_drop = true;
    config
}

pub(super) async fn fresh(url: &str) -> RedisBackend {
    RedisBackend::connect_with(test_config(url))
        .await
        .unwrap_or_else(|err| panic!("no Redis server answers at {url}: {err}"))
}

pub(super) fn claim_request<'a>(queue: &'a str, worker: &'a str) -> ClaimRequest<'a> {
    ClaimRequest {
        queue,
        limit: 10,
        worker_id: worker,
        lease: Duration::from_secs(30),
        now: Utc::now(),
        task_types: None,
    }
}

/// Two backends on one prefix: as two hosts sharing a deployment.
pub(super) async fn two_hosts(url: &str) -> (RedisBackend, RedisBackend) {
    let config = test_config(url);
    let mut second = config.clone();
    second.delete_keys_on_drop = false;
    let first = RedisBackend::connect_with(config).await.expect("connect");
    let second = RedisBackend::connect_with(second).await.expect("connect");
    (first, second)
}

/// Enqueues two tasks of type `t` in queue `q` and finishes the first:
/// returns (finished, still pending).
pub(super) async fn finish_one_of_two(backend: &RedisBackend) -> (TaskRecord, TaskRecord) {
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

/// Keys matching a pattern on every node of `target`, each read with a
/// connection of its own (`SCAN` sees one node's keys).
pub(super) async fn keys_matching(target: &Target, pattern: &str) -> Vec<String> {
    keys_per_node(target, pattern).await.concat()
}

/// Keys matching a pattern, node by node.
pub(super) async fn keys_per_node(target: &Target, pattern: &str) -> Vec<Vec<String>> {
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

/// Two clients on one prefix (as two hosts), the first running a worker
/// that neither polls nor renews leases within a test's time: whatever
/// reaches it in time came by a signal.
pub(super) async fn worker_host_pair(
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

/// A cluster client of the test's own, to see where keys live.
pub(super) async fn cluster_client(target: &Target) -> Client {
    let client = Builder::from_config(Config::from_url(&target.url).expect("cluster url"))
        .build()
        .expect("client");
    client.init().await.expect("connect to the cluster");
    client
}

/// `per_node` queue names for each primary, whose keys (hash tag
/// `{<prefix>:<queue>}`) hash to a slot that primary serves: so the test
/// spans every node whatever the slot map.
pub(super) fn queues_on_every_node(client: &Client, prefix: &str, per_node: usize) -> Vec<String> {
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

pub(super) fn claim_up_to<'a>(queue: &'a str, limit: usize) -> ClaimRequest<'a> {
    ClaimRequest {
        queue,
        limit,
        worker_id: "w",
        lease: Duration::from_secs(30),
        now: Utc::now(),
        task_types: None,
    }
}

/// Waits for `signal` while `act` runs; panics after two seconds.
pub(super) async fn expect_signal<F: std::future::Future>(
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
