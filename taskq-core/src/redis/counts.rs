//! Workers' counts of ended attempts on Redis ([`crate::throughput`]): a
//! hash per minute, `{<prefix>:stats}:m:<unix minute>`, with a field per
//! queue and outcome, added to with `HINCRBY` and expiring on its own
//! after [`COUNTS_KEPT`]. One hash tag keeps every minute in one slot, so
//! a cluster reads an hour in one pipeline.

use chrono::{DateTime, Utc};
use fred::prelude::*;

use super::RedisBackend;
use crate::error::Error;
use crate::throughput::{COUNTS_KEPT, MinuteCounts, first_kept_minute, minute_of};

/// The outcomes a minute's hash counts, as field suffixes.
const KINDS: [&str; 4] = ["finished", "failed", "retried", "cancelled"];

fn kinds(count: &MinuteCounts) -> [u64; 4] {
    [count.finished, count.failed, count.retried, count.cancelled]
}

impl RedisBackend {
    fn minute_key(&self, minute: DateTime<Utc>) -> String {
        format!(
            "{{{}:stats}}:m:{}",
            self.config.prefix,
            minute.timestamp().div_euclid(60)
        )
    }

    pub(super) async fn add_minute_counts(&self, counts: &[MinuteCounts]) -> Result<(), Error> {
        if counts.is_empty() {
            return Ok(());
        }
        let ttl = i64::try_from(COUNTS_KEPT.as_secs()).unwrap_or(i64::MAX);
        let pipeline = self.pool.next().pipeline();
        for count in counts {
            let key = self.minute_key(count.minute);
            for (kind, n) in KINDS.iter().zip(kinds(count)) {
                if n > 0 {
                    let by = i64::try_from(n).unwrap_or(i64::MAX);
                    let _: () = pipeline
                        .hincrby(&key, format!("{}:{kind}", count.queue), by)
                        .await
                        .map_err(Error::backend)?;
                }
            }
            let _: () = pipeline
                .expire(&key, ttl, None)
                .await
                .map_err(Error::backend)?;
        }
        let replies: Vec<Result<Value, fred::error::Error>> = pipeline.try_all().await;
        for reply in replies {
            reply.map_err(Error::backend)?;
        }
        Ok(())
    }

    pub(super) async fn minute_counts_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<MinuteCounts>, Error> {
        let now = minute_of(Utc::now());
        let first = first_kept_minute(since, now);
        let minutes: Vec<DateTime<Utc>> = std::iter::successors(Some(first), |m| {
            Some(*m + chrono::Duration::minutes(1)).filter(|next| *next <= now)
        })
        .collect();
        let pipeline = self.pool.next().pipeline();
        for minute in &minutes {
            let _: () = pipeline
                .hgetall(self.minute_key(*minute))
                .await
                .map_err(Error::backend)?;
        }
        let replies: Vec<Result<Vec<(String, i64)>, fred::error::Error>> = pipeline.try_all().await;
        let mut counts = Vec::new();
        for (minute, reply) in minutes.into_iter().zip(replies) {
            for (field, n) in reply.map_err(Error::backend)? {
                let Some((queue, kind)) = field.rsplit_once(':') else {
                    continue;
                };
                let mut count = MinuteCounts {
                    queue: queue.to_owned(),
                    minute,
                    ..MinuteCounts::default()
                };
                let n = u64::try_from(n).unwrap_or(0);
                match kind {
                    "finished" => count.finished = n,
                    "failed" => count.failed = n,
                    "retried" => count.retried = n,
                    "cancelled" => count.cancelled = n,
                    _ => continue,
                }
                counts.push(count);
            }
        }
        Ok(MinuteCounts::merged(counts))
    }
}
