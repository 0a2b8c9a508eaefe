//! What waiting needs of a backend: the states the shared poll reads
//! ([`Store::task_states`](crate::backend::Store::task_states)), and end
//! signals from the backend's own settles and cancels.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::backend::{Backend, Outcome, Settlement};
use crate::task::{ErrorKind, TaskState};

use super::helpers::*;

/// `task_states` answers for stored ids, whatever their state, and leaves
/// missing ones out.
pub async fn wait_task_states_follow_the_records(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(1);
    let tasks: Vec<_> = (0..3)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::milliseconds(i)))
        .collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    claim(&*backend, "q", 2, "w").await;
    let applied = backend
        .settle(vec![Settlement {
            id: tasks[0].id,
            attempt: 1,
            outcome: Outcome::Failed(failure(ErrorKind::Permanent, "bad")),
            at: now(),
        }])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true]);
    let missing = uuid::Uuid::now_v7();
    let mut asked = ids(&tasks);
    asked.push(missing);
    let mut states = backend.task_states(&asked).await.expect("task_states");
    states.sort_by_key(|(id, _)| *id);
    let mut expected = vec![
        (tasks[0].id, TaskState::Failed),
        (tasks[1].id, TaskState::Running),
        (tasks[2].id, TaskState::Pending),
    ];
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(states, expected);
    assert!(backend.task_states(&[]).await.expect("empty").is_empty());
}

/// A backend with an end hub wakes a waiter of this process when its own
/// settle or cancel ends the task, well before the fallback poll would.
pub async fn wait_hub_wakes_on_own_settle_and_cancel(backend: Arc<dyn Backend>) {
    let Some(ends) = backend.task_ends() else {
        return;
    };
    let t0 = now() - chrono::Duration::seconds(1);
    let settled = record("t", "q", 5, t0);
    let cancelled = record("t", "q", 5, t0 + chrono::Duration::milliseconds(1));
    backend
        .enqueue(vec![settled.clone(), cancelled.clone()])
        .await
        .expect("enqueue");
    claim(&*backend, "q", 1, "w").await;
    let client = schedule_client(backend.clone());
    let waiter = {
        let client = client.clone();
        let id = settled.id;
        tokio::spawn(async move { client.wait_for(id, Duration::from_secs(20)).await })
    };
    // The waiter registers before the settle.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ends.waiting() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = tokio::time::Instant::now();
    backend
        .settle(vec![Settlement {
            id: settled.id,
            attempt: 1,
            outcome: Outcome::Finished(json!(7)),
            at: now(),
        }])
        .await
        .expect("settle");
    let record = waiter.await.expect("waiter").expect("finished");
    assert_eq!(record.result, Some(json!(7)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken after {:?}",
        started.elapsed()
    );
    let waiter = {
        let id = cancelled.id;
        tokio::spawn(async move { client.wait_for(id, Duration::from_secs(20)).await })
    };
    while ends.waiting() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    backend.cancel(cancelled.id, now()).await.expect("cancel");
    match waiter.await.expect("waiter") {
        Err(crate::Error::TaskFailed { id, state, failure }) => {
            assert_eq!((id, state), (cancelled.id, TaskState::Cancelled));
            assert_eq!(failure.kind, ErrorKind::Cancelled);
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    assert_eq!(ends.waiting(), 0, "waiters leave the hub");
}
