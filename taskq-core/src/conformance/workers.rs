//! The worker registry: reports, controls and their compare-and-set, gone
//! and forgotten workers.

use std::sync::Arc;

use crate::backend::{Backend, WORKER_GONE_KEPT, WorkerControl, WorkerInfo, WorkerState};
use crate::error::Error;

use super::helpers::*;

fn invalid_control(result: Result<WorkerInfo, Error>, expected: WorkerState) {
    match result {
        Err(Error::InvalidWorkerControl { state, .. }) => assert_eq!(state, expected),
        other => panic!("expected InvalidWorkerControl from {expected}, got {other:?}"),
    }
}

/// Register, list, heartbeat, control and deregister; the worker owns its
/// report, controls own `requested`, and register clears it.
pub async fn worker_registry(backend: Arc<dyn Backend>) {
    let ttl = chrono::Duration::seconds(30);
    assert!(backend.list_workers(now()).await.expect("list").is_empty());
    let mut a = worker_info("w-a", ttl);
    backend.register_worker(&a).await.expect("register");
    backend
        .register_worker(&worker_info("w-b", ttl))
        .await
        .expect("register");
    let listed = backend.list_workers(now()).await.expect("list");
    assert_eq!(
        listed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["w-a", "w-b"]
    );
    assert_eq!(listed[0], a, "round trip");

    // A heartbeat replaces the report.
    let running = vec![uuid::Uuid::now_v7(), uuid::Uuid::now_v7()];
    a.in_flight = running.clone();
    a.in_flight_count = 2;
    a.heartbeat_at += chrono::Duration::seconds(1);
    assert_eq!(backend.worker_heartbeat(&a).await.expect("beat"), None);
    let stored = backend.get_worker("w-a", now()).await.expect("get");
    assert_eq!(stored.as_ref(), Some(&a));

    // Controls: checked against where the worker is headed.
    let unknown = backend
        .control_worker("w-none", WorkerControl::Pause, now())
        .await;
    assert!(
        matches!(unknown, Err(Error::WorkerNotFound(ref id)) if id == "w-none"),
        "{unknown:?}"
    );
    invalid_control(
        backend
            .control_worker("w-a", WorkerControl::Resume, now())
            .await,
        WorkerState::Running,
    );
    let paused = backend
        .control_worker("w-a", WorkerControl::Pause, now())
        .await
        .expect("pause");
    assert_eq!(paused.requested, Some(WorkerState::Paused));
    assert_eq!(paused.state, WorkerState::Running, "until the worker obeys");
    invalid_control(
        backend
            .control_worker("w-a", WorkerControl::Pause, now())
            .await,
        WorkerState::Paused,
    );
    // The heartbeat hands the request over and keeps it.
    assert_eq!(
        backend.worker_heartbeat(&a).await.expect("beat"),
        Some(WorkerState::Paused)
    );
    a.state = WorkerState::Paused;
    assert_eq!(
        backend.worker_heartbeat(&a).await.expect("beat"),
        Some(WorkerState::Paused)
    );
    let stored = backend
        .get_worker("w-a", now())
        .await
        .expect("get")
        .expect("w-a");
    assert_eq!(
        (stored.state, stored.requested),
        (WorkerState::Paused, Some(WorkerState::Paused))
    );
    let resumed = backend
        .control_worker("w-a", WorkerControl::Resume, now())
        .await
        .expect("resume");
    assert_eq!(resumed.requested, Some(WorkerState::Running));
    let stopping = backend
        .control_worker("w-a", WorkerControl::Shutdown, now())
        .await
        .expect("shutdown");
    assert_eq!(stopping.requested, Some(WorkerState::Stopping));
    invalid_control(
        backend
            .control_worker("w-a", WorkerControl::Shutdown, now())
            .await,
        WorkerState::Stopping,
    );
    assert_eq!(
        backend.worker_heartbeat(&a).await.expect("beat"),
        Some(WorkerState::Stopping)
    );
    a.state = WorkerState::Stopping;
    backend.worker_heartbeat(&a).await.expect("beat");
    invalid_control(
        backend
            .control_worker("w-a", WorkerControl::Resume, now())
            .await,
        WorkerState::Stopping,
    );

    // A restart under the same id starts without the old request.
    a.state = WorkerState::Running;
    backend.register_worker(&a).await.expect("register again");
    assert_eq!(backend.worker_heartbeat(&a).await.expect("beat"), None);

    assert!(backend.deregister_worker("w-a").await.expect("deregister"));
    assert!(!backend.deregister_worker("w-a").await.expect("deregister"));
    assert_eq!(backend.get_worker("w-a", now()).await.expect("get"), None);
    let left = backend.list_workers(now()).await.expect("list");
    assert_eq!(
        left.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["w-b"]
    );
}

/// A worker past `expires_at` is listed as gone and refuses controls;
/// past [`WORKER_GONE_KEPT`] it is forgotten; a heartbeat brings it back.
pub async fn worker_registry_gone_and_forgotten(backend: Arc<dyn Backend>) {
    let kept = chrono::Duration::from_std(WORKER_GONE_KEPT).expect("kept");
    let quiet = worker_info("w-quiet", chrono::Duration::seconds(-5));
    backend.register_worker(&quiet).await.expect("register");
    let long_gone = worker_info("w-long-gone", -kept - chrono::Duration::seconds(60));
    backend.register_worker(&long_gone).await.expect("register");
    backend
        .register_worker(&worker_info("w-live", chrono::Duration::seconds(30)))
        .await
        .expect("register");

    let listed = backend.list_workers(now()).await.expect("list");
    let states: Vec<(&str, WorkerState)> =
        listed.iter().map(|w| (w.id.as_str(), w.state)).collect();
    assert_eq!(
        states,
        [
            ("w-live", WorkerState::Running),
            ("w-quiet", WorkerState::Gone)
        ]
    );
    assert_eq!(
        backend.get_worker("w-long-gone", now()).await.expect("get"),
        None
    );
    for control in [
        WorkerControl::Pause,
        WorkerControl::Resume,
        WorkerControl::Shutdown,
    ] {
        invalid_control(
            backend.control_worker("w-quiet", control, now()).await,
            WorkerState::Gone,
        );
    }
    assert!(matches!(
        backend
            .control_worker("w-long-gone", WorkerControl::Pause, now())
            .await,
        Err(Error::WorkerNotFound(_))
    ));
    // Seen from later, the quiet worker is forgotten too.
    let later = now() + kept + chrono::Duration::seconds(10);
    let listed = backend.list_workers(later).await.expect("list");
    assert!(listed.iter().all(|w| w.id != "w-quiet"), "{listed:?}");
    // It beats again: back, running.
    let back = worker_info("w-quiet", chrono::Duration::seconds(30));
    assert_eq!(backend.worker_heartbeat(&back).await.expect("beat"), None);
    let stored = backend
        .get_worker("w-quiet", now())
        .await
        .expect("get")
        .expect("back");
    assert_eq!(stored.state, WorkerState::Running);
}

/// Of many operators pausing one worker at once, exactly one succeeds.
pub async fn worker_control_is_compare_and_set(backend: Arc<dyn Backend>) {
    backend
        .register_worker(&worker_info("w-race", chrono::Duration::seconds(30)))
        .await
        .expect("register");
    let mut racers = Vec::new();
    for _ in 0..8 {
        let backend = backend.clone();
        racers.push(tokio::spawn(async move {
            backend
                .control_worker("w-race", WorkerControl::Pause, now())
                .await
        }));
    }
    let mut won = 0;
    for racer in racers {
        match racer.await.expect("join") {
            Ok(worker) => {
                assert_eq!(worker.requested, Some(WorkerState::Paused));
                won += 1;
            }
            Err(Error::InvalidWorkerControl { state, .. }) => {
                assert_eq!(state, WorkerState::Paused)
            }
            Err(err) => panic!("unexpected: {err}"),
        }
    }
    assert_eq!(won, 1);
}
