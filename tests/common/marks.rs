//! Tasks that note when they started or saw their cancel, by key, for
//! tests that time wake-ups and cancels across backend handles.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use taskq::prelude::*;

/// When each marked task started or saw its cancel, by key.
static MARKS: LazyLock<Mutex<HashMap<String, Instant>>> = LazyLock::new(Default::default);

pub fn mark(key: String) {
    MARKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, Instant::now());
}

pub fn marked(key: &str) -> Option<Instant> {
    MARKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(key)
        .copied()
}

/// When `key` was marked; fails after `within`.
pub async fn wait_mark(key: &str, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        if let Some(at) = marked(key) {
            return at;
        }
        assert!(
            Instant::now() < deadline,
            "`{key}` did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Notes when it started (key `key`).
#[long_task(retries = 0)]
pub async fn marks_start(key: String) -> Result<(), TaskError> {
    mark(key);
    Ok(())
}

/// Notes when it started (`<key> started`), then waits for its cancel
/// and notes that (`<key> cancelled`).
#[long_task(retries = 0)]
pub async fn waits_for_cancel(ctx: TaskContext, key: String) -> Result<(), TaskError> {
    mark(format!("{key} started"));
    tokio::select! {
        _ = ctx.cancelled() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => {}
    }
    mark(format!("{key} cancelled"));
    Err(TaskError::cancelled("stopped on request"))
}

/// Submits [`waits_for_cancel`] through `client`, waits (up to `within`)
/// for it to start, cancels it and returns how long the running task
/// took to see the cancel, with the task's id.
pub async fn time_cancel_of_running(
    client: &taskq::Client,
    key: &str,
    within: Duration,
) -> (taskq::TaskId, Duration) {
    let id = client
        .submit(waits_for_cancel, key.to_owned())
        .await
        .expect("submit");
    wait_mark(&format!("{key} started"), within).await;
    let requested = Instant::now();
    assert!(client.cancel(id).await.expect("cancel").cancel_requested);
    let stopped = wait_mark(&format!("{key} cancelled"), within)
        .await
        .duration_since(requested);
    (id, stopped)
}
