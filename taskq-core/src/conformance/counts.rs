//! Throughput counts (`crate::throughput`): workers' additions sum per
//! minute and queue, concurrent ones included; reads give the minutes from
//! a time on, in order; day-old minutes are dropped.

use std::sync::Arc;

use chrono::{Duration, Utc};

use crate::backend::Backend;
use crate::throughput::{MinuteCounts, minute_of};

fn counts(queue: &str, minute: chrono::DateTime<Utc>, n: u64) -> MinuteCounts {
    MinuteCounts {
        queue: queue.into(),
        minute,
        finished: n,
        failed: 2 * n,
        retried: 3 * n,
        cancelled: 4 * n,
    }
}

/// Two minutes and two queues, added by eight "workers" at once: every
/// addition counts once; reads start at the minute asked for, and never
/// give a minute older than a day.
pub async fn counts_add_up_per_minute_and_queue(backend: Arc<dyn Backend>) {
    let now = minute_of(Utc::now());
    let earlier = now - Duration::minutes(1);
    let mut adds = Vec::new();
    for _ in 0..8 {
        let backend = backend.clone();
        adds.push(tokio::spawn(async move {
            let batch = [
                counts("q-a", earlier, 2),
                counts("q-a", now, 1),
                counts("q-b", now, 4),
            ];
            backend.add_counts(&batch, Utc::now()).await.expect("add");
        }));
    }
    for add in adds {
        add.await.expect("adder");
    }
    let read = backend.counts_since(earlier).await.expect("read");
    assert_eq!(
        read,
        [
            counts("q-a", earlier, 16),
            counts("q-a", now, 8),
            counts("q-b", now, 32)
        ]
    );
    let recent = backend.counts_since(now).await.expect("read");
    assert_eq!(recent.len(), 2, "only the minutes from `since` on");

    // A minute older than a day is never read back (dropped, or left to
    // expire).
    let old = now - Duration::hours(25);
    backend
        .add_counts(&[counts("q-old", old, 1)], Utc::now())
        .await
        .expect("add old");
    let all = backend.counts_since(old).await.expect("read");
    assert!(all.iter().all(|c| c.queue != "q-old"), "{all:?}");
    assert_eq!(all.len(), 3);
}
