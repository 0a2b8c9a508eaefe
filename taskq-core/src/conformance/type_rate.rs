//! Task type and key rate limits (`lifecycle`, "claim (type rate)"): a
//! claim admits a type's task only while the type's token bucket, and its
//! key's bucket for a key rate limit, cover one more start; a task held
//! back stays `PENDING` in its place and the claim takes the others past
//! it; the buckets refill with time, each key's apart; a claim that held
//! a task back tells when the earliest bucket frees
//! ([`Broker::claim_wake`](crate::backend::Broker::claim_wake)), and
//! [`Store::type_limits`](crate::backend::Store::type_limits) shows the
//! limits and holds.
//!
//! The claims pass their own `now`, so the rules walk through periods
//! without sleeping; every rule uses one queue (`type_limit_queues` has
//! one over several).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use crate::backend::Backend;
use crate::error::Error;
use crate::rate_limit::RateLimit;
use crate::task::{TaskRecord, TaskState};

use super::helpers::*;
use super::limit_setup::*;

/// Now, in whole microseconds: what every backend stores.
fn start() -> DateTime<Utc> {
    now().trunc_subsecs(6)
}

/// Claims up to `n` at `at`, leased for an hour.
async fn claim_on(
    backend: &dyn Backend,
    queue: &str,
    n: usize,
    at: DateTime<Utc>,
) -> Vec<TaskRecord> {
    claim_at(backend, queue, n, "w", at, Duration::from_secs(3600)).await
}

fn per_minute(starts: u32) -> RateLimit {
    RateLimit::new(starts, Duration::from_secs(60))
}

fn count_of(tasks: &[TaskRecord], task_type: &str, key: Option<&str>) -> usize {
    tasks
        .iter()
        .filter(|t| t.task_type == task_type && t.concurrency_key.as_deref() == key)
        .count()
}

/// A full bucket lets `starts` of the type go, in claim order, and the
/// claim takes the queue's other types past the rest, which stay pending;
/// then one start per `period / starts`, and a whole period later a full
/// bucket again. The claim tells when the type frees, and so does the
/// type's row.
pub async fn limit_rate_type_burst_then_pace(backend: Arc<dyn Backend>) {
    let t0 = start();
    let types = ["a", "a", "b", "a", "a", "a", "b", "a", "a", "b"];
    let tasks: Vec<(&str, Option<&str>)> = types.iter().map(|t| (*t, None)).collect();
    let records = due_records_at(&*backend, "q", &tasks, t0).await;
    backend
        .set_type_rate_limit("a", Some(per_minute(3)))
        .await
        .expect("type rate");
    let first = claim_on(&*backend, "q", 10, t0).await;
    assert_eq!(count_of(&first, "a", None), 3, "the burst");
    assert_eq!(count_of(&first, "b", None), 3, "claimed past the held");
    let taken: Vec<TaskRecord> = first
        .iter()
        .filter(|t| t.task_type == "a")
        .cloned()
        .collect();
    assert_eq!(
        ids(&taken),
        vec![records[0].id, records[1].id, records[3].id],
        "in claim order"
    );
    assert_eq!(
        get(&*backend, records[4].id).await.state,
        TaskState::Pending
    );
    // One start costs 20 s of the bucket.
    let next = t0 + secs(20);
    assert!(claim_on(&*backend, "q", 10, t0 + secs(1)).await.is_empty());
    assert_eq!(backend.claim_wake("q"), Some(next), "the claim's wake");
    assert_eq!(backend.claim_hold("q"), None, "the queue is not held");
    let stats = limit_row(&*backend, "a").await.expect("listed");
    assert_eq!(stats.rate_limit, Some(per_minute(3)));
    assert_eq!(
        (stats.limit, stats.key_limit, stats.key_rate_limit),
        (None, None, None)
    );
    assert_eq!(stats.rate_held_until, Some(next));
    assert!(
        claim_on(&*backend, "q", 10, next - secs(1))
            .await
            .is_empty()
    );
    let paced = claim_on(&*backend, "q", 10, next).await;
    assert_eq!(ids(&paced), vec![records[4].id], "the next a, in its place");
    let later = next + secs(60);
    assert_eq!(
        claim_on(&*backend, "q", 10, later).await.len(),
        3,
        "the rest"
    );
    assert!(limit_row(&*backend, "b").await.is_none(), "b has no limit");
}

/// A key rate limit gives each key its own bucket, any number of keys;
/// a task without a key is not held by it; the row counts the held keys.
pub async fn limit_rate_key_buckets_are_independent(backend: Arc<dyn Backend>) {
    let t0 = start();
    let mut tasks: Vec<(&str, Option<&str>)> = Vec::new();
    for _ in 0..3 {
        tasks.extend([("r", Some("acme")), ("r", Some("globex")), ("r", None)]);
    }
    tasks.push(("r", Some("acme")));
    let many: Vec<String> = (0..40).map(|i| format!("tenant-{i}")).collect();
    tasks.extend(many.iter().map(|key| ("r", Some(key.as_str()))));
    due_records_at(&*backend, "q", &tasks, t0).await;
    backend
        .set_key_rate_limit("r", Some(per_minute(2)))
        .await
        .expect("key rate");
    let first = claim_on(&*backend, "q", 100, t0).await;
    assert_eq!(count_of(&first, "r", Some("acme")), 2);
    assert_eq!(count_of(&first, "r", Some("globex")), 2);
    assert_eq!(count_of(&first, "r", None), 3, "no key: not held");
    assert_eq!(first.len(), 47, "every other key its own bucket");
    let stats = limit_row(&*backend, "r").await.expect("listed");
    assert_eq!(stats.key_rate_limit, Some(per_minute(2)));
    assert_eq!((stats.rate_limit, stats.rate_held_until), (None, None));
    assert_eq!(stats.held_keys, 2, "acme and globex are spent");
    assert!(claim_on(&*backend, "q", 100, t0 + secs(1)).await.is_empty());
    assert_eq!(backend.claim_wake("q"), Some(t0 + secs(30)));
    let paced = claim_on(&*backend, "q", 100, t0 + secs(30)).await;
    assert_eq!(count_of(&paced, "r", Some("acme")), 1);
    assert_eq!(count_of(&paced, "r", Some("globex")), 1);
    assert_eq!(paced.len(), 2);
}

/// A changed limit keeps what the bucket spent and binds the next claim;
/// a lifted one lets every held task go and the type's row goes with the
/// last of its limits.
pub async fn limit_rate_type_change_and_lift(backend: Arc<dyn Backend>) {
    let t0 = start();
    let tasks: Vec<(&str, Option<&str>)> = (0..12)
        .map(|i| ("a", Some(if i % 2 == 0 { "x" } else { "y" })))
        .collect();
    due_records_at(&*backend, "q", &tasks, t0).await;
    backend
        .set_type_rate_limit("a", Some(per_minute(2)))
        .await
        .expect("type rate");
    assert_eq!(claim_on(&*backend, "q", 20, t0).await.len(), 2);
    backend
        .set_type_rate_limit("a", Some(per_minute(4)))
        .await
        .expect("raised");
    // The bucket stays a whole period spent: one 15 s start frees at 15 s.
    assert!(claim_on(&*backend, "q", 20, t0).await.is_empty());
    assert_eq!(claim_on(&*backend, "q", 20, t0 + secs(15)).await.len(), 1);
    backend.set_type_rate_limit("a", None).await.expect("lift");
    backend
        .set_key_rate_limit("a", Some(per_minute(1)))
        .await
        .expect("key rate");
    let keyed = claim_on(&*backend, "q", 20, t0 + secs(15)).await;
    assert_eq!(keyed.len(), 2, "one per key, the type's bucket gone");
    assert!(
        limit_row(&*backend, "a")
            .await
            .is_some_and(|r| r.rate_limit.is_none())
    );
    backend.set_key_rate_limit("a", None).await.expect("lift");
    assert_eq!(claim_on(&*backend, "q", 20, t0 + secs(15)).await.len(), 7);
    assert!(limit_row(&*backend, "a").await.is_none(), "no limit left");
    assert_eq!(backend.claim_wake("q"), None);
}

/// A rate limit of zero starts, of a zero period or of one too long is
/// refused and changes nothing: the stored limit stays.
pub async fn limit_rate_type_bad_input_changes_nothing(backend: Arc<dyn Backend>) {
    backend
        .set_type_rate_limit("a", Some(per_minute(2)))
        .await
        .expect("type rate");
    for bad in [
        RateLimit::new(0, Duration::from_secs(1)),
        RateLimit::new(1, Duration::ZERO),
        RateLimit::new(1, RateLimit::MAX_PERIOD + Duration::from_secs(1)),
    ] {
        assert!(matches!(
            backend.set_type_rate_limit("a", Some(bad)).await,
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            backend.set_key_rate_limit("a", Some(bad)).await,
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            backend.set_key_rate_limit("fresh", Some(bad)).await,
            Err(Error::InvalidArgument(_))
        ));
    }
    let stats = limit_row(&*backend, "a").await.expect("listed");
    assert_eq!(
        (stats.rate_limit, stats.key_rate_limit),
        (Some(per_minute(2)), None)
    );
    assert!(
        limit_row(&*backend, "fresh").await.is_none(),
        "nothing stored"
    );
}

/// A claim takes what every limit allows: the type limit, the type rate
/// and the key rate together, each binding in turn.
pub async fn limit_rate_key_type_rate_and_limit_together(backend: Arc<dyn Backend>) {
    let t0 = start();
    let tasks = [
        ("t", Some("k1")),
        ("t", Some("k1")),
        ("t", Some("k2")),
        ("t", Some("k3")),
        ("t", Some("k2")),
        ("u", None),
        ("u", None),
    ];
    due_records_at(&*backend, "q", &tasks, t0).await;
    backend.set_type_limit("t", Some(2)).await.expect("limit");
    backend
        .set_type_rate_limit("t", Some(per_minute(3)))
        .await
        .expect("type rate");
    backend
        .set_key_rate_limit("t", Some(per_minute(1)))
        .await
        .expect("key rate");
    let first = claim_on(&*backend, "q", 20, t0).await;
    let keys: Vec<Option<&str>> = first
        .iter()
        .filter(|t| t.task_type == "t")
        .map(|t| t.concurrency_key.as_deref())
        .collect();
    assert_eq!(
        keys,
        vec![Some("k1"), Some("k2")],
        "k1 once, then the type limit"
    );
    assert_eq!(count_of(&first, "u", None), 2);
    for task in &first {
        finish(&*backend, task).await;
    }
    // The type limit is free again, k1 and k2 are spent: k3 is the one
    // start the type's bucket has left.
    let second = claim_on(&*backend, "q", 20, t0 + secs(1)).await;
    assert_eq!(
        second
            .iter()
            .map(|t| t.concurrency_key.as_deref())
            .collect::<Vec<_>>(),
        vec![Some("k3")]
    );
    finish(&*backend, &second[0]).await;
    // The type's bucket frees one start every 20 s, the keys' at 60 s.
    assert!(claim_on(&*backend, "q", 20, t0 + secs(20)).await.is_empty());
    assert_eq!(backend.claim_wake("q"), Some(t0 + secs(60)));
    let third = claim_on(&*backend, "q", 20, t0 + secs(60)).await;
    assert_eq!(third.len(), 2, "k1 and k2 again, within the type limit");
}
