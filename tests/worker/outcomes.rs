//! Submitting, and how attempts end: success, retries with backoff, failures, panics and timeouts.

use super::*;

pub async fn typed_submit_runs_to_finished(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client
        .submit(
            echo,
            Echo {
                text: "ab".into(),
                times: 3,
            },
        )
        .await
        .unwrap();
    let done = wait_terminal(&client, id).await;
    assert_eq!(done.state, TaskState::Finished);
    assert_eq!(
        done.result_as::<String>().unwrap().as_deref(),
        Some("ababab")
    );
    assert_eq!(done.attempt, 1);
    assert!(done.started_at.is_some() && done.finished_at.is_some());
    stop().await;
}

pub async fn submit_by_name_validates(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let err = client
        .submit_json("no_such_task", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnknownTaskType(ref name) if name == "no_such_task"),
        "{err}"
    );
    let err = client
        .submit_json("echo", json!({ "text": 5 }))
        .await
        .unwrap_err();
    match err {
        Error::InvalidParams { path, message, .. } => {
            assert_eq!(path, "text");
            assert!(message.contains("invalid type"), "{message}");
        }
        other => panic!("expected InvalidParams, got {other}"),
    }
    let err = client
        .submit_json("echo", json!({ "times": 2 }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing field `text`"), "{err}");
    let listed = client
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 0, "rejected submissions stored nothing");
    let id = client
        .submit_json("echo", json!({ "text": "ok" }))
        .await
        .unwrap();
    assert_eq!(
        client.get(id).await.unwrap().params,
        json!({ "text": "ok" })
    );
}

/// A retryable error is retried after `retry_delay * backoff^(n-1)`
/// (300 ms, then 600 ms: no jitter): each retry starts no sooner than its
/// delay after the failure before it, and the second waits the doubled
/// delay. A worker that retried at once, or without growing the delay,
/// fails here.
pub async fn retryable_errors_retry_with_backoff(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let key = unique("flaky");
    let id = client
        .submit(
            flaky,
            Flaky {
                key: key.clone(),
                failures: 2,
            },
        )
        .await
        .unwrap();
    let spent_key = unique("flaky");
    let spent_id = client
        .submit(
            flaky,
            Flaky {
                key: spent_key,
                failures: 10,
            },
        )
        .await
        .unwrap();
    let done = wait_terminal(&client, id).await;
    assert_eq!(done.state, TaskState::Finished, "{done:?}");
    assert_eq!(done.attempt, 3);
    assert_eq!(done.result_as::<u32>().unwrap(), Some(3));
    let last_error = done.error.expect("the last failure is kept");
    assert_eq!(last_error.kind, ErrorKind::Retryable);
    assert!(last_error.message.contains("transient failure 2"));
    {
        let attempts = ATTEMPTS.lock().unwrap();
        let runs = &attempts[&key];
        assert_eq!((runs.started.len(), runs.failed.len()), (3, 2), "{runs:?}");
        let mut delay = FLAKY_RETRY_DELAY;
        for (failed, retried) in runs.failed.iter().zip(&runs.started[1..]) {
            let waited = retried.duration_since(*failed);
            // Stored due times may be rounded to the millisecond.
            assert!(
                waited + Duration::from_millis(2) >= delay,
                "a retry started {waited:?} after its failure; its delay is {delay:?}"
            );
            delay *= 2;
        }
    }

    let spent = wait_terminal(&client, spent_id).await;
    assert_eq!(
        (spent.state, spent.attempt),
        (TaskState::Failed, 3),
        "retries = 2: three attempts"
    );
    stop().await;
}

pub async fn permanent_errors_and_panics_fail(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client
        .submit(
            permanent,
            Flaky {
                key: unique("p"),
                failures: 0,
            },
        )
        .await
        .unwrap();
    let failed = wait_terminal(&client, id).await;
    assert_eq!((failed.state, failed.attempt), (TaskState::Failed, 1));
    assert_eq!(failed.error.unwrap().kind, ErrorKind::Permanent);

    let id = client
        .submit(
            panics,
            Echo {
                text: "oops".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    let panicked = wait_terminal(&client, id).await;
    assert_eq!(panicked.state, TaskState::Failed);
    let error = panicked.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Panic);
    assert!(error.message.contains("boom: oops"), "{}", error.message);

    // The worker goes on after a panic.
    let id = client
        .submit(
            echo,
            Echo {
                text: "after".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(wait_terminal(&client, id).await.state, TaskState::Finished);
    stop().await;
}

pub async fn hard_and_soft_timeouts(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let hard = client
        .submit(
            sleeper,
            Sleep {
                ms: 10_000,
                cooperative: false,
            },
        )
        .timeout(Duration::from_millis(200))
        .await
        .unwrap();
    let soft = client
        .submit(
            sleeper,
            Sleep {
                ms: 10_000,
                cooperative: true,
            },
        )
        .soft_timeout(Duration::from_millis(100))
        .timeout(Duration::from_secs(5))
        .await
        .unwrap();
    let timed_out = wait_terminal(&client, hard).await;
    assert_eq!(timed_out.state, TaskState::Failed);
    assert_eq!(timed_out.error.unwrap().kind, ErrorKind::Timeout);
    let wrapped = wait_terminal(&client, soft).await;
    assert_eq!(wrapped.state, TaskState::Finished);
    assert_eq!(
        wrapped.result_as::<String>().unwrap().as_deref(),
        Some("wrapped up at the soft timeout")
    );
    stop().await;
}

/// A result over the client's limit fails the task at once (retries
/// would return the same), saying how large it was; the limit is the
/// client's the worker was built from.
pub async fn oversized_result_fails_without_retry(backend: Arc<dyn Backend>) {
    let client = Client::new(backend)
        .unwrap()
        .with_payload_limits(taskq::PayloadLimits {
            max_result_bytes: 100,
            ..taskq::PayloadLimits::DEFAULT
        });
    let stop = spawn(fast_worker(&client).build().unwrap());
    let big = client
        .submit(
            echo,
            Echo {
                text: "x".into(),
                times: 200,
            },
        )
        .max_retries(3)
        .await
        .unwrap();
    let small = client
        .submit(
            echo,
            Echo {
                text: "x".into(),
                times: 90,
            },
        )
        .await
        .unwrap();
    let failed = wait_terminal(&client, big).await;
    assert_eq!(failed.state, TaskState::Failed);
    assert_eq!(failed.attempt, 1, "not retried");
    let error = failed.error.expect("error");
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert!(
        error.message.contains("limit of 100 bytes"),
        "{}",
        error.message
    );
    assert_eq!(failed.result, None);
    assert_eq!(
        wait_terminal(&client, small).await.state,
        TaskState::Finished
    );
    stop().await;
}

/// A worker built without a task's crate (here: a registry without
/// `echo`) leaves that task pending instead of failing it as unknown; a
/// worker that has the handler runs it. Before, the first worker claimed it
/// and stored `FAILED unknown_task` on attempt 1.
pub async fn worker_without_the_handler_leaves_the_task(backend: Arc<dyn Backend>) {
    let full = Client::new(backend.clone()).unwrap();
    let registry = taskq::registry::Registry::from_inventory().unwrap();
    let without_echo =
        taskq::registry::Registry::from_defs(registry.iter().filter(|def| def.name != "echo"))
            .unwrap();
    let lacking = Client::with_registry(backend, without_echo);
    let stop_lacking = spawn(fast_worker(&lacking).build().unwrap());
    let echoed = full
        .submit(
            echo,
            Echo {
                text: "kept".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    let slept = full
        .submit(
            sleeper,
            Sleep {
                ms: 1,
                cooperative: true,
            },
        )
        .await
        .unwrap();
    // The worker runs what it has a handler for...
    assert_eq!(wait_terminal(&full, slept).await.state, TaskState::Finished);
    // ...and, polling every 20 ms meanwhile, never took the other one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = full.get(echoed).await.unwrap();
    assert_eq!((waiting.state, waiting.attempt), (TaskState::Pending, 0));
    let stop_full = spawn(fast_worker(&full).build().unwrap());
    let done = wait_terminal(&full, echoed).await;
    assert_eq!((done.state, done.attempt), (TaskState::Finished, 1));
    stop_lacking().await;
    stop_full().await;
}

/// A task that fails twice and finishes on its third attempt keeps the
/// three attempts: numbers, the worker that ran each, their errors, and
/// times that follow the retries' backoff.
pub async fn history_shows_each_attempt_of_a_retried_task(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let worker = fast_worker(&client).worker_id("history-worker");
    let stop = spawn(worker.build().unwrap());
    let id = client
        .submit(
            flaky,
            Flaky {
                key: unique("history"),
                failures: 2,
            },
        )
        .tag("history")
        .await
        .unwrap();
    let done = wait_terminal(&client, id).await;
    stop().await;
    assert_eq!((done.state, done.attempt), (TaskState::Finished, 3));
    let seen: Vec<(u32, Option<&str>, taskq::AttemptOutcome, Option<ErrorKind>)> = done
        .attempts
        .iter()
        .map(|a| {
            let kind = a.error.as_ref().map(|e| e.kind);
            (a.attempt, a.worker_id.as_deref(), a.outcome, kind)
        })
        .collect();
    use taskq::AttemptOutcome::{Finished, Retried};
    let worker = Some("history-worker");
    let retryable = Some(ErrorKind::Retryable);
    assert_eq!(
        seen,
        vec![
            (1, worker, Retried, retryable),
            (2, worker, Retried, retryable),
            (3, worker, Finished, None),
        ]
    );
    assert!(
        done.attempts[1]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("transient failure 2")
    );
    for pair in done.attempts.windows(2) {
        let waited = pair[1].started_at.unwrap() - pair[0].ended_at;
        // The retry waits its backoff (300 ms, then 600 ms; stored times
        // may be rounded to the millisecond).
        assert!(waited >= chrono::Duration::milliseconds(290), "{waited:?}");
    }
    assert!(
        done.attempts
            .iter()
            .all(|a| a.duration().is_some_and(|d| d >= chrono::Duration::zero()))
    );
    assert_eq!(done.tags, ["history"]);
}
