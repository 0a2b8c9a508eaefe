//! Pausing, resuming and stopping a worker from another handle.

use super::*;

/// An operator on another backend handle (as on another host) sees the
/// worker, pauses it (it stops claiming, its running task goes on),
/// resumes it, and shuts it down gracefully (its running task finishes).
pub async fn worker_is_paused_resumed_and_stopped_from_another_handle(
    backend: Arc<dyn Backend>,
    other: Arc<dyn Backend>,
) {
    let client = Client::new(backend).unwrap();
    let operator = Client::new(other).unwrap();
    let id = unique("steered");
    let worker = fast_worker(&client)
        .worker_id(&id)
        .shutdown_grace(Duration::from_secs(10))
        .build()
        .unwrap();
    let join = tokio::spawn(worker.run());
    let slow = |ms| Sleep {
        ms,
        cooperative: false,
    };

    let listed = wait_worker(&operator, &id, |_| true).await;
    assert_eq!(listed.state, WorkerState::Running);
    assert_eq!(listed.pid, std::process::id());
    assert!(!listed.host.is_empty());
    assert_eq!(
        listed.queues,
        [WorkerQueue {
            name: "default".into(),
            concurrency: 4
        }]
    );
    assert!(operator.workers().await.unwrap().iter().any(|w| w.id == id));

    let long = client.submit(sleeper, slow(1_000)).await.unwrap();
    wait_worker(&operator, &id, |w| w.in_flight.contains(&long)).await;
    let asked = operator
        .control_worker(&id, WorkerControl::Pause)
        .await
        .unwrap();
    assert_eq!(asked.requested, Some(WorkerState::Paused));
    wait_worker(&operator, &id, |w| w.state == WorkerState::Paused).await;
    let waiting = client
        .submit(
            echo,
            Echo {
                text: "later".into(),
                times: 1,
            },
        )
        .await
        .unwrap();
    // Paused: the running task finishes, the new one is not claimed.
    let long_done = wait_terminal(&operator, long).await;
    assert_eq!(long_done.state, TaskState::Finished);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        operator.get(waiting).await.unwrap().state,
        TaskState::Pending
    );

    operator
        .control_worker(&id, WorkerControl::Resume)
        .await
        .unwrap();
    assert_eq!(
        wait_terminal(&operator, waiting).await.state,
        TaskState::Finished
    );
    wait_worker(&operator, &id, |w| w.state == WorkerState::Running).await;

    // Graceful shutdown: the running task completes, then the worker leaves.
    let last = client.submit(sleeper, slow(600)).await.unwrap();
    wait_for(&operator, last, |r| r.state == TaskState::Running).await;
    operator
        .control_worker(&id, WorkerControl::Shutdown)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(15), join)
        .await
        .expect("the worker stops")
        .expect("join")
        .expect("run");
    assert_eq!(operator.get(last).await.unwrap().state, TaskState::Finished);
    assert!(matches!(
        operator.worker(&id).await,
        Err(taskq::Error::WorkerNotFound(_))
    ));
}

/// On backends that announce controls (memory, Redis, SQL records with
/// Redis delivery), a worker learns of one at once: here its heartbeat is
/// a minute away, so only the announcement can make it pause within the
/// test.
pub async fn control_is_announced_between_heartbeats(
    backend: Arc<dyn Backend>,
    other: Arc<dyn Backend>,
) {
    let client = Client::new(backend).unwrap();
    let operator = Client::new(other).unwrap();
    let id = unique("announced");
    let worker = fast_worker(&client)
        .worker_id(&id)
        .heartbeat_interval(Duration::from_secs(60))
        .lease(Duration::from_secs(120))
        .build()
        .unwrap();
    let stop = spawn(worker);
    wait_worker(&operator, &id, |w| w.state == WorkerState::Running).await;
    operator
        .control_worker(&id, WorkerControl::Pause)
        .await
        .unwrap();
    wait_worker(&operator, &id, |w| w.state == WorkerState::Paused).await;
    operator
        .control_worker(&id, WorkerControl::Resume)
        .await
        .unwrap();
    wait_worker(&operator, &id, |w| w.state == WorkerState::Running).await;
    stop().await;
}
