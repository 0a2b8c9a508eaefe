//! Rate limits (`lifecycle`, "claim (rate limit)"): a claim takes no more
//! than the queue's token bucket allows at its `now` and spends it in the
//! same atomic step, so racing claimers together never exceed it; the
//! bucket refills with time, a claim that empties it reports when the next
//! start is allowed ([`Broker::claim_hold`](crate::backend::Broker::claim_hold)),
//! and the stats show the limit and the hold.
//!
//! The claims pass their own `now` (the bucket is read at the claim's
//! time), so the rules walk through periods without sleeping.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use crate::backend::{Backend, Outcome, Settlement};
use crate::error::Error;
use crate::lifecycle::RetryPolicy;
use crate::rate_limit::RateLimit;
use crate::task::TaskState;

use super::helpers::*;
use super::limit_setup::*;

/// Claims at `at` with a lease long enough to outlive the test.
async fn claim_on(backend: &dyn Backend, queue: &str, n: usize, at: DateTime<Utc>) -> usize {
    claim_at(backend, queue, n, "w", at, Duration::from_secs(3600))
        .await
        .len()
}

/// Now, in whole microseconds: what every backend stores.
fn start() -> DateTime<Utc> {
    now().trunc_subsecs(6)
}

fn micros(n: i64) -> chrono::Duration {
    chrono::Duration::microseconds(n)
}

/// A full bucket lets `starts` go, then nothing until a start's worth of
/// the period passed (the claim says until when, and so do the stats);
/// a whole period later the bucket is full again. Other queues are free.
pub async fn limit_rate_caps_starts_per_period(backend: Arc<dyn Backend>) {
    let t0 = start();
    due_tasks_at(&*backend, "q", 20, t0).await;
    due_tasks_at(&*backend, "free", 8, t0).await;
    let limit = RateLimit::new(5, Duration::from_secs(60));
    backend
        .set_queue_rate_limit("q", Some(limit))
        .await
        .expect("rate");
    assert_eq!(claim_on(&*backend, "q", 10, t0).await, 5, "a full bucket");
    // One start costs 12 s of the bucket: the next is allowed at t0 + 12 s.
    let next = t0 + secs(12);
    assert_eq!(backend.claim_hold("q"), Some(next), "the claim's hold");
    assert_eq!(claim_on(&*backend, "q", 10, t0 + secs(1)).await, 0);
    assert_eq!(backend.claim_hold("q"), Some(next));
    assert_eq!(claim_on(&*backend, "q", 10, next - micros(1)).await, 0);
    assert_eq!(
        claim_on(&*backend, "q", 10, next).await,
        1,
        "one token back"
    );
    let stats = stats_of(&*backend, "q").await;
    assert_eq!(stats.rate_limit, Some(limit));
    assert_eq!((stats.running, stats.pending), (6, 14));
    assert_eq!(
        stats.rate_held_until,
        Some(t0 + secs(24)),
        "held back until the next token"
    );
    // A whole period after the last spend: full again, and not held.
    let later = t0 + secs(24) + secs(60);
    assert_eq!(claim_on(&*backend, "q", 10, later).await, 5);
    assert_eq!(claim_on(&*backend, "free", 10, t0).await, 8, "not limited");
    assert_eq!(backend.claim_hold("free"), None);
    assert_eq!(stats_of(&*backend, "free").await.rate_limit, None);
}

/// Claimers racing at the same time on a rate-limited queue take no more
/// than the bucket holds between them, at every refill, and all of it
/// within a millisecond.
pub async fn limit_rate_concurrent_claimers_never_exceed_it(backend: Arc<dyn Backend>) {
    const STARTS: u32 = 7;
    const CLAIMERS: usize = 4;
    let t0 = start();
    due_tasks_at(&*backend, "q", 60, t0).await;
    let limit = RateLimit::new(STARTS, Duration::from_secs(3600));
    backend
        .set_queue_rate_limit("q", Some(limit))
        .await
        .expect("rate");
    let cost = crate::lifecycle::rate_cost(&limit, 1);
    // The full bucket, then three starts' worth, then one.
    let rounds = [
        (t0, 7),
        (t0 + micros(3 * cost), 3),
        (t0 + micros(4 * cost), 1),
    ];
    for (round, (at, expected)) in rounds.into_iter().enumerate() {
        let claimed = Race {
            queue: "q",
            worker: format!("w{round}"),
            claimers: CLAIMERS,
            times: 2,
            per_claim: 3,
            at,
        }
        .run(&backend)
        .await
        .len();
        assert!(
            claimed <= expected,
            "round {round}: {claimed} over the bucket"
        );
        // Each claim rounds its cost up by under 1 µs (`rate_cost`): split
        // into several, the bucket's last start may come those µs later.
        // A claim 1 ms on (far less than a start's worth) takes it.
        let rest = claim_on(&*backend, "q", 10, at + chrono::Duration::milliseconds(1)).await;
        assert_eq!(
            claimed + rest,
            expected,
            "round {round}: exactly the bucket"
        );
    }
}

/// A changed rate limit keeps what the bucket spent; clearing it lifts it
/// at once and forgets the bucket; pausing keeps it.
pub async fn limit_rate_change_keeps_the_bucket_and_clear_lifts_it(backend: Arc<dyn Backend>) {
    let t0 = start();
    due_tasks_at(&*backend, "q", 12, t0).await;
    let two = RateLimit::new(2, Duration::from_secs(60));
    backend
        .set_queue_rate_limit("q", Some(two))
        .await
        .expect("rate");
    assert_eq!(claim_on(&*backend, "q", 10, t0).await, 2);
    let three = RateLimit::new(3, Duration::from_secs(60));
    backend
        .set_queue_rate_limit("q", Some(three))
        .await
        .expect("raise");
    assert_eq!(
        claim_on(&*backend, "q", 10, t0).await,
        0,
        "the spent bucket stays spent"
    );
    backend.set_queue_paused("q", true).await.expect("pause");
    backend.set_queue_paused("q", false).await.expect("resume");
    assert_eq!(stats_of(&*backend, "q").await.rate_limit, Some(three));
    backend
        .set_queue_rate_limit("q", None)
        .await
        .expect("clear");
    let stats = stats_of(&*backend, "q").await;
    assert_eq!((stats.rate_limit, stats.rate_held_until), (None, None));
    assert_eq!(claim_on(&*backend, "q", 4, t0).await, 4, "lifted");
    backend
        .set_queue_rate_limit("q", Some(three))
        .await
        .expect("again");
    assert_eq!(claim_on(&*backend, "q", 10, t0).await, 3, "a fresh bucket");
    // A rate limit on a paused queue keeps the pause; clearing it too.
    backend.set_queue_paused("q", true).await.expect("pause");
    backend
        .set_queue_rate_limit("q", None)
        .await
        .expect("clear");
    let stats = stats_of(&*backend, "q").await;
    assert_eq!((stats.paused, stats.rate_limit), (true, None));
}

/// A claim takes the least of the queue limit and the rate limit; a
/// settled task frees its slot but not its start.
pub async fn limit_rate_and_queue_limit_take_the_least(backend: Arc<dyn Backend>) {
    let t0 = start();
    due_tasks_at(&*backend, "q", 10, t0).await;
    backend.set_queue_limit("q", Some(2)).await.expect("limit");
    backend
        .set_queue_rate_limit("q", Some(RateLimit::new(3, Duration::from_secs(60))))
        .await
        .expect("rate");
    let first = claim_at(&*backend, "q", 10, "w", t0, Duration::from_secs(3600)).await;
    assert_eq!(first.len(), 2, "the queue limit");
    assert_eq!(backend.claim_hold("q"), None, "a token is left");
    for task in &first {
        let applied = backend
            .settle(vec![Settlement {
                id: task.id,
                attempt: task.attempt,
                outcome: Outcome::Finished(json!(null)),
                at: t0,
            }])
            .await
            .expect("settle");
        assert_eq!(applied, vec![true]);
    }
    // Slots come back once the settles landed (at once on most backends).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut got = 0;
    while got == 0 && tokio::time::Instant::now() < deadline {
        got = claim_on(&*backend, "q", 10, t0).await;
        if got == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(got, 1, "the rate limit: one start left");
    assert_eq!(backend.claim_hold("q"), Some(t0 + secs(20)));
}

/// A task whose worker died spent its start: its rescue gives none back
/// and holds none (the bucket refills with time, nothing to leak).
pub async fn limit_rate_rescue_leaks_nothing(backend: Arc<dyn Backend>) {
    let t0 = start();
    let tasks = due_tasks_at(&*backend, "q", 2, t0).await;
    backend
        .set_queue_rate_limit("q", Some(RateLimit::new(1, Duration::from_secs(60))))
        .await
        .expect("rate");
    // Started 5 s ago with a 1 s lease: expired.
    let dead = claim_at(
        &*backend,
        "q",
        5,
        "dead",
        t0 - secs(5),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(ids(&dead), vec![tasks[0].id]);
    let report = backend
        .rescue_expired(now(), &RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1);
    assert_eq!(get(&*backend, tasks[0].id).await.state, TaskState::Pending);
    assert_eq!(
        claim_on(&*backend, "q", 5, t0).await,
        0,
        "the start is spent"
    );
    assert_eq!(
        claim_on(&*backend, "q", 5, t0 - secs(5) + secs(60)).await,
        1,
        "a period after it, the bucket allows the next"
    );
}

/// Bad rate limits are typed errors and store nothing; a good one stays
/// through a bad one; a queue with only a rate limit is listed.
pub async fn limit_rate_bad_input_is_refused(backend: Arc<dyn Backend>) {
    let t0 = start();
    due_tasks_at(&*backend, "q", 4, t0).await;
    let bad = [
        RateLimit::new(0, Duration::from_secs(1)),
        RateLimit::new(3, Duration::ZERO),
        RateLimit::new(3, Duration::from_micros(10)),
        RateLimit::new(3, RateLimit::MAX_PERIOD + Duration::from_secs(1)),
    ];
    for limit in bad {
        assert!(
            matches!(
                backend.set_queue_rate_limit("q", Some(limit)).await,
                Err(Error::InvalidArgument(_))
            ),
            "{limit:?}"
        );
    }
    assert_eq!(
        stats_of(&*backend, "q").await.rate_limit,
        None,
        "none stored"
    );
    let good = RateLimit::new(2, Duration::from_secs(1));
    backend
        .set_queue_rate_limit("q", Some(good))
        .await
        .expect("rate");
    for limit in bad {
        assert!(
            backend
                .set_queue_rate_limit("q", Some(limit))
                .await
                .is_err()
        );
    }
    assert_eq!(
        stats_of(&*backend, "q").await.rate_limit,
        Some(good),
        "kept"
    );
    assert_eq!(claim_on(&*backend, "q", 10, t0).await, 2);
    backend
        .set_queue_rate_limit("empty", Some(good))
        .await
        .expect("rate");
    assert_eq!(stats_of(&*backend, "empty").await.rate_limit, Some(good));
}
