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

/// A key whose pending tasks were cancelled (or expired) before they ran
/// starts again at the current round (`lifecycle::owed_next`): its next
/// task is claimed within the first claims, not after the rounds the
/// tasks that left had; while some still wait, it goes after them.
pub async fn fair_cancelled_lane_starts_at_the_current_round(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(60);
    let ms = chrono::Duration::milliseconds;
    backend.set_queue_fair("q", true).await.expect("fair");
    let gone: Vec<TaskRecord> = (0..200)
        .map(|i| keyed("q", Some("gone"), t0 + ms(i)))
        .collect();
    let gone_ids = ids(&gone);
    let other: Vec<TaskRecord> = (0..200)
        .map(|i| keyed("q", Some("other"), t0 + ms(200 + i)))
        .collect();
    backend.enqueue(gone).await.expect("enqueue gone");
    backend.enqueue(other).await.expect("enqueue other");
    // The last 150 of `gone` cancelled: its first 50 still wait.
    for &id in &gone_ids[50..] {
        backend.cancel(id, now()).await.expect("cancel");
    }
    let late = keyed("q", Some("gone"), t0 + ms(400));
    let late_id = late.id;
    backend.enqueue(vec![late]).await.expect("enqueue late");
    assert_eq!(
        get(&*backend, late_id).await.fair_round,
        51,
        "after the rounds its waiting tasks hold, not the cancelled ones'"
    );
    // Then the first 50 and the late one cancelled too; three claims
    // take `other`'s rounds 1 to 3.
    for &id in gone_ids[..50].iter().chain([&late_id]) {
        backend.cancel(id, now()).await.expect("cancel");
    }
    assert_eq!(claim(&*backend, "q", 3, "w").await.len(), 3);
    let again = keyed("q", Some("gone"), t0 + ms(401));
    let again_id = again.id;
    backend.enqueue(vec![again]).await.expect("enqueue again");
    assert_eq!(get(&*backend, again_id).await.fair_round, 3);
    let next = ids(&claim(&*backend, "q", 1, "w").await);
    assert_eq!(
        next,
        vec![again_id],
        "none of the key waits: it starts at the current round, before `other`'s backlog"
    );
}

/// As [`fair_cancelled_lane_starts_at_the_current_round`] for tasks that
/// expired before they ran (the expiry sweep), and for a lane without a
/// key (`""`); a key in another queue is its own lane.
pub async fn fair_cancelled_lane_expired_and_keyless_and_per_queue(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(60);
    let ms = chrono::Duration::milliseconds;
    backend.set_queue_fair("q", true).await.expect("fair");
    backend.set_queue_fair("q2", true).await.expect("fair");
    let mut doomed: Vec<TaskRecord> = (0..100).map(|i| keyed("q", None, t0 + ms(i))).collect();
    for task in &mut doomed {
        task.expires_at = Some(now() + secs(1));
    }
    let elsewhere: Vec<TaskRecord> = (0..100).map(|i| keyed("q2", None, t0 + ms(i))).collect();
    let busy: Vec<TaskRecord> = (0..100)
        .map(|i| keyed("q", Some("busy"), t0 + ms(100 + i)))
        .collect();
    backend.enqueue(doomed).await.expect("enqueue doomed");
    backend.enqueue(elsewhere).await.expect("enqueue elsewhere");
    backend.enqueue(busy).await.expect("enqueue busy");
    let expired = backend
        .expire_overdue(now() + secs(2), 1000)
        .await
        .expect("expire");
    assert_eq!(expired, 100);
    let late = keyed("q", None, t0 + ms(300));
    let late_id = late.id;
    backend.enqueue(vec![late]).await.expect("enqueue late");
    assert_eq!(get(&*backend, late_id).await.fair_round, 1);
    let first = ids(&claim(&*backend, "q", 2, "w").await);
    assert!(first.contains(&late_id), "the keyless lane starts again");
    let elsewhere_late = keyed("q2", None, t0 + ms(301));
    let elsewhere_id = elsewhere_late.id;
    backend
        .enqueue(vec![elsewhere_late])
        .await
        .expect("enqueue");
    assert_eq!(
        get(&*backend, elsewhere_id).await.fair_round,
        101,
        "q2's lane still waits with its 100"
    );
}

/// The weights set in `queue`, as `(key, weight)`.
async fn weights(backend: &dyn Backend, queue: &str) -> Vec<(String, u32)> {
    backend
        .fair_weights(queue)
        .await
        .expect("weights")
        .into_iter()
        .map(|w| (w.key, w.weight))
        .collect()
}

/// A key of weight 3 gets three turns to a weight-1 key's one
/// (`lifecycle::fair_turn`): the claims alternate three of it, one of
/// the other.
pub async fn fair_weight_three_turns_to_one(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(60);
    let ms = chrono::Duration::milliseconds;
    backend.set_queue_fair("q", true).await.expect("fair");
    backend
        .set_fair_weight("q", "heavy", Some(3))
        .await
        .expect("weight");
    let heavy: Vec<TaskRecord> = (0..30)
        .map(|i| keyed("q", Some("heavy"), t0 + ms(i)))
        .collect();
    let light: Vec<TaskRecord> = (0..10)
        .map(|i| keyed("q", Some("light"), t0 + ms(30 + i)))
        .collect();
    let light_ids = ids(&light);
    backend.enqueue(heavy).await.expect("enqueue heavy");
    backend.enqueue(light).await.expect("enqueue light");
    let taken = claim(&*backend, "q", 12, "w").await;
    let pattern: String = taken
        .iter()
        .map(|t| if light_ids.contains(&t.id) { 'l' } else { 'h' })
        .collect();
    assert_eq!(pattern, "hhhlhhhlhhhl", "three of the weight-3 key to one");
    assert_eq!(weights(&*backend, "q").await, [("heavy".to_owned(), 3)]);
}

/// A weight set back to the default (`None`) is no longer listed and the
/// key's next tasks take a round each; a weight outlives the queue set
/// not fair and fair again; the weights of a key in another queue are
/// its own.
pub async fn fair_weight_reset_and_per_queue(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(60);
    let ms = chrono::Duration::milliseconds;
    backend.set_queue_fair("q", true).await.expect("fair");
    backend.set_queue_fair("q2", true).await.expect("fair");
    backend
        .set_fair_weight("q", "k", Some(3))
        .await
        .expect("weight");
    backend
        .set_fair_weight("q2", "k", Some(2))
        .await
        .expect("weight");
    backend
        .set_fair_weight("q", "z", Some(5))
        .await
        .expect("weight");
    backend.set_queue_fair("q", false).await.expect("off");
    backend.set_queue_fair("q", true).await.expect("on");
    assert_eq!(
        weights(&*backend, "q").await,
        [("k".to_owned(), 3), ("z".to_owned(), 5)],
        "kept through off and on"
    );
    let tasks: Vec<TaskRecord> = (0..3).map(|i| keyed("q", Some("k"), t0 + ms(i))).collect();
    let first = ids(&tasks);
    backend.enqueue(tasks).await.expect("enqueue");
    for id in first {
        assert_eq!(get(&*backend, id).await.fair_round, 1, "three in a round");
    }
    backend
        .set_fair_weight("q", "k", None)
        .await
        .expect("reset");
    assert_eq!(weights(&*backend, "q").await, [("z".to_owned(), 5)]);
    assert_eq!(weights(&*backend, "q2").await, [("k".to_owned(), 2)]);
    let tasks: Vec<TaskRecord> = (0..2)
        .map(|i| keyed("q", Some("k"), t0 + ms(3 + i)))
        .collect();
    let after = ids(&tasks);
    backend.enqueue(tasks).await.expect("enqueue");
    assert_eq!(get(&*backend, after[0]).await.fair_round, 2);
    assert_eq!(get(&*backend, after[1]).await.fair_round, 3, "one a round");
    let in_q2: Vec<TaskRecord> = (0..3).map(|i| keyed("q2", Some("k"), t0 + ms(i))).collect();
    let in_q2 = {
        let ids = ids(&in_q2);
        backend.enqueue(in_q2).await.expect("enqueue q2");
        ids
    };
    let mut rounds = Vec::new();
    for id in in_q2 {
        rounds.push(get(&*backend, id).await.fair_round);
    }
    assert_eq!(rounds, [1, 1, 2], "weight 2 in q2");
}

/// A weight of 0, one above `lifecycle::MAX_FAIR_WEIGHT` or an empty key
/// is `InvalidArgument`, and nothing is stored.
pub async fn fair_weight_bad_input_is_refused(backend: Arc<dyn Backend>) {
    backend.set_queue_fair("q", true).await.expect("fair");
    backend
        .set_fair_weight("q", "k", Some(2))
        .await
        .expect("weight");
    let too_big = crate::lifecycle::MAX_FAIR_WEIGHT + 1;
    for (key, weight) in [
        ("k", Some(0)),
        ("k", Some(too_big)),
        ("", Some(2)),
        ("", None),
    ] {
        assert!(
            matches!(
                backend.set_fair_weight("q", key, weight).await,
                Err(crate::Error::InvalidArgument(_))
            ),
            "{key:?} {weight:?}"
        );
    }
    assert_eq!(weights(&*backend, "q").await, [("k".to_owned(), 2)], "kept");
    assert!(weights(&*backend, "other").await.is_empty());
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

/// A batch to a fair queue that repeats a stored id is refused as a
/// duplicate, stores nothing, and takes no round: the SQL backends refuse
/// it inside the transaction that gives rounds, and name the clash with a
/// read after that transaction is given back (a SQLite pool may hold one
/// connection).
pub async fn fair_batch_with_a_stored_id_is_refused(backend: Arc<dyn Backend>) {
    let t0 = now() - secs(60);
    let ms = chrono::Duration::milliseconds;
    backend.set_queue_fair("fq", true).await.expect("fair");
    let first = keyed("fq", Some("a"), t0);
    let stored = first.id;
    backend.enqueue(vec![first]).await.expect("enqueue");
    let fresh = keyed("fq", Some("a"), t0 + ms(1));
    let fresh_id = fresh.id;
    let mut repeat = keyed("fq", Some("a"), t0 + ms(2));
    repeat.id = stored;
    let refused = backend.enqueue(vec![fresh, repeat]).await;
    assert!(
        matches!(refused, Err(crate::Error::TaskExists(id)) if id == stored),
        "{refused:?}"
    );
    assert!(
        backend.get(fresh_id).await.expect("get").is_none(),
        "all or none"
    );
    let next = keyed("fq", Some("a"), t0 + ms(3));
    let next_id = next.id;
    backend.enqueue(vec![next]).await.expect("enqueue");
    let first_round = get(&*backend, stored).await.fair_round;
    assert_eq!(get(&*backend, next_id).await.fair_round, first_round + 1);
}
