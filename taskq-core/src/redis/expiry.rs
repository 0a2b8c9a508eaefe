//! The expiry sweep on Redis (`lifecycle::expire`): per queue, the
//! `EXPIRE` script takes the pending tasks whose deadline passed from the
//! queue's deadline set, a batch per call. Claims expire those they pop
//! (`CLAIM`); the sweep takes the rest, delayed retries included.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fred::prelude::*;

use super::record::micros;
use super::reply::{array, integer};
use super::workflow::{Ended, ended_in, split_reply};
use super::{RedisBackend, scripts};
use crate::error::Error;

impl RedisBackend {
    /// [`Broker::expire_overdue`](crate::backend::Broker::expire_overdue):
    /// up to `limit` tasks of each queue.
    pub(super) async fn expire_pass(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, Error> {
        let mut expired = 0;
        let mut ends = Vec::new();
        for queue in self.queue_names().await? {
            let queue: Arc<str> = Arc::from(queue);
            let args = vec![micros(now), self.retention_secs(), limit.to_string()];
            let (count, entries) = split_reply(self.run(&scripts::EXPIRE, &queue, args).await?, 1);
            ends.extend(ended_in(&queue, entries)?);
            let reply = array("expire", count)?;
            let count = reply
                .first()
                .ok_or_else(|| Error::backend("expire: short reply"))?;
            expired += integer("expire", count)?.max(0) as u64;
        }
        self.claim_expired(i64::try_from(expired).unwrap_or(i64::MAX), ends)
            .await;
        Ok(expired)
    }

    /// After a script expired `count` tasks: wakes every waiter (the
    /// script counts, it does not name, as a rescue's), and carries the
    /// ends of the steps among them to their dependents.
    pub(super) async fn claim_expired(&self, count: i64, ends: Vec<Ended>) {
        if count > 0 {
            let published: Result<(), _> = self
                .pool
                .next()
                .publish(self.keys.ended_channel(), "*")
                .await;
            if let Err(err) = published {
                tracing::warn!(error = %err, "could not announce expired tasks");
            }
        }
        self.carry_or_leave(ends).await;
    }
}
