//! Queue limits (`lifecycle`, "claim (queue limit)"): a claim takes no
//! more than the limit leaves beside the queue's running tasks, racing
//! claimers together never exceed it, and a slot comes back when its task
//! leaves `RUNNING` — settled or rescued.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::Backend;
use crate::error::Error;
use crate::lifecycle::RetryPolicy;
use crate::task::TaskState;

use super::helpers::*;
use super::limit_setup::*;

/// A limit caps each claim and every worker's together; a settle frees
/// its slot; stats report the limit beside the running count.
pub async fn limit_caps_a_claim(backend: Arc<dyn Backend>) {
    due_tasks(&*backend, "q", 6).await;
    due_tasks(&*backend, "free", 3).await;
    backend.set_queue_limit("q", Some(2)).await.expect("limit");
    let first = claim(&*backend, "q", 10, "w1").await;
    assert_eq!(first.len(), 2, "capped at the limit");
    assert!(
        claim(&*backend, "q", 10, "w2").await.is_empty(),
        "another worker finds the queue full"
    );
    let stats = stats_of(&*backend, "q").await;
    assert_eq!((stats.limit, stats.running, stats.pending), (Some(2), 2, 4));
    // Other queues are not limited.
    assert_eq!(claim(&*backend, "free", 10, "w1").await.len(), 3);
    assert_eq!(stats_of(&*backend, "free").await.limit, None);
    finish(&*backend, &first[0]).await;
    let next = claim_when_free(&*backend, "q", 10).await;
    assert_eq!(next.len(), 1, "one slot came back");
    assert_eq!(stats_of(&*backend, "q").await.running, 2);
}

/// Claimers racing on a limited queue never run more than the limit
/// together, round after round.
pub async fn limit_concurrent_claimers_never_exceed_it(backend: Arc<dyn Backend>) {
    const LIMIT: usize = 3;
    const CLAIMERS: usize = 4;
    due_tasks(&*backend, "q", 40).await;
    backend
        .set_queue_limit("q", Some(LIMIT as u32))
        .await
        .expect("limit");
    for round in 0..4 {
        let claimed = Race {
            queue: "q",
            worker: format!("w{round}"),
            claimers: CLAIMERS,
            times: 2,
            per_claim: 2,
            at: now(),
        }
        .run(&backend)
        .await;
        assert_eq!(claimed.len(), LIMIT, "round {round}: exactly the limit ran");
        let running = stats_of(&*backend, "q").await.running;
        assert_eq!(running, LIMIT as u64, "round {round}");
        for task in &claimed {
            finish(&*backend, task).await;
        }
        assert_slots_come_back(&*backend, "q", LIMIT, round).await;
    }
}

/// Clearing the limit lifts it at once; pausing and resuming keep it;
/// lowering it below the running count stops claims until enough end.
pub async fn limit_cleared_lifts_it(backend: Arc<dyn Backend>) {
    due_tasks(&*backend, "q", 8).await;
    backend.set_queue_limit("q", Some(3)).await.expect("limit");
    let running = claim(&*backend, "q", 10, "w").await;
    assert_eq!(running.len(), 3);
    backend.set_queue_limit("q", Some(1)).await.expect("lower");
    assert!(
        claim(&*backend, "q", 10, "w").await.is_empty(),
        "over a lowered limit: nothing more runs"
    );
    assert_eq!(stats_of(&*backend, "q").await.limit, Some(1));
    backend.set_queue_paused("q", true).await.expect("pause");
    backend.set_queue_paused("q", false).await.expect("resume");
    let stats = stats_of(&*backend, "q").await;
    assert_eq!(
        (stats.paused, stats.limit),
        (false, Some(1)),
        "resume keeps it"
    );
    backend.set_queue_limit("q", None).await.expect("clear");
    assert_eq!(stats_of(&*backend, "q").await.limit, None);
    assert_eq!(claim(&*backend, "q", 10, "w").await.len(), 5, "unlimited");
    // A limit on a paused queue keeps the pause; clearing it too.
    backend.set_queue_paused("q", true).await.expect("pause");
    backend.set_queue_limit("q", Some(4)).await.expect("limit");
    backend.set_queue_limit("q", None).await.expect("clear");
    let stats = stats_of(&*backend, "q").await;
    assert_eq!((stats.paused, stats.limit), (true, None));
}

/// A task whose worker died holds its slot until the rescue moves it out
/// of `RUNNING`; then the slot is free: none leaks.
pub async fn limit_rescued_task_frees_its_slot(backend: Arc<dyn Backend>) {
    let tasks = due_tasks(&*backend, "q", 3).await;
    backend.set_queue_limit("q", Some(1)).await.expect("limit");
    // After the tasks were due (10 s ago), leased until 4 s ago.
    let start = now() - secs(5);
    let dead = claim_at(&*backend, "q", 5, "dead", start, Duration::from_secs(1)).await;
    assert_eq!(ids(&dead), vec![tasks[0].id]);
    assert!(
        claim(&*backend, "q", 5, "w").await.is_empty(),
        "an expired lease still holds its slot until rescued"
    );
    let report = backend
        .rescue_expired(now(), &RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1);
    assert_eq!(get(&*backend, tasks[0].id).await.state, TaskState::Pending);
    let next = claim(&*backend, "q", 5, "w").await;
    assert_eq!(next.len(), 1, "the rescued task's slot is free");
    assert_eq!(stats_of(&*backend, "q").await.running, 1);
}

/// A limit of 0 is a typed error and changes nothing.
pub async fn limit_of_zero_is_refused(backend: Arc<dyn Backend>) {
    due_tasks(&*backend, "q", 4).await;
    assert!(matches!(
        backend.set_queue_limit("q", Some(0)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        stats_of(&*backend, "q").await.limit,
        None,
        "no limit stored"
    );
    backend.set_queue_limit("q", Some(2)).await.expect("limit");
    assert!(matches!(
        backend.set_queue_limit("q", Some(0)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(stats_of(&*backend, "q").await.limit, Some(2), "kept");
    assert_eq!(claim(&*backend, "q", 10, "w").await.len(), 2);
    // A queue with a limit and no task is listed, with it.
    backend
        .set_queue_limit("empty", Some(7))
        .await
        .expect("limit");
    assert_eq!(stats_of(&*backend, "empty").await.limit, Some(7));
}
