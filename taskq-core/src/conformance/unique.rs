//! Unique keys (`lifecycle`, "submit (unique)"): a task whose key a holder
//! of its queue holds is not stored and is reported with the holder, and
//! a holder holds only in its states and within its period.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::backend::{Backend, Enqueued, Outcome, Settlement};
use crate::task::{TaskRecord, TaskState, Unique, UniqueKey};

use super::helpers::*;

/// A due pending record holding `key` in `queue` while in `states`.
fn keyed(queue: &str, key: &str, states: &[TaskState], until: Option<DateTime<Utc>>) -> TaskRecord {
    let mut task = record("t", queue, 5, now() - secs(1));
    task.unique = Some(UniqueKey {
        key: key.to_owned(),
        states: states.to_vec(),
        until,
    });
    task
}

async fn stored(backend: &dyn Backend, task: &TaskRecord) -> bool {
    backend.get(task.id).await.expect("get").is_some()
}

/// The second task with a held key is not stored and names the holder;
/// the same key in another queue, and another key, are stored.
pub async fn unique_duplicate_names_the_holder(backend: Arc<dyn Backend>) {
    let holder = keyed("q", "k", Unique::ACTIVE, None);
    assert_eq!(
        backend
            .enqueue(vec![holder.clone()])
            .await
            .expect("enqueue"),
        Enqueued::ALL
    );
    let again = keyed("q", "k", Unique::ACTIVE, None);
    let enqueued = backend.enqueue(vec![again.clone()]).await.expect("enqueue");
    assert_eq!(enqueued.duplicates, vec![(0, holder.id)]);
    assert!(
        !stored(&*backend, &again).await,
        "a duplicate is not stored"
    );
    let other_queue = keyed("q2", "k", Unique::ACTIVE, None);
    let other_key = keyed("q", "k2", Unique::ACTIVE, None);
    let enqueued = backend
        .enqueue(vec![other_queue.clone(), other_key.clone()])
        .await
        .expect("enqueue");
    assert_eq!(enqueued, Enqueued::ALL);
    assert!(stored(&*backend, &other_queue).await && stored(&*backend, &other_key).await);
    // The holder's record keeps its key.
    assert_eq!(get(&*backend, holder.id).await.unique, holder.unique);
}

/// Within one batch, a repeat of a key is a duplicate of the first task
/// with it; the rest of the batch is stored.
pub async fn unique_batch_stores_the_first_of_each_key(backend: Arc<dyn Backend>) {
    let first = keyed("q", "k", Unique::ACTIVE, None);
    let plain = record("t", "q", 5, now());
    let repeat = keyed("q", "k", Unique::ACTIVE, None);
    let other = keyed("q", "k2", Unique::ACTIVE, None);
    let batch = vec![first.clone(), plain.clone(), repeat.clone(), other.clone()];
    let enqueued = backend.enqueue(batch).await.expect("enqueue");
    assert_eq!(enqueued.duplicates, vec![(2, first.id)]);
    for task in [&first, &plain, &other] {
        assert!(stored(&*backend, task).await, "{}", task.id);
    }
    assert!(!stored(&*backend, &repeat).await);
    // A later batch repeating a held key reports the stored holder.
    let late = keyed("q", "k2", Unique::ACTIVE, None);
    let enqueued = backend.enqueue(vec![late.clone()]).await.expect("enqueue");
    assert_eq!(enqueued.duplicates, vec![(0, other.id)]);
}

/// A holder holds while pending and running; once it ended (a state
/// outside its states) the key goes to the next task, which then holds.
pub async fn unique_key_is_free_once_the_holder_ends(backend: Arc<dyn Backend>) {
    let holder = keyed("q", "k", Unique::ACTIVE, None);
    backend
        .enqueue(vec![holder.clone()])
        .await
        .expect("enqueue");
    let running = claim(&*backend, "q", 1, "w").await;
    assert_eq!(ids(&running), vec![holder.id]);
    let while_running = keyed("q", "k", Unique::ACTIVE, None);
    let enqueued = backend.enqueue(vec![while_running]).await.expect("enqueue");
    assert_eq!(enqueued.duplicates, vec![(0, holder.id)], "running holds");
    let applied = backend
        .settle(vec![Settlement {
            id: holder.id,
            attempt: 1,
            outcome: Outcome::Finished(serde_json::json!(1)),
            at: now(),
        }])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true]);
    let next = keyed("q", "k", Unique::ACTIVE, None);
    let enqueued = backend.enqueue(vec![next.clone()]).await.expect("enqueue");
    assert_eq!(enqueued, Enqueued::ALL, "a finished holder holds nothing");
    assert!(stored(&*backend, &next).await);
    let after = keyed("q", "k", Unique::ACTIVE, None);
    let enqueued = backend.enqueue(vec![after]).await.expect("enqueue");
    assert_eq!(enqueued.duplicates, vec![(0, next.id)]);
}

/// With every state, an ended holder still holds within its period, and
/// holds nothing once the period is over; a deleted holder holds nothing.
pub async fn unique_period_and_delete_end_the_hold(backend: Arc<dyn Backend>) {
    let all = &TaskState::ALL;
    let until = now() + chrono::Duration::milliseconds(600);
    let holder = keyed("q", "k", all, Some(until));
    backend
        .enqueue(vec![holder.clone()])
        .await
        .expect("enqueue");
    backend.cancel(holder.id, now()).await.expect("cancel");
    let within = keyed("q", "k", all, None);
    let enqueued = backend.enqueue(vec![within]).await.expect("enqueue");
    assert_eq!(
        enqueued.duplicates,
        vec![(0, holder.id)],
        "cancelled, in period"
    );
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let after = keyed("q", "k", all, None);
    let enqueued = backend.enqueue(vec![after.clone()]).await.expect("enqueue");
    assert_eq!(enqueued, Enqueued::ALL, "the period ended");
    // `after` holds in every state with no period: only its deletion
    // frees the key.
    backend.cancel(after.id, now()).await.expect("cancel");
    let blocked = keyed("q", "k", all, None);
    let enqueued = backend.enqueue(vec![blocked]).await.expect("enqueue");
    assert_eq!(enqueued.duplicates, vec![(0, after.id)]);
    backend.delete_task(after.id).await.expect("delete");
    let last = keyed("q", "k", all, None);
    let enqueued = backend.enqueue(vec![last.clone()]).await.expect("enqueue");
    assert_eq!(enqueued, Enqueued::ALL, "a deleted holder holds nothing");
    assert!(stored(&*backend, &last).await);
}

/// Concurrent submits of one key store exactly one task, and every other
/// submit names it.
pub async fn unique_concurrent_submits_store_one(backend: Arc<dyn Backend>) {
    let tasks: Vec<TaskRecord> = (0..8)
        .map(|_| keyed("q", "race", Unique::ACTIVE, None))
        .collect();
    let calls = tasks.iter().map(|task| {
        let backend = backend.clone();
        let task = task.clone();
        tokio::spawn(async move { backend.enqueue(vec![task]).await })
    });
    let mut holders = Vec::new();
    let mut stored_ids = Vec::new();
    for (task, call) in tasks.iter().zip(calls) {
        let enqueued = call.await.expect("join").expect("enqueue");
        match enqueued.duplicates.as_slice() {
            [] => stored_ids.push(task.id),
            [(0, holder)] => holders.push(*holder),
            other => panic!("unexpected duplicates {other:?}"),
        }
    }
    assert_eq!(stored_ids.len(), 1, "exactly one stored: {stored_ids:?}");
    assert!(holders.iter().all(|h| *h == stored_ids[0]), "{holders:?}");
    let mut found = 0;
    for task in &tasks {
        found += usize::from(stored(&*backend, task).await);
    }
    assert_eq!(found, 1);
}
