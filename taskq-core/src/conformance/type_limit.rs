//! Task type and key limits (`lifecycle`, "claim (type limit)"): a claim
//! passes over the tasks of a type, or of a concurrency key, at its limit
//! (they keep their place) and takes the others, racing claimers together
//! never exceed it, and a slot comes back when its task leaves `RUNNING`
//! — settled or rescued.
//!
//! Every rule uses one queue; `type_limit_queues` has the rules over
//! several.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::Backend;
use crate::error::Error;
use crate::lifecycle::RetryPolicy;
use crate::task::{TaskRecord, TaskState};

use super::helpers::*;
use super::limit_setup::*;

/// Due pending tasks of `queue`, one per type in `types`, enqueued in
/// claim order.
async fn due_typed(backend: &dyn Backend, queue: &str, types: &[&str]) -> Vec<TaskRecord> {
    let tasks: Vec<(&str, Option<&str>)> = types.iter().map(|t| (*t, None)).collect();
    due_records_at(backend, queue, &tasks, now()).await
}

fn count_of(tasks: &[TaskRecord], task_type: &str) -> usize {
    tasks.iter().filter(|t| t.task_type == task_type).count()
}

/// A type limit caps a claim's tasks of that type; the claim takes the
/// queue's other types past them; a settle frees the slot; the stored
/// limit is listed with its running count.
pub async fn limit_type_caps_a_claim_and_others_pass(backend: Arc<dyn Backend>) {
    let tasks = due_typed(&*backend, "q", &["a", "a", "a", "b", "a", "b", "a", "b"]).await;
    backend.set_type_limit("a", Some(2)).await.expect("limit");
    let first = claim(&*backend, "q", 10, "w1").await;
    assert_eq!(count_of(&first, "a"), 2, "capped at the limit");
    assert_eq!(count_of(&first, "b"), 3, "other types are claimed past it");
    assert_eq!(
        ids(&first[..2]),
        vec![tasks[0].id, tasks[1].id],
        "in claim order"
    );
    assert!(
        claim(&*backend, "q", 10, "w2").await.is_empty(),
        "another worker finds the type full"
    );
    let row = limit_row(&*backend, "a").await.expect("listed");
    assert_eq!((row.limit, row.running), (Some(2), 2));
    assert!(limit_row(&*backend, "b").await.is_none(), "b has no limit");
    finish(&*backend, &first[0]).await;
    let next = claim_when_free(&*backend, "q", 10).await;
    assert_eq!(ids(&next), vec![tasks[2].id], "the next a, in its place");
}

/// Claimers racing on a limited type never run more than the limit
/// together, round after round, and every slot comes back.
pub async fn limit_type_concurrent_claimers_never_exceed_it(backend: Arc<dyn Backend>) {
    const LIMIT: usize = 3;
    const CLAIMERS: usize = 4;
    let types: Vec<&str> = (0..40).map(|_| "a").collect();
    due_typed(&*backend, "q", &types).await;
    backend
        .set_type_limit("a", Some(LIMIT as u32))
        .await
        .expect("limit");
    for round in 0..3 {
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
        let row = limit_row(&*backend, "a").await.expect("listed");
        assert_eq!(row.running, LIMIT as u64, "round {round}");
        for task in &claimed {
            finish(&*backend, task).await;
        }
        assert_slots_come_back(&*backend, "q", LIMIT, round).await;
    }
}

/// A task whose worker died holds its type's slot until the rescue moves
/// it out of `RUNNING`; then the slot is free: none leaks.
pub async fn limit_type_rescued_task_frees_its_slot(backend: Arc<dyn Backend>) {
    let tasks = due_typed(&*backend, "q", &["a", "a", "a"]).await;
    backend.set_type_limit("a", Some(1)).await.expect("limit");
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
    assert_eq!(limit_row(&*backend, "a").await.expect("listed").running, 1);
}

/// Lowering stops claims until enough end, clearing lifts the limit at
/// once, a limit of 0 is refused and changes nothing, and a queue limit
/// and a type limit together take the least.
pub async fn limit_type_change_clear_and_zero(backend: Arc<dyn Backend>) {
    let types: Vec<&str> = (0..8).map(|_| "a").collect();
    due_typed(&*backend, "q", &types).await;
    assert!(matches!(
        backend.set_type_limit("a", Some(0)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(limit_row(&*backend, "a").await.is_none(), "nothing stored");
    backend.set_type_limit("a", Some(3)).await.expect("limit");
    assert!(matches!(
        backend.set_type_limit("a", Some(0)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        limit_row(&*backend, "a").await.expect("kept").limit,
        Some(3)
    );
    backend
        .set_queue_limit("q", Some(2))
        .await
        .expect("q limit");
    assert_eq!(
        claim(&*backend, "q", 10, "w").await.len(),
        2,
        "the queue's limit is the lesser"
    );
    backend.set_queue_limit("q", None).await.expect("q clear");
    assert_eq!(
        claim(&*backend, "q", 10, "w").await.len(),
        1,
        "then the type's"
    );
    backend.set_type_limit("a", Some(1)).await.expect("lower");
    assert!(
        claim(&*backend, "q", 10, "w").await.is_empty(),
        "over a lowered limit: nothing more runs"
    );
    backend.set_type_limit("a", None).await.expect("clear");
    assert!(limit_row(&*backend, "a").await.is_none(), "cleared");
    assert_eq!(claim(&*backend, "q", 10, "w").await.len(), 5, "unlimited");
    // A type with a limit and no task is listed, with it.
    backend
        .set_type_limit("idle", Some(7))
        .await
        .expect("limit");
    let row = limit_row(&*backend, "idle").await.expect("listed");
    assert_eq!((row.limit, row.running), (Some(7), 0));
}

/// A claim for a worker that runs only a limited type stops at the
/// limit; one for a worker that runs only other types never sees it.
pub async fn limit_type_respects_the_claim_types(backend: Arc<dyn Backend>) {
    due_typed(&*backend, "q", &["a", "a", "b", "a", "b"]).await;
    backend.set_type_limit("a", Some(1)).await.expect("limit");
    let only_a = claim_types(&*backend, "q", 10, &["a"]).await;
    assert_eq!(count_of(&only_a, "a"), 1);
    assert!(claim_types(&*backend, "q", 10, &["a"]).await.is_empty());
    let only_b = claim_types(&*backend, "q", 10, &["b"]).await;
    assert_eq!(count_of(&only_b, "b"), 2);
}

/// Claims up to `limit` tasks of `queue` of the given types.
async fn claim_types(
    backend: &dyn Backend,
    queue: &str,
    limit: usize,
    types: &[&str],
) -> Vec<TaskRecord> {
    backend
        .claim(crate::backend::ClaimRequest {
            queue,
            limit,
            worker_id: "typed",
            lease: Duration::from_secs(30),
            now: now(),
            task_types: Some(types),
        })
        .await
        .expect("claim")
}

/// Due pending tasks of type `t` in `queue` with the given keys, in claim
/// order.
async fn due_keyed(backend: &dyn Backend, queue: &str, keys: &[Option<&str>]) -> Vec<TaskRecord> {
    let tasks: Vec<(&str, Option<&str>)> = keys.iter().map(|k| ("t", *k)).collect();
    due_records_at(backend, queue, &tasks, now()).await
}

fn keys_of(tasks: &[TaskRecord]) -> Vec<Option<&str>> {
    tasks.iter().map(|t| t.concurrency_key.as_deref()).collect()
}

/// A key limit caps each key apart, tasks without a key pass, the key
/// round-trips on the claimed record, and a settle frees the key's slot.
pub async fn limit_key_caps_each_key_apart(backend: Arc<dyn Backend>) {
    let tasks = due_keyed(
        &*backend,
        "q",
        &[
            Some("a"),
            Some("a"),
            Some("b"),
            Some("a"),
            None,
            Some("b"),
            Some("c"),
        ],
    )
    .await;
    backend
        .set_key_limit("t", Some(1))
        .await
        .expect("key limit");
    let first = claim(&*backend, "q", 10, "w1").await;
    assert_eq!(
        keys_of(&first),
        vec![Some("a"), Some("b"), None, Some("c")],
        "one per key, the keyless one too, in claim order"
    );
    assert!(
        claim(&*backend, "q", 10, "w2").await.is_empty(),
        "every key full"
    );
    let row = limit_row(&*backend, "t").await.expect("listed");
    assert_eq!((row.limit, row.key_limit, row.running), (None, Some(1), 4));
    assert_eq!(
        get(&*backend, tasks[0].id).await.concurrency_key.as_deref(),
        Some("a")
    );
    finish(&*backend, &first[0]).await;
    let next = claim_when_free(&*backend, "q", 10).await;
    assert_eq!(ids(&next), vec![tasks[1].id], "a's next, in its place");
}

/// Claimers racing on one key never run more than its limit together,
/// while each of many other keys runs its own.
pub async fn limit_key_concurrent_claimers_never_exceed_it(backend: Arc<dyn Backend>) {
    const CLAIMERS: usize = 4;
    let mut keys: Vec<Option<String>> = (0..12).map(|_| Some("hot".to_owned())).collect();
    keys.extend((0..20).map(|i| Some(format!("k{i}"))));
    let keys_ref: Vec<Option<&str>> = keys.iter().map(|k| k.as_deref()).collect();
    due_keyed(&*backend, "q", &keys_ref).await;
    backend
        .set_key_limit("t", Some(2))
        .await
        .expect("key limit");
    let claimed = Race {
        queue: "q",
        worker: "w".to_owned(),
        claimers: CLAIMERS,
        times: 4,
        per_claim: 3,
        at: now(),
    }
    .run(&backend)
    .await;
    let hot = claimed
        .iter()
        .filter(|t| t.concurrency_key.as_deref() == Some("hot"))
        .count();
    assert_eq!(hot, 2, "exactly the key's limit ran");
    assert_eq!(claimed.len(), 22, "every other key ran");
    let row = limit_row(&*backend, "t").await.expect("listed");
    assert_eq!(row.running, 22);
}

/// A task whose worker died holds its key's slot until the rescue moves
/// it out of `RUNNING`; a type limit and a key limit together take the
/// least; clearing lifts; 0 is refused.
pub async fn limit_key_rescue_frees_and_limits_combine(backend: Arc<dyn Backend>) {
    let tasks = due_keyed(
        &*backend,
        "q",
        &[Some("a"), Some("a"), Some("b"), Some("c"), Some("d")],
    )
    .await;
    assert!(matches!(
        backend.set_key_limit("t", Some(0)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(limit_row(&*backend, "t").await.is_none(), "nothing stored");
    backend
        .set_key_limit("t", Some(1))
        .await
        .expect("key limit");
    let start = now() - secs(5);
    let dead = claim_at(&*backend, "q", 1, "dead", start, Duration::from_secs(1)).await;
    assert_eq!(ids(&dead), vec![tasks[0].id]);
    backend.set_type_limit("t", Some(2)).await.expect("limit");
    let got = claim(&*backend, "q", 10, "w").await;
    assert_eq!(
        ids(&got),
        vec![tasks[2].id],
        "a is held by the dead lease, and the type has one slot left"
    );
    backend
        .rescue_expired(now(), &RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    // The rescued task is due again at the back of the queue.
    let got = claim(&*backend, "q", 10, "w").await;
    assert_eq!(ids(&got), vec![tasks[1].id], "a's slot is free again");
    backend.set_type_limit("t", None).await.expect("clear");
    let row = limit_row(&*backend, "t").await.expect("key limit kept");
    assert_eq!((row.limit, row.key_limit), (None, Some(1)));
    let got = claim(&*backend, "q", 10, "w").await;
    assert_eq!(ids(&got), vec![tasks[3].id, tasks[4].id], "a is still full");
    backend.set_key_limit("t", None).await.expect("clear");
    assert!(limit_row(&*backend, "t").await.is_none(), "no limit left");
    assert_eq!(claim(&*backend, "q", 10, "w").await.len(), 1, "a's second");
}

/// A limit set after a claim took the type while it had none binds the
/// next claim, of this worker or another (nothing keeps "no limit" from
/// an earlier claim), and binds the first claim of a queue first used
/// after it was set.
pub async fn limit_type_set_after_a_claim_binds_the_next(backend: Arc<dyn Backend>) {
    due_typed(&*backend, "q", &["a", "a", "a"]).await;
    let first = claim(&*backend, "q", 1, "w1").await;
    assert_eq!(count_of(&first, "a"), 1, "no limit yet");
    backend.set_type_limit("a", Some(1)).await.expect("limit");
    assert!(
        claim(&*backend, "q", 10, "w1").await.is_empty(),
        "the limit set after the first claim binds the same worker's next"
    );
    assert!(claim(&*backend, "q", 10, "w2").await.is_empty());
    backend.set_type_limit("c", Some(1)).await.expect("limit");
    due_typed(&*backend, "fresh", &["c", "c"]).await;
    let fresh = claim(&*backend, "fresh", 10, "w1").await;
    assert_eq!(
        count_of(&fresh, "c"),
        1,
        "a queue first used after the limit"
    );
}

/// As [`limit_type_set_after_a_claim_binds_the_next`] for a key limit,
/// and the listing counts the running keys: how many, and the busiest
/// first.
pub async fn limit_key_set_after_a_claim_binds_and_lists_running_keys(backend: Arc<dyn Backend>) {
    due_keyed(
        &*backend,
        "q",
        &[Some("a"), Some("a"), Some("b"), Some("a"), Some("b"), None],
    )
    .await;
    let first = claim(&*backend, "q", 3, "w1").await;
    assert_eq!(keys_of(&first), vec![Some("a"), Some("a"), Some("b")]);
    backend
        .set_key_limit("t", Some(1))
        .await
        .expect("key limit");
    let next = claim(&*backend, "q", 10, "w1").await;
    assert_eq!(
        keys_of(&next),
        vec![None],
        "a and b are at the limit set after the first claim; no key passes"
    );
    let row = limit_row(&*backend, "t").await.expect("listed");
    assert_eq!(
        (row.key_limit, row.running, row.running_keys),
        (Some(1), 4, 2)
    );
    let top: Vec<(&str, u64)> = row
        .top_keys
        .iter()
        .map(|k| (k.key.as_str(), k.running))
        .collect();
    assert_eq!(top, vec![("a", 2), ("b", 1)], "busiest first");
}

/// A claim that meets a limited type among others takes them all, in
/// claim order, while the limit has room, and takes the others past the
/// type's task once it is full.
pub async fn limit_type_mixed_claim_keeps_claim_order(backend: Arc<dyn Backend>) {
    let tasks = due_typed(&*backend, "q", &["b", "a", "b", "a", "b"]).await;
    backend.set_type_limit("a", Some(1)).await.expect("limit");
    let first = claim(&*backend, "q", 3, "w1").await;
    assert_eq!(ids(&first), ids(&tasks[..3]), "in claim order");
    let next = claim(&*backend, "q", 10, "w2").await;
    assert_eq!(ids(&next), vec![tasks[4].id], "the full type's task stays");
}

/// A claim whose room the limited type's tasks fill, when the type turns
/// out full, still takes the other types behind them in the same claim
/// (Redis lists a limited type's tasks before its permits are asked for;
/// found by the model test).
pub async fn limit_type_full_claim_still_takes_the_types_behind(backend: Arc<dyn Backend>) {
    let tasks = due_typed(&*backend, "q", &["a", "a", "b"]).await;
    backend.set_type_limit("a", Some(1)).await.expect("limit");
    let first = claim(&*backend, "q", 2, "w1").await;
    assert_eq!(
        ids(&first),
        vec![tasks[0].id, tasks[2].id],
        "one a (the limit), then the b past the held a, in one claim"
    );
}

/// A task with a concurrency key, of a type with a type limit and no key
/// limit, keeps its lease at a heartbeat (on Redis its permit sits in the
/// type's set only; found by the model test).
pub async fn limit_type_keyed_task_without_key_limit_keeps_its_lease(backend: Arc<dyn Backend>) {
    let tasks = due_records_at(&*backend, "q", &[("a", Some("k1"))], now()).await;
    backend.set_type_limit("a", Some(1)).await.expect("limit");
    let claimed = claim(&*backend, "q", 1, "w1").await;
    assert_eq!(ids(&claimed), ids(&tasks));
    let status = backend
        .heartbeat(
            "w1",
            &[(claimed[0].id, claimed[0].attempt)],
            now() + secs(60),
        )
        .await
        .expect("heartbeat");
    assert_eq!(status, vec![crate::backend::LeaseStatus::Held]);
    finish(&*backend, &claimed[0]).await;
    assert_eq!(
        claim(&*backend, "q", 1, "w1").await.len(),
        0,
        "nothing left; the slot came back"
    );
    assert_eq!(limit_row(&*backend, "a").await.map(|r| r.running), Some(0));
}
