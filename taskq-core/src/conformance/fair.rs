//! Fair queues (`lifecycle`, "submit (fair queue)" and "claim order"):
//! in a fair queue the concurrency keys take turns among equal priority,
//! so a small key's task is claimed within the first claims behind a big
//! key's backlog; in a queue that is not fair it waits behind all of it.
//! The queue's current round follows the claims, a retry keeps its round,
//! a reorder moves among rounds, and the stats show the setting.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::backend::{Backend, Outcome, Position, Settlement};
use crate::task::{TaskFailure, TaskId, TaskRecord};

use super::helpers::*;

/// The big key's backlog in these rules.
const BIG: i64 = 1000;

/// A pending task of `queue` with concurrency key `key`, due at `at`.
fn keyed(queue: &str, key: Option<&str>, at: DateTime<Utc>) -> TaskRecord {
    let mut task = record("t", queue, 0, at);
    task.concurrency_key = key.map(str::to_owned);
    task
}

/// `n` tasks of key `big` in `queue`, then one of `small` and one without
/// a key, each due a millisecond after the one before, from `t0`.
async fn backlog(backend: &dyn Backend, queue: &str, t0: DateTime<Utc>) -> (TaskId, TaskId) {
    let ms = chrono::Duration::milliseconds;
    let tasks: Vec<TaskRecord> = (0..BIG)
        .map(|i| keyed(queue, Some("big"), t0 + ms(i)))
        .collect();
    backend.enqueue(tasks).await.expect("enqueue the big key");
    let small = keyed(queue, Some("small"), t0 + ms(BIG));
    let plain = keyed(queue, None, t0 + ms(BIG + 1));
    let ids = (small.id, plain.id);
    backend
        .enqueue(vec![small, plain])
        .await
        .expect("enqueue the small ones");
    ids
}

async fn is_fair(backend: &dyn Backend, queue: &str) -> bool {
    backend
        .queue_stats()
        .await
        .expect("stats")
        .into_iter()
        .find(|s| s.queue == queue)
        .is_some_and(|s| s.fair)
}

/// Fair on: the small key's single task (and the task without a key, the
/// lane `""`) are claimed within the first three claims behind 1,000 tasks
/// of a big key. Fair off (another queue): after all of them.
pub async fn fair_small_key_goes_first_behind_a_big_key(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(60);
    backend.set_queue_fair("fair", true).await.expect("fair");
    assert!(is_fair(&*backend, "fair").await);
    let (small, plain) = backlog(&*backend, "fair", t0).await;
    let first = ids(&claim(&*backend, "fair", 3, "w").await);
    assert!(
        first.contains(&small) && first.contains(&plain),
        "fair: the small key and the keyless task within the first three claims"
    );
    let stored = get(&*backend, small).await;
    assert!(stored.fair_round >= crate::lifecycle::FIRST_ROUND);

    let (small, plain) = backlog(&*backend, "plain", t0).await;
    assert!(!is_fair(&*backend, "plain").await);
    let all = ids(&claim(&*backend, "plain", usize::try_from(BIG).unwrap_or(0), "w").await);
    assert!(
        !all.contains(&small) && !all.contains(&plain),
        "not fair: FIFO"
    );
    assert_eq!(get(&*backend, small).await.fair_round, 0);
    assert_eq!(
        ids(&claim(&*backend, "plain", 2, "w").await),
        vec![small, plain]
    );
}

/// A key that arrives after claims took part of a backlog starts at the
/// round being claimed now (the queue's current round follows claims).
pub async fn fair_late_key_starts_at_the_claimed_round(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(60);
    let ms = chrono::Duration::milliseconds;
    backend.set_queue_fair("q", true).await.expect("fair");
    let tasks: Vec<TaskRecord> = (0..BIG)
        .map(|i| keyed("q", Some("big"), t0 + ms(i)))
        .collect();
    backend.enqueue(tasks).await.expect("enqueue");
    let taken = claim(&*backend, "q", 500, "w").await;
    assert_eq!(taken.len(), 500);
    let late = keyed("q", Some("late"), t0 + ms(BIG));
    let late_id = late.id;
    backend.enqueue(vec![late]).await.expect("enqueue late");
    let next = ids(&claim(&*backend, "q", 2, "w").await);
    assert!(
        next.contains(&late_id),
        "late key within the next two claims"
    );
}

/// A retried task keeps its round (it runs before the backlog behind it);
/// setting the queue not fair shows in the stats, and a task submitted
/// then has round 0, so it goes before the tasks that have rounds.
pub async fn fair_retry_keeps_its_round_and_off_gives_round_zero(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(60);
    backend.set_queue_fair("q", true).await.expect("fair");
    backend.set_queue_fair("q", true).await.expect("fair twice");
    backlog(&*backend, "q", t0).await;
    let first = claim(&*backend, "q", 1, "w").await;
    let [task] = first.as_slice() else {
        panic!("one claimed")
    };
    let failure = TaskFailure {
        kind: crate::task::ErrorKind::Retryable,
        message: "again".into(),
    };
    let applied = backend
        .settle(vec![Settlement {
            id: task.id,
            attempt: task.attempt,
            outcome: Outcome::Retry {
                error: failure,
                run_at: now() - secs(1),
            },
            at: now(),
        }])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true]);
    assert_eq!(get(&*backend, task.id).await.fair_round, task.fair_round);
    // Round 1 holds the small key's and the keyless task, submitted
    // before the retry's new `seq`; the big key's rounds 2.. come after.
    let again = ids(&claim(&*backend, "q", 3, "w").await);
    assert!(again.contains(&task.id), "the retry keeps its round");

    backend.set_queue_fair("q", false).await.expect("off");
    assert!(!is_fair(&*backend, "q").await);
    let after = keyed("q", Some("big"), now() - secs(1));
    let after_id = after.id;
    backend.enqueue(vec![after]).await.expect("enqueue");
    assert_eq!(get(&*backend, after_id).await.fair_round, 0);
    let next = ids(&claim(&*backend, "q", 1, "w").await);
    assert_eq!(next, vec![after_id], "round 0 before the rounds");
}

/// A reorder in a fair queue moves among rounds: to the front takes the
/// first round of the top priority, to the back the last of the bottom
/// one, before a task takes its round.
pub async fn fair_reorder_moves_among_rounds(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(60);
    let ms = chrono::Duration::milliseconds;
    backend.set_queue_fair("q", true).await.expect("fair");
    // Key a: rounds 1, 2, 3; key b: round 1.
    let a: Vec<TaskRecord> = (0..3).map(|i| keyed("q", Some("a"), t0 + ms(i))).collect();
    let b = keyed("q", Some("b"), t0 + ms(3));
    let [a1, a2, a3] = [a[0].id, a[1].id, a[2].id];
    let b1 = b.id;
    backend.enqueue(a).await.expect("enqueue a");
    backend.enqueue(vec![b]).await.expect("enqueue b");
    let last = backend.reorder(a3, Position::Front).await.expect("front");
    assert_eq!(last.fair_round, 1);
    // The last group is a2's, round 2.
    let back = backend.reorder(b1, Position::Back).await.expect("back");
    assert_eq!(back.fair_round, 2);
    let before = backend
        .reorder(a1, Position::Before(b1))
        .await
        .expect("before");
    assert_eq!(before.fair_round, 2);
    let order = ids(&claim(&*backend, "q", 4, "w").await);
    assert_eq!(order, vec![a3, a2, a1, b1]);
}

/// One submit over a fair queue and a queue that is not: every task is
/// stored, the fair queue's tasks of one key take successive rounds and
/// the other queue's keep round 0 (SQLite's and PostgreSQL's guarded
/// one-statement insert refuses such a batch, and the transaction that
/// gives rounds stores it).
pub async fn fair_batch_over_a_fair_and_a_plain_queue(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(60);
    let ms = chrono::Duration::milliseconds;
    backend.set_queue_fair("fq", true).await.expect("fair");
    let tasks: Vec<TaskRecord> = [("fq", 0), ("fq", 1), ("pq", 2), ("pq", 3)]
        .into_iter()
        .map(|(queue, i)| keyed(queue, Some("a"), t0 + ms(i)))
        .collect();
    let stored: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
    backend.enqueue(tasks).await.expect("enqueue");
    let mut rounds = Vec::new();
    for id in stored {
        rounds.push(get(&*backend, id).await.fair_round);
    }
    let first = crate::lifecycle::FIRST_ROUND;
    assert_eq!(rounds, vec![first, first + 1, 0, 0]);
}
