//! Task type and key limits, and type rates, over every queue (issue 16):
//! a type whose tasks go to several queues runs (and starts) no more than
//! its limit in all of them together, racing claimers of different
//! queues included, and a slot a dead worker held in one queue comes back
//! to a claim of another once the rescue moves its task on.
//!
//! On Redis a queue is one hash slot and a claim script reaches only
//! its own; these rules hold there through the type's permits
//! (`redis/permits.rs`).

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, TypeLimitStats};
use crate::lifecycle::RetryPolicy;
use crate::rate_limit::RateLimit;
use crate::task::{TaskRecord, TaskState};

use super::helpers::*;
use super::limit_setup::*;

const QUEUES: [&str; 3] = ["q1", "q2", "q3"];

async fn row(backend: &dyn Backend, task_type: &str) -> TypeLimitStats {
    limit_row(backend, task_type)
        .await
        .expect("the limited type is listed")
}

/// `n` due tasks of type `t` (with `key`) in each of `queues`.
async fn due_in_each(
    backend: &dyn Backend,
    queues: &[&str],
    n: usize,
    key: Option<&str>,
) -> Vec<Vec<TaskRecord>> {
    let mut all = Vec::new();
    for queue in queues {
        let tasks: Vec<(&str, Option<&str>)> = (0..n).map(|_| ("t", key)).collect();
        all.push(due_records_at(backend, queue, &tasks, now()).await);
    }
    all
}

/// A type limit caps the type's running tasks over every queue: the
/// first queue's claim takes the limit, the others' claims find the type
/// full (and still take their other types), `type_limits` counts them
/// all, and a settle in one queue frees a slot for another.
pub async fn limit_type_across_queues_holds_the_total(backend: Arc<dyn Backend>) {
    due_in_each(&*backend, &QUEUES, 3, None).await;
    let other = due_records_at(&*backend, "q2", &[("other", None)], now()).await;
    backend.set_type_limit("t", Some(2)).await.expect("limit");
    let first = claim(&*backend, "q1", 10, "w1").await;
    assert_eq!(first.len(), 2, "the first queue takes the limit");
    let second = claim(&*backend, "q2", 10, "w2").await;
    assert_eq!(
        ids(&second),
        ids(&other),
        "another queue's claim finds the type full and takes its other type"
    );
    assert!(claim(&*backend, "q3", 10, "w3").await.is_empty());
    assert_eq!(
        row(&*backend, "t").await.running,
        2,
        "counted over every queue"
    );
    finish(&*backend, &first[0]).await;
    let next = claim_when_free(&*backend, "q3", 10).await;
    assert_eq!(next.len(), 1, "the freed slot is another queue's to take");
    assert!(
        claim(&*backend, "q2", 10, "w2").await.is_empty(),
        "full again"
    );
}

/// A key limit caps each key's running tasks over every queue; keys stay
/// apart, and tasks without a key pass.
pub async fn limit_key_across_queues_holds_each_key(backend: Arc<dyn Backend>) {
    let q1 = due_records_at(
        &*backend,
        "q1",
        &[("t", Some("a")), ("t", Some("b"))],
        now(),
    )
    .await;
    let q2 = due_records_at(
        &*backend,
        "q2",
        &[
            ("t", Some("a")),
            ("t", Some("b")),
            ("t", Some("c")),
            ("t", None),
        ],
        now(),
    )
    .await;
    backend
        .set_key_limit("t", Some(1))
        .await
        .expect("key limit");
    assert_eq!(ids(&claim(&*backend, "q1", 10, "w1").await), ids(&q1));
    let second = claim(&*backend, "q2", 10, "w2").await;
    assert_eq!(
        ids(&second),
        vec![q2[2].id, q2[3].id],
        "a and b run in the other queue: only c and the keyless task start"
    );
    let stats = row(&*backend, "t").await;
    assert_eq!(stats.running, 4);
    assert_eq!(stats.running_keys, 3, "a, b and c run one each");
}

/// A type rate limit is one bucket over every queue: starts in one queue
/// spend what the others may start.
pub async fn limit_rate_type_across_queues_share_one_bucket(backend: Arc<dyn Backend>) {
    due_in_each(&*backend, &QUEUES, 3, None).await;
    backend
        .set_type_rate_limit("t", Some(RateLimit::new(4, Duration::from_secs(3600))))
        .await
        .expect("rate limit");
    let mut started = 0;
    for queue in QUEUES {
        started += claim(&*backend, queue, 10, "w").await.len();
    }
    assert_eq!(started, 4, "four starts an hour, over all three queues");
    for queue in QUEUES {
        assert!(claim(&*backend, queue, 10, "w").await.is_empty());
    }
}

/// Claimers racing in different queues never run more than the type's
/// limit together, and every slot comes back.
pub async fn limit_type_across_queues_racing_claimers_never_exceed_it(backend: Arc<dyn Backend>) {
    const LIMIT: usize = 3;
    due_in_each(&*backend, &QUEUES, 12, None).await;
    backend
        .set_type_limit("t", Some(LIMIT as u32))
        .await
        .expect("limit");
    for (round, probed) in QUEUES.into_iter().enumerate() {
        let races = QUEUES.map(|queue| Race {
            queue,
            worker: format!("w{round}-{queue}"),
            claimers: 2,
            times: 2,
            per_claim: 2,
            at: now(),
        });
        let (a, b, c) = tokio::join!(
            races[0].run(&backend),
            races[1].run(&backend),
            races[2].run(&backend)
        );
        let claimed: Vec<TaskRecord> = a.into_iter().chain(b).chain(c).collect();
        assert_eq!(
            claimed.len(),
            LIMIT,
            "round {round}: the racing queues together took the limit"
        );
        for task in &claimed {
            finish(&*backend, task).await;
        }
        // With Redis delivery a settle reaches Redis in the background.
        assert_slots_come_back(&*backend, probed, LIMIT, round).await;
    }
    let row = row(&*backend, "t").await;
    assert_eq!(row.running, 0, "every slot came back");
}

/// A dead worker's task in one queue holds its type's slot until its
/// lease ends and the rescue moves it on; then another queue's claim
/// takes the slot: none leaks.
pub async fn limit_type_across_queues_rescue_frees_the_slot(backend: Arc<dyn Backend>) {
    let tasks = due_in_each(&*backend, &["q1", "q2"], 2, None).await;
    backend.set_type_limit("t", Some(1)).await.expect("limit");
    let start = now() - secs(5);
    let dead = claim_at(&*backend, "q1", 5, "dead", start, Duration::from_secs(1)).await;
    assert_eq!(ids(&dead), vec![tasks[0][0].id]);
    assert!(
        claim(&*backend, "q2", 5, "w").await.is_empty(),
        "an expired lease in another queue still holds the slot until rescued"
    );
    let report = backend
        .rescue_expired(now(), &RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1);
    assert_eq!(
        get(&*backend, tasks[0][0].id).await.state,
        TaskState::Pending
    );
    let next = claim_when_free(&*backend, "q2", 5).await;
    assert_eq!(ids(&next), vec![tasks[1][0].id], "the slot came back");
    assert!(
        claim(&*backend, "q1", 5, "w").await.is_empty(),
        "one at a time"
    );
}
