//! [`Broker`] for [`SeaRedisBackend`]: SQL decides, Redis delivers (see
//! the module documentation for the order of writes and its reasons).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use taskq_core::backend::{
    Broker, ClaimRequest, Enqueued, LeaseStatus, Outcome, Position, ReconcileReport, RescueReport,
    Settlement,
};
use taskq_core::lifecycle::RetryPolicies;
use taskq_core::rate_limit::RateLimit;
use taskq_core::{AttemptOutcome, Error, ErrorKind, TaskId, TaskRecord, TaskState};
use tokio::sync::Notify;
use tracing::warn;

use super::SeaRedisBackend;
use crate::sql::Claimed;

#[async_trait]
impl Broker for SeaRedisBackend {
    async fn enqueue(&self, tasks: Vec<TaskRecord>) -> Result<Enqueued, Error> {
        if tasks.is_empty() {
            return Ok(Enqueued::ALL);
        }
        // Workers wake through Redis: no SQL notification. Accepted: from
        // here on the tasks are safe in SQL. Duplicates of a held unique
        // key were not stored, so they are not delivered; the copies carry
        // the fair rounds SQL gave (`lifecycle::fair_round`). Workflow
        // steps that wait for parents are delivered when released.
        let (enqueued, stored) = self.sql.insert_kept(tasks, true).await?;
        let stored: Vec<TaskRecord> = stored
            .into_iter()
            .filter(|t| t.state == TaskState::Pending)
            .collect();
        self.push_or_defer(&stored).await;
        Ok(enqueued)
    }

    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Vec<TaskRecord>, Error> {
        let claimed = self.redis.claim(request.clone()).await?;
        if claimed.is_empty() {
            return Ok(claimed);
        }
        let attempts: Vec<(TaskId, u32)> = claimed.iter().map(|r| (r.id, r.attempt)).collect();
        let lost: Vec<(TaskId, String)> = claimed.iter().filter_map(lost_attempt).collect();
        let claim = Claimed {
            worker_id: request.worker_id,
            now: request.now,
            lease_until: request.now + request.lease,
        };
        let applied = match self.sql.mark_claimed(&claim, &attempts, &lost).await {
            Ok(applied) => applied,
            Err(err) => {
                // Hand the claims back, so Redis delivers them again.
                if let Err(release) = self
                    .redis
                    .release(request.worker_id, &attempts, request.now)
                    .await
                {
                    warn!(error = %release, "could not hand claims back to Redis");
                }
                return Err(err);
            }
        };
        let kept = if applied.len() == claimed.len() {
            claimed
        } else {
            let (kept, unclaimable): (Vec<TaskRecord>, Vec<TaskRecord>) = claimed
                .into_iter()
                .partition(|record| applied.contains(&record.id));
            self.drop_unclaimable(unclaimable).await;
            kept
        };
        // `lifecycle::fair_claimed`: SQL keeps the rounds (it gives them).
        crate::broker::fair_claimed(self.sql.db(), request.queue, &kept).await?;
        Ok(kept)
    }

    async fn settle(&self, settlements: Vec<Settlement>) -> Result<Vec<bool>, Error> {
        if settlements.is_empty() {
            return Ok(Vec::new());
        }
        // Redis needs the outcome's kind and times, not the result.
        let (retries, ended): (Vec<Settlement>, Vec<Settlement>) = settlements
            .iter()
            .map(|s| Settlement {
                id: s.id,
                attempt: s.attempt,
                outcome: match &s.outcome {
                    Outcome::Finished(_) => Outcome::Finished(Value::Null),
                    other => other.clone(),
                },
                at: s.at,
            })
            .partition(|s| s.outcome.requeues());
        let (applied, released) = self.sql.settle_cascading(settlements).await?;
        // Steps the settled steps' ends released: pending in SQL now.
        self.push_pending_of(&released).await;
        // A retry or snooze is delivered through Redis: its copy is pending again
        // before this returns. The ended tasks only leave Redis's running
        // set, in the background (a send fails only if the acknowledging
        // task is gone, with the runtime: their leases expire instead).
        for ack in ended {
            let _ = self.acks.send(ack);
        }
        if !retries.is_empty()
            && let Err(err) = self.redis.settle(retries).await
        {
            // Redis requeues them when their leases expire, due at once;
            // the claim's SQL fence lets each retry through at its run
            // time (refused before, SQL's copy is pushed back).
            warn!(error = %err, "could not requeue retried tasks in Redis");
        }
        Ok(applied)
    }

    async fn heartbeat(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, Error> {
        let (sql, redis) = tokio::join!(
            self.sql.heartbeat(worker_id, tasks, lease_until),
            self.redis.heartbeat(worker_id, tasks, lease_until),
        );
        if let Err(err) = redis {
            warn!(error = %err, "could not renew leases in Redis");
        }
        // SQL's leases count: after a Redis data loss a running task is
        // still held.
        sql
    }

    async fn release(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let released = self.sql.release_cascading(worker_id, tasks, now).await?;
        self.push_pending_of(&released).await;
        if let Err(err) = self.redis.release(worker_id, tasks, now).await {
            // Redis requeues them when their leases expire.
            warn!(error = %err, "could not release tasks in Redis");
        }
        Ok(())
    }

    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let (record, released) = self.sql.cancel_cascading(id, now).await?;
        self.push_pending_of(&released).await;
        if let Err(err) = self.redis.cancel(id, now).await {
            // A pending copy left in Redis is refused by the claim's fence.
            tracing::debug!(error = %err, %id, "cancel did not apply in Redis");
        }
        Ok(record)
    }

    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let record = self.sql.retry(id, now).await?;
        self.push_or_defer(std::slice::from_ref(&record)).await;
        Ok(record)
    }

    async fn reorder(&self, id: TaskId, position: Position) -> Result<TaskRecord, Error> {
        let record = self.sql.reorder(id, position).await?;
        // Redis applies the same move to the same pending tasks.
        if let Err(err) = self.redis.reorder(id, position).await {
            warn!(error = %err, %id, "could not reorder the task in Redis");
        }
        Ok(record)
    }

    async fn set_queue_paused(&self, queue: &str, paused: bool) -> Result<(), Error> {
        self.sql.set_queue_paused(queue, paused).await?;
        self.redis.set_queue_paused(queue, paused).await
    }

    /// SQL's row is the truth (stats read it; a reconcile after a Redis
    /// loss restores Redis's from it); Redis's copy caps the claims,
    /// which happen there, against Redis's running set: an ended task's
    /// slot frees when its background acknowledgement lands.
    async fn set_queue_limit(&self, queue: &str, limit: Option<u32>) -> Result<(), Error> {
        self.sql.set_queue_limit(queue, limit).await?;
        self.redis.set_queue_limit(queue, limit).await
    }

    /// As the queue limit: SQL's row is the truth, Redis's copy caps the
    /// claims (counted per queue, as on Redis).
    async fn set_type_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        self.sql.set_type_limit(task_type, limit).await?;
        self.redis.set_type_limit(task_type, limit).await
    }

    async fn set_key_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        self.sql.set_key_limit(task_type, limit).await?;
        self.redis.set_key_limit(task_type, limit).await
    }

    /// As the limit: SQL's row is the truth, Redis's copy (with the
    /// bucket, which only Redis keeps: a Redis loss refills it) caps the
    /// claims.
    async fn set_queue_rate_limit(
        &self,
        queue: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        self.sql.set_queue_rate_limit(queue, limit).await?;
        self.redis.set_queue_rate_limit(queue, limit).await
    }

    /// Stored in SQL, which gives the rounds at submit; the delivery copy
    /// orders by them.
    async fn set_queue_fair(&self, queue: &str, fair: bool) -> Result<(), Error> {
        self.sql.set_queue_fair(queue, fair).await
    }

    async fn set_fair_weight(
        &self,
        queue: &str,
        key: &str,
        weight: Option<u32>,
    ) -> Result<(), Error> {
        self.sql.set_fair_weight(queue, key, weight).await
    }

    async fn fair_weights(&self, queue: &str) -> Result<Vec<taskq_core::FairWeight>, Error> {
        self.sql.fair_weights(queue).await
    }

    fn claim_hold(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.redis.claim_hold(queue)
    }

    fn claim_wake(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.redis.claim_wake(queue)
    }

    /// As the queue rate limit: SQL's row is the truth, Redis's copy
    /// (with the buckets, which only Redis keeps: a Redis loss refills
    /// them) caps the claims, per queue as on Redis.
    async fn set_type_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        self.sql.set_type_rate_limit(task_type, limit).await?;
        self.redis.set_type_rate_limit(task_type, limit).await
    }

    async fn set_key_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        self.sql.set_key_rate_limit(task_type, limit).await?;
        self.redis.set_key_rate_limit(task_type, limit).await
    }

    /// SQL's sweep decides; Redis's drops its copies (a claim that pops
    /// one first expires it there, and SQL's row is swept here).
    async fn expire_overdue(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, Error> {
        let (expired, released) = self.sql.expire(now, limit).await?;
        self.push_pending_of(&released).await;
        if let Err(err) = self.redis.expire_overdue(now, limit).await {
            warn!(error = %err, "expiry pass failed in Redis");
        }
        Ok(expired)
    }

    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        policies: &dyn RetryPolicies,
    ) -> Result<RescueReport, Error> {
        // SQL first: Redis's rescue may requeue a task whose claim then
        // needs SQL's row requeued (or expired) to pass the fence.
        let (report, requeued) = self.sql.rescue(now, policies).await?;
        if let Err(err) = self.redis.rescue_expired(now, policies).await {
            warn!(error = %err, "rescue pass failed in Redis");
        }
        // Usually Redis requeued them too (and the push skips them); not
        // if it lost them.
        self.push_pending_of(&requeued).await;
        Ok(report)
    }

    async fn reconcile(&self, sweep: bool) -> Result<Option<ReconcileReport>, Error> {
        self.reconcile_pass(sweep).await.map(Some)
    }

    fn work_signal(&self) -> Option<Arc<Notify>> {
        self.redis.work_signal()
    }

    /// Redis's: `cancel` requests through Redis too, whose script
    /// announces a running task's cancel to every process, so its worker
    /// renews at once and SQL's lease answer tells it.
    fn cancel_signal(&self) -> Option<Arc<Notify>> {
        self.redis.cancel_signal()
    }
}

/// The history entry of the attempt before `copy`'s, when Redis's rescue
/// took that attempt back because its lease ran out (its last entry says
/// so): SQL's rescuer may not have seen it yet, and then only the claim
/// can record it.
fn lost_attempt(copy: &TaskRecord) -> Option<(TaskId, String)> {
    let last = copy.attempts.last()?;
    let lease_lost = last.attempt + 1 == copy.attempt
        && last.outcome == AttemptOutcome::Retried
        && last
            .error
            .as_ref()
            .is_some_and(|e| e.kind == ErrorKind::LeaseExpired);
    lease_lost.then(|| {
        let entry = crate::history::entry_text(
            last.attempt,
            last.outcome,
            last.error.as_ref(),
            last.ended_at,
        );
        (copy.id, entry)
    })
}
