//! Handlers that block their thread (`std::thread::sleep` standing in for
//! synchronous I/O or computation without `.await`): the rest of their
//! batch runs, their timeouts are recorded while they still block, their
//! leases stay renewed, and `blocking = true` gives each its own thread.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Block {
    /// Names this test's runs in [`BLOCKS`].
    pub(super) key: String,
    pub(super) ms: u64,
}

/// Per key: handlers running now, the most seen at once, runs started,
/// and runs whose handler returned.
#[derive(Debug, Default)]
pub(super) struct Blocks {
    running: AtomicUsize,
    most: AtomicUsize,
    started: AtomicUsize,
    returned: AtomicUsize,
}

static BLOCKS: LazyLock<Mutex<HashMap<String, Arc<Blocks>>>> = LazyLock::new(Default::default);

fn blocks(key: &str) -> Arc<Blocks> {
    BLOCKS
        .lock()
        .unwrap()
        .entry(key.to_owned())
        .or_default()
        .clone()
}

fn block_thread(p: &Block) {
    let counts = blocks(&p.key);
    counts.started.fetch_add(1, Ordering::SeqCst);
    let now = counts.running.fetch_add(1, Ordering::SeqCst) + 1;
    counts.most.fetch_max(now, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(p.ms));
    counts.running.fetch_sub(1, Ordering::SeqCst);
    counts.returned.fetch_add(1, Ordering::SeqCst);
}

/// Blocks its thread without ever yielding.
#[long_task(retries = 0)]
pub(super) async fn thread_blocker(p: Block) -> Result<(), TaskError> {
    block_thread(&p);
    Ok(())
}

/// The same, declared blocking: runs on the blocking pool.
#[long_task(retries = 0, blocking = true)]
pub(super) async fn pool_blocker(p: Block) -> Result<(), TaskError> {
    block_thread(&p);
    Ok(())
}

async fn all_finished(client: &Client, ids: Vec<TaskId>) {
    for id in ids {
        let done = wait_terminal(client, id).await;
        assert_eq!(done.state, TaskState::Finished, "{done:?}");
    }
}

/// A handler runtime of `threads` threads for one test, so its blocked
/// threads hold up no other test's handlers.
fn handler_runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap()
}

/// Two handlers blocking their threads with a 300 ms timeout, on a
/// one-thread handler runtime, claimed in one batch with quick tasks:
/// those finish while both block, and the timeouts are stored while the
/// handlers still block (before they return).
pub async fn blocking_handler_times_out_on_time_beside_its_batch(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let key = unique("blocker");
    // Submitted before the worker starts, so one claim takes them all.
    let mut blockers = Vec::new();
    for _ in 0..2 {
        let p = Block {
            key: key.clone(),
            ms: 3_000,
        };
        let id = client
            .submit(thread_blocker, p)
            .timeout(Duration::from_millis(300))
            .await
            .unwrap();
        blockers.push(id);
    }
    let mut quick = Vec::new();
    for i in 0..6 {
        let text = format!("quick {i}");
        quick.push(client.submit(echo, Echo { text, times: 1 }).await.unwrap());
    }
    let handlers = handler_runtime(1);
    let stop = spawn(
        fast_worker(&client)
            .handler_runtime(handlers.handle().clone())
            .build()
            .unwrap(),
    );
    all_finished(&client, quick).await;
    let counts = blocks(&key);
    assert_eq!(
        counts.returned.load(Ordering::SeqCst),
        0,
        "the quick tasks finished while the blocker blocked"
    );
    for blocker in blockers {
        let timed_out = wait_terminal(&client, blocker).await;
        assert_eq!(
            counts.returned.load(Ordering::SeqCst),
            0,
            "the timeout was stored while the handler still blocked"
        );
        assert_eq!(timed_out.state, TaskState::Failed, "{timed_out:?}");
        assert_eq!(timed_out.error.unwrap().kind, ErrorKind::Timeout);
    }
    stop().await;
    handlers.shutdown_background();
}

/// Three handlers blocking every handler thread for several leases: the
/// worker's own loops still renew their leases, so the rescuer (running
/// every 50 ms) takes none back and each task runs once, on attempt 1.
pub async fn blocked_handler_threads_keep_their_leases(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let key = unique("lease-blocker");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let p = Block {
            key: key.clone(),
            ms: 2_000,
        };
        ids.push(client.submit(thread_blocker, p).await.unwrap());
    }
    let handlers = handler_runtime(1);
    let stop = spawn(
        Worker::builder(&client)
            .queue("default", 3)
            .poll_interval(Duration::from_millis(20))
            .heartbeat_interval(Duration::from_millis(100))
            .lease(Duration::from_millis(600))
            .shutdown_grace(Duration::from_millis(300))
            .maintenance(MaintenanceConfig {
                rescue_interval: Duration::from_millis(50),
                ..MaintenanceConfig::default()
            })
            .handler_runtime(handlers.handle().clone())
            .build()
            .unwrap(),
    );
    for id in ids {
        let done = wait_terminal(&client, id).await;
        assert_eq!(done.state, TaskState::Finished, "{done:?}");
        assert_eq!(done.attempt, 1, "never rescued: {done:?}");
    }
    assert_eq!(blocks(&key).started.load(Ordering::SeqCst), 3);
    stop().await;
    handlers.shutdown_background();
}

/// `blocking = true`: four blocking handlers on a one-thread handler
/// runtime all run at once (each on a blocking-pool thread), and one past
/// its timeout is stored as timed out while it still blocks.
pub async fn blocking_option_gives_each_handler_a_thread(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let key = unique("pool-blocker");
    let timed_key = unique("pool-blocker-timed");
    let mut ids = Vec::new();
    for _ in 0..4 {
        let p = Block {
            key: key.clone(),
            ms: 700,
        };
        ids.push(client.submit(pool_blocker, p).await.unwrap());
    }
    let timed = client
        .submit(
            pool_blocker,
            Block {
                key: timed_key.clone(),
                ms: 3_000,
            },
        )
        .timeout(Duration::from_millis(300))
        .await
        .unwrap();
    let handlers = handler_runtime(1);
    let stop = spawn(
        fast_worker(&client)
            .handler_runtime(handlers.handle().clone())
            .build()
            .unwrap(),
    );
    // `fast_worker` runs 4 at once on `default`: the timed one waits for
    // a slot, then gets its own thread too.
    all_finished(&client, ids).await;
    assert_eq!(
        blocks(&key).most.load(Ordering::SeqCst),
        4,
        "all four at once"
    );
    let timed_out = wait_terminal(&client, timed).await;
    assert_eq!(timed_out.state, TaskState::Failed, "{timed_out:?}");
    assert_eq!(timed_out.error.unwrap().kind, ErrorKind::Timeout);
    assert_eq!(
        blocks(&timed_key).returned.load(Ordering::SeqCst),
        0,
        "stored while the handler still blocked"
    );
    stop().await;
    handlers.shutdown_background();
}
