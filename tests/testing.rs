//! `taskq::testing` through the facade: calling handlers directly with a
//! detached context, the inline backend (on memory), asserting what was
//! enqueued and draining without a worker (memory, and SQLite for the
//! drain: it works through the ordinary backend calls).
//!
//! `cargo test --all-features --test testing`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use taskq::prelude::*;
use taskq::testing::{self, InlineBackend};
use taskq::{ErrorKind, MemoryBackend, StopReason, TaskFilter};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Resize {
    width: u32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Resized {
    width: u32,
    attempt: u32,
}

/// With a context: reports the attempt it ran as.
#[long_task(name = "testing.resize", queue = "images")]
async fn resize(ctx: TaskContext, p: Resize) -> Result<Resized, TaskError> {
    if p.width == 0 {
        return Err(TaskError::permanent("width 0"));
    }
    ctx.progress(0.5, "half").await?;
    Ok(Resized {
        width: p.width / 2,
        attempt: ctx.attempt(),
    })
}

/// Without a context.
#[long_task(name = "testing.add")]
async fn add(p: (u32, u32)) -> Result<u32, TaskError> {
    Ok(p.0 + p.1)
}

/// Waits until stopped, then says why.
#[long_task(name = "testing.until_stopped")]
async fn until_stopped(ctx: TaskContext, _p: ()) -> Result<(), TaskError> {
    ctx.cancelled().await;
    Err(TaskError::cancelled(format!("{:?}", ctx.stop_reason())))
}

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);

/// Fails retryably until its third attempt.
#[long_task(name = "testing.flaky", retries = 3, retry_delay = 3600)]
async fn flaky(ctx: TaskContext, _p: ()) -> Result<u32, TaskError> {
    FLAKY_RUNS.fetch_add(1, Ordering::SeqCst);
    if ctx.attempt() < 3 {
        return Err(TaskError::retryable("not yet"));
    }
    Ok(ctx.attempt())
}

/// Submits `n` more `chain` tasks, one after another.
#[long_task(name = "testing.chain")]
async fn chain(n: u32) -> Result<u32, TaskError> {
    if n > 0 {
        let client = CHAIN_CLIENT
            .get()
            .ok_or_else(|| TaskError::permanent("no client"))?;
        client.submit(chain, n - 1).await?;
    }
    Ok(n)
}

static CHAIN_CLIENT: std::sync::OnceLock<Client> = std::sync::OnceLock::new();

#[long_task(name = "testing.panics")]
async fn panics(_p: ()) -> Result<(), TaskError> {
    panic!("boom")
}

/// Sleeps `ms`, or ends early when stopped (with the reason).
#[long_task(name = "testing.sleepy")]
async fn sleepy(ctx: TaskContext, ms: u64) -> Result<String, TaskError> {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => Ok("slept".into()),
        _ = ctx.cancelled() => Ok(format!("{:?}", ctx.stop_reason())),
    }
}

fn memory_client() -> Client {
    Client::new(Arc::new(MemoryBackend::new())).expect("client")
}

#[tokio::test]
async fn testing_direct_call_with_and_without_ctx() {
    let out = resize.run_detached(Resize { width: 640 }).await;
    assert_eq!(
        out,
        Ok(Resized {
            width: 320,
            attempt: 1
        })
    );
    assert_eq!(add.run_detached((2, 3)).await, Ok(5));
    let err = resize.run_detached(Resize { width: 0 }).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.message()),
        (ErrorKind::Permanent, "width 0")
    );

    // A context of the test's own: a later attempt, on another queue.
    let ctx = TaskContext::detached(uuid::Uuid::now_v7(), resize.name())
        .with_attempt(4, 3)
        .with_queue("other");
    assert!(ctx.is_last_attempt());
    assert_eq!(ctx.queue(), "other");
    let out = resize.call(ctx, Resize { width: 10 }).await;
    assert_eq!(out.map(|r| r.attempt), Ok(4));
}

#[tokio::test]
async fn testing_detached_stop_reaches_the_handler() {
    for reason in [
        StopReason::Cancelled,
        StopReason::SoftTimeout,
        StopReason::Shutdown,
    ] {
        let ctx = TaskContext::detached(uuid::Uuid::now_v7(), until_stopped.name());
        let running = tokio::spawn(until_stopped.call(ctx.clone(), ()));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!running.is_finished());
        ctx.request_stop(reason);
        let err = tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the handler stops")
            .expect("no panic")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        assert_eq!(err.message(), format!("{:?}", Some(reason)));
    }
}

#[tokio::test]
async fn testing_inline_memory_submit_runs_and_stores() {
    let client = testing::inline_client().expect("client");
    let id = client.submit(resize, Resize { width: 100 }).await.unwrap();
    let record = client.get(id).await.unwrap();
    assert_eq!(record.state, TaskState::Finished);
    assert_eq!(record.result, Some(json!({ "width": 50, "attempt": 1 })));
    assert_eq!(record.worker_id.as_deref(), Some(testing::RUNNER_ID));
    assert_eq!(record.progress.map(|p| p.message), Some("half".to_owned()));

    // A failure does not fail the submit; the record says it.
    let id = client.submit(resize, Resize { width: 0 }).await.unwrap();
    let record = client.get(id).await.unwrap();
    assert_eq!(record.state, TaskState::Failed);
    assert_eq!(record.error.map(|e| e.message), Some("width 0".into()));

    // Params are still checked: nothing stored, nothing run.
    let bad = client
        .submit_json("testing.resize", json!({ "width": "wide" }))
        .await;
    assert!(matches!(bad, Err(taskq::Error::InvalidParams { ref path, .. }) if path == "width"));
    assert_eq!(
        testing::records(&client, &TaskFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn testing_inline_memory_retries_and_eta_run_at_once() {
    FLAKY_RUNS.store(0, Ordering::SeqCst);
    let client = testing::inline_client().expect("client");
    // An hour's backoff between attempts and an ETA a day away: neither
    // is waited for.
    let started = std::time::Instant::now();
    let id = client
        .submit(flaky, ())
        .countdown(Duration::from_secs(86_400))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let record = client.get(id).await.unwrap();
    assert_eq!(record.state, TaskState::Finished);
    assert_eq!((record.attempt, record.result), (3, Some(json!(3))));
    assert_eq!(FLAKY_RUNS.load(Ordering::SeqCst), 3);

    // One attempt only, on request.
    let id = client.submit(flaky, ()).max_retries(0).await.unwrap();
    let record = client.get(id).await.unwrap();
    assert_eq!((record.state, record.attempt), (TaskState::Failed, 1));

    // A retry of the failed task runs at once too.
    let record = client.retry(id).await.unwrap();
    assert_eq!(
        record.state,
        TaskState::Pending,
        "retry returns the requeued record"
    );
    let record = client.get(id).await.unwrap();
    assert_eq!(record.attempt, 2);
    assert_eq!(record.state, TaskState::Failed, "attempt 2 < 3 still fails");
}

#[tokio::test]
async fn testing_inline_memory_nested_submit_and_panic() {
    let client = testing::inline_client().expect("client");
    let _ = CHAIN_CLIENT.set(client.clone());
    let chain_client = CHAIN_CLIENT.get().expect("set");
    chain_client.submit(chain, 3).await.unwrap();
    let finished = testing::records(
        chain_client,
        &TaskFilter {
            state: Some(TaskState::Finished),
            task_type: Some("testing.chain".into()),
            ..TaskFilter::default()
        },
    )
    .await
    .unwrap();
    let mut results: Vec<_> = finished.into_iter().filter_map(|r| r.result).collect();
    results.sort_by_key(|v| v.as_u64());
    assert_eq!(results, vec![json!(0), json!(1), json!(2), json!(3)]);

    let id = client.submit(panics, ()).await.unwrap();
    let record = client.get(id).await.unwrap();
    let error = record.error.expect("error");
    assert_eq!(error.kind, ErrorKind::Panic);
    assert!(error.message.contains("boom"), "{}", error.message);
}

#[tokio::test]
async fn testing_inline_memory_timeouts_and_cancel() {
    let client = testing::inline_client().expect("client");
    // The soft timeout fires the token; the handler returns its reason.
    let id = client
        .submit(sleepy, 10_000)
        .soft_timeout(Duration::from_millis(50))
        .timeout(Duration::from_secs(30))
        .await
        .unwrap();
    let record = client.get(id).await.unwrap();
    assert_eq!(record.result, Some(json!("Some(SoftTimeout)")));

    // The hard timeout fails the attempt (no retries on timeouts).
    let id = client
        .submit_json("testing.until_stopped", json!(null))
        .timeout(Duration::from_millis(50))
        .await
        .unwrap();
    let record = client.get(id).await.unwrap();
    assert_eq!(record.state, TaskState::Failed);
    assert_eq!(record.error.map(|e| e.kind), Some(ErrorKind::Timeout));

    // A cancel from elsewhere in the test stops the running handler.
    let submitter = client.clone();
    let submit = tokio::spawn(async move { submitter.submit(until_stopped, ()).await });
    let running = loop {
        let running = testing::records(
            &client,
            &TaskFilter {
                state: Some(TaskState::Running),
                ..TaskFilter::default()
            },
        )
        .await
        .unwrap();
        if let Some(record) = running.into_iter().next() {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    client.cancel(running.id).await.unwrap();
    let id = tokio::time::timeout(Duration::from_secs(5), submit)
        .await
        .expect("submit returns once cancelled")
        .unwrap()
        .unwrap();
    let record = client.get(id).await.unwrap();
    assert_eq!(record.state, TaskState::Cancelled);
    assert_eq!(
        record.error.map(|e| e.message),
        Some("Some(Cancelled)".into())
    );
}

#[tokio::test]
async fn testing_inline_memory_paused_queue_runs_on_resume() {
    let client = testing::inline_client().expect("client");
    client.pause_queue("images").await.unwrap();
    let id = client.submit(resize, Resize { width: 8 }).await.unwrap();
    assert_eq!(client.get(id).await.unwrap().state, TaskState::Pending);
    assert_eq!(
        testing::enqueued(&client, resize).await.unwrap(),
        vec![Resize { width: 8 }]
    );
    client.resume_queue("images").await.unwrap();
    assert_eq!(client.get(id).await.unwrap().state, TaskState::Finished);
}

#[tokio::test]
async fn testing_enqueued_memory_typed_filters_and_macros() {
    let client = memory_client();
    client.submit(resize, Resize { width: 1 }).await.unwrap();
    client
        .submit(resize, Resize { width: 2 })
        .queue("urgent")
        .countdown(Duration::from_secs(60))
        .await
        .unwrap();
    client.submit(add, (1, 1)).await.unwrap();

    assert_eq!(
        testing::enqueued(&client, resize).await.unwrap(),
        vec![Resize { width: 1 }, Resize { width: 2 }],
        "oldest first, scheduled ones included"
    );
    let urgent = TaskFilter {
        queue: Some("urgent".into()),
        ..TaskFilter::default()
    };
    assert_eq!(
        testing::enqueued_where(&client, resize, &urgent)
            .await
            .unwrap(),
        vec![Resize { width: 2 }]
    );
    assert_eq!(testing::enqueued(&client, add).await.unwrap(), vec![(1, 1)]);
    taskq::assert_enqueued!(client, resize);
    taskq::assert_enqueued!(client, resize, Resize { width: 2 });
    taskq::testing::assert_not_enqueued!(client, resize, Resize { width: 3 });
    taskq::assert_not_enqueued!(client, until_stopped);

    // The assertion's message names what is there.
    let failed = tokio::spawn(async move {
        taskq::assert_enqueued!(client, resize, Resize { width: 9 });
    })
    .await
    .unwrap_err();
    let message = failed.into_panic();
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("Resize { width: 1 }"), "{message}");
}

#[tokio::test]
async fn testing_drain_memory_due_then_scheduled() {
    FLAKY_RUNS.store(0, Ordering::SeqCst);
    let client = memory_client();
    let due = client.submit(resize, Resize { width: 4 }).await.unwrap();
    let later = client
        .submit(add, (2, 2))
        .countdown(Duration::from_secs(3600))
        .await
        .unwrap();
    let retrying = client.submit(flaky, ()).await.unwrap();

    // Due work only: the flaky task's retry waits for its backoff.
    let report = testing::drain(&client).await.unwrap();
    assert_eq!(
        (report.attempts, report.finished, report.retried),
        (2, 1, 1)
    );
    assert_eq!(client.get(due).await.unwrap().state, TaskState::Finished);
    assert_eq!(client.get(later).await.unwrap().state, TaskState::Pending);
    assert_eq!(
        client.get(retrying).await.unwrap().state,
        TaskState::Pending
    );

    // Scheduled work too, at once: the ETA and the retries.
    let report = testing::drain(&client).with_scheduled().await.unwrap();
    assert_eq!(
        (report.attempts, report.finished, report.retried),
        (3, 2, 1)
    );
    assert_eq!(client.get(later).await.unwrap().result, Some(json!(4)));
    assert_eq!(client.get(retrying).await.unwrap().attempt, 3);
    assert!(!report.limit_reached);
}

#[tokio::test]
async fn testing_drain_memory_queue_filter_and_limit() {
    let client = memory_client();
    client.submit(resize, Resize { width: 4 }).await.unwrap();
    client.submit(add, (1, 2)).await.unwrap();
    client.submit(add, (3, 4)).await.unwrap();

    let report = testing::drain(&client).queue("images").await.unwrap();
    assert_eq!(report.finished, 1);
    assert_eq!(testing::enqueued(&client, add).await.unwrap().len(), 2);

    let report = testing::drain(&client).max_attempts(1).await.unwrap();
    assert_eq!((report.attempts, report.limit_reached), (1, true));
    let left = testing::enqueued(&client, add).await.unwrap();
    assert_eq!(left.len(), 1, "the extra claim was given back");
    let record = testing::records(
        &client,
        &TaskFilter {
            state: Some(TaskState::Pending),
            ..TaskFilter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(record[0].attempt, 0, "released with its attempt given back");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn testing_drain_sqlite() {
    let dir = std::env::temp_dir().join(format!("taskq-testing-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("tasks.db").display());
    let backend = taskq::SqlBackend::connect(&url).await.expect("sqlite");
    let client = Client::new(Arc::new(backend)).unwrap();
    let id = client.submit(resize, Resize { width: 6 }).await.unwrap();
    assert_eq!(
        testing::enqueued(&client, resize).await.unwrap(),
        vec![Resize { width: 6 }]
    );
    let report = testing::drain(&client).await.unwrap();
    assert_eq!(report.finished, 1);
    let record = client.get(id).await.unwrap();
    assert_eq!(record.result, Some(json!({ "width": 3, "attempt": 1 })));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn testing_inline_memory_with_registry_leaves_unknown_pending() {
    // An inline backend that runs only `add`: `resize` waits, as with a
    // worker that lacks its handler.
    let registry = taskq::registry::Registry::from_defs(
        taskq::registry::Registry::from_inventory()
            .unwrap()
            .get("testing.add"),
    )
    .unwrap();
    let client = Client::new(Arc::new(InlineBackend::with_registry(registry))).unwrap();
    let added = client.submit(add, (5, 5)).await.unwrap();
    let waits = client.submit(resize, Resize { width: 2 }).await.unwrap();
    assert_eq!(client.get(added).await.unwrap().result, Some(json!(10)));
    assert_eq!(client.get(waits).await.unwrap().state, TaskState::Pending);
}
