//! Waiting for results across two handles on one store: the waiter on
//! one, the worker (or the cancel) on the other, as two hosts would be.

use super::*;

use taskq::Submission;

/// A waiter on `other` is woken by a settle made through `backend`, and
/// gets the handler's result typed.
pub async fn wait_wakes_on_a_settle_from_another_handle(
    backend: Arc<dyn Backend>,
    other: Arc<dyn Backend>,
) {
    let runner = Client::new(backend).unwrap();
    let waiter = Client::new(other).unwrap();
    let id = waiter
        .submit(
            echo,
            Echo {
                text: "ab".into(),
                times: 2,
            },
        )
        .await
        .unwrap();
    let waiting = {
        let waiter = waiter.clone();
        tokio::spawn(async move {
            waiter
                .result(echo.task_ref(id), Duration::from_secs(20))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stop = spawn(fast_worker(&runner).build().unwrap());
    let text: String = waiting.await.unwrap().unwrap();
    assert_eq!(text, "abab");
    // Submit and wait in one call, from either handle.
    let submission: Submission<'_, String> = waiter.submit(
        echo,
        Echo {
            text: "x".into(),
            times: 3,
        },
    );
    assert_eq!(
        submission.wait(Duration::from_secs(20)).await.unwrap(),
        "xxx"
    );
    // By name + JSON: the record, with the result as JSON.
    let id = waiter
        .submit_json("echo", json!({ "text": "j" }))
        .await
        .unwrap();
    let record = waiter.wait_for(id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(record.result, Some(json!("j")));
    // A result read as the wrong type is a serialization error, not a panic.
    let wrong = waiter.result::<u32>(id, Duration::from_secs(1)).await;
    assert!(matches!(wrong, Err(Error::Serialization(_))), "{wrong:?}");
    stop().await;
}

/// FAILED and CANCELLED tasks give `Error::TaskFailed` with their failure.
pub async fn wait_gives_the_typed_failure(backend: Arc<dyn Backend>, other: Arc<dyn Backend>) {
    let runner = Client::new(backend).unwrap();
    let waiter = Client::new(other).unwrap();
    let stop = spawn(fast_worker(&runner).build().unwrap());
    let failed = waiter
        .submit(
            permanent,
            Flaky {
                key: unique("wait-fail"),
                failures: 0,
            },
        )
        .wait(Duration::from_secs(20))
        .await;
    match failed {
        Err(Error::TaskFailed { state, failure, .. }) => {
            assert_eq!(state, TaskState::Failed);
            assert_eq!(failure.kind, ErrorKind::Permanent);
            assert_eq!(failure.message, "the input can never work");
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    stop().await;
    // Cancelled through the other handle while the waiter waits.
    let id = waiter
        .submit(
            echo,
            Echo {
                text: "never".into(),
                times: 1,
            },
        )
        .countdown(Duration::from_secs(60))
        .await
        .unwrap();
    let waiting = {
        let waiter = waiter.clone();
        tokio::spawn(async move { waiter.wait_for(id, Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    runner.cancel(id).await.unwrap();
    match waiting.await.unwrap() {
        Err(Error::TaskFailed {
            id: failed,
            state,
            failure,
        }) => {
            assert_eq!((failed, state), (id, TaskState::Cancelled));
            assert_eq!(failure.kind, ErrorKind::Cancelled);
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
}

/// A wait that runs out is `Error::WaitTimeout` (the task goes on); a
/// missing id is `NotFound`; zero and absurd timeouts are refused and a
/// refused `Submission::wait` stores nothing.
pub async fn wait_times_out_and_refuses_bad_input(
    backend: Arc<dyn Backend>,
    other: Arc<dyn Backend>,
) {
    let client = Client::new(backend).unwrap();
    let waiter = Client::new(other).unwrap();
    let id = client
        .submit(
            echo,
            Echo {
                text: "later".into(),
                times: 1,
            },
        )
        .countdown(Duration::from_secs(60))
        .await
        .unwrap();
    let started = Instant::now();
    match waiter.wait_for(id, Duration::from_millis(300)).await {
        Err(Error::WaitTimeout {
            id: timed_out,
            state,
            waited,
        }) => {
            assert_eq!((timed_out, state), (id, TaskState::Pending));
            assert_eq!(waited, Duration::from_millis(300));
        }
        other => panic!("expected WaitTimeout, got {other:?}"),
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(290) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(client.get(id).await.unwrap().state, TaskState::Pending);

    let missing = uuid::Uuid::now_v7();
    let started = Instant::now();
    let found = waiter.wait_for(missing, Duration::from_secs(10)).await;
    assert!(
        matches!(found, Err(Error::NotFound(m)) if m == missing),
        "{found:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    for timeout in [Duration::ZERO, Duration::from_secs(365 * 24 * 3600)] {
        let refused = waiter.wait_for(id, timeout).await;
        assert!(
            matches!(refused, Err(Error::InvalidArgument(_))),
            "{refused:?}"
        );
    }
    let before = client
        .list(&Default::default(), PageRequest::new(1, 10))
        .await
        .unwrap()
        .total;
    let refused = client
        .submit(
            echo,
            Echo {
                text: "no".into(),
                times: 1,
            },
        )
        .wait(Duration::ZERO)
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidArgument(_))),
        "{refused:?}"
    );
    let after = client
        .list(&Default::default(), PageRequest::new(1, 10))
        .await
        .unwrap()
        .total;
    assert_eq!(before, after, "a refused wait submits nothing");
}

/// 200 waiters on 200 tasks all wake when a worker on the other handle
/// runs them, and share one fallback poller: its queries stay within one
/// per interval (per `POLL_BATCH` ids), not one per waiter.
pub async fn wait_many_waiters_share_one_poller(
    backend: Arc<dyn Backend>,
    other: Arc<dyn Backend>,
) {
    const WAITERS: usize = 200;
    let runner = Client::new(backend).unwrap();
    let waiter = Client::new(other.clone()).unwrap();
    let ids = waiter
        .submit_many(
            echo,
            (0..WAITERS).map(|i| Echo {
                text: format!("w{i}"),
                times: 1,
            }),
        )
        .await
        .unwrap();
    let ends = other.task_ends();
    let polls_before = ends.as_ref().map_or(0, |e| e.polls());
    let started = Instant::now();
    let waits: Vec<_> = ids
        .iter()
        .map(|&id| {
            let waiter = waiter.clone();
            tokio::spawn(async move {
                let record = waiter.wait_for(id, Duration::from_secs(60)).await?;
                // From the end the store recorded to this wake-up.
                let late = chrono::Utc::now() - record.finished_at.expect("finished_at");
                Ok::<_, Error>((record, late))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stop = spawn(
        Worker::builder(&runner)
            .queue("default", 16)
            .poll_interval(Duration::from_millis(20))
            .build()
            .unwrap(),
    );
    let mut lateness = Vec::with_capacity(WAITERS);
    for (i, wait) in waits.into_iter().enumerate() {
        let (record, late) = wait.await.unwrap().unwrap();
        assert_eq!(record.result, Some(json!(format!("w{i}"))));
        lateness.push(late.to_std().unwrap_or_default());
    }
    let elapsed = started.elapsed();
    stop().await;
    lateness.sort();
    let p50 = lateness[WAITERS / 2];
    let p99 = lateness[WAITERS * 99 / 100];
    println!(
        "{WAITERS} waiters: wake-up after the end p50 {p50:?}, p99 {p99:?}, all in {elapsed:?}"
    );
    assert!(p99 < Duration::from_secs(5), "p99 {p99:?}");
    if let Some(ends) = ends {
        let polls = ends.polls() - polls_before;
        let intervals = (elapsed.as_secs_f64() / ends.poll_interval().as_secs_f64()).ceil() as u64;
        println!("fallback poll: {polls} queries over {intervals} intervals");
        // One poller: at most one query per interval for 200 ids (and a
        // little slack for the tick that raced the last waiter).
        assert!(
            polls <= intervals + 2,
            "{polls} polls in {intervals} intervals"
        );
        // Nobody waits any more: the poller has stopped.
        tokio::time::sleep(ends.poll_interval() * 3).await;
        let after = ends.polls();
        tokio::time::sleep(ends.poll_interval() * 3).await;
        assert_eq!(ends.polls(), after, "the poller stops with its last waiter");
        assert_eq!(ends.waiting(), 0);
    }
}
