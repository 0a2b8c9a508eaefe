//! [`Broker`] on Redis: one Lua script per queue and call.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fred::prelude::*;
use tokio::sync::Notify;

use super::enqueue::EnqueueMode;
use super::keys::QueueKeys;
use super::permits::Permit;
use super::queue_settings::SettingWrite;
use super::record::micros;
use super::reply::{Reply, array, by_queue, integer, status_reply};
use super::workflow::{ended_in, split_reply};
use super::{RedisBackend, scripts};
use crate::backend::{
    Broker, ClaimRequest, Enqueued, FairWeight, LeaseStatus, Outcome, Position, ReconcileReport,
    RescueReport, Settlement, Store,
};
use crate::error::Error;
use crate::lifecycle::{self, RetryPolicies};
use crate::rate_limit::RateLimit;
use crate::task::{TaskId, TaskRecord, TaskState};

/// Expired leases one rescue script handles (the pass repeats until done),
/// so no single script blocks Redis for long.
const RESCUE_BATCH: usize = 500;

/// The permit a rescued running-set member may hold: `<id>:<attempt>`
/// (a bare-id member of an older version gets its record's attempt).
fn rescued_permit(member: &str, task_type: String, attempt: &str, key: String) -> Permit {
    let member = if member.contains(':') {
        member.to_owned()
    } else {
        format!("{member}:{attempt}")
    };
    Permit {
        task_type,
        member,
        key: (!key.is_empty()).then_some(key),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::Serialization)
}

#[async_trait]
impl Broker for RedisBackend {
    async fn enqueue(&self, tasks: Vec<TaskRecord>) -> Result<Enqueued, Error> {
        self.enqueue_records(tasks, EnqueueMode::Strict).await
    }

    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Vec<TaskRecord>, Error> {
        self.claim_tasks(request).await
    }

    async fn settle(&self, settlements: Vec<Settlement>) -> Result<Vec<bool>, Error> {
        let ids: Vec<TaskId> = settlements.iter().map(|s| s.id).collect();
        let queues = self.queues_of(&ids).await?;
        // Taken out now: a settlement that does not apply leaves the task
        // to whoever holds it, and the script reads what is not known.
        let known = self.forget(&ids);
        // Whether or not a settlement applies, its attempt no longer runs
        // here: its permit (`<id>:<attempt>`, no other attempt's) goes.
        let permits: Vec<_> = known
            .iter()
            .filter_map(|c| c.as_ref().and_then(|c| c.permit.clone()))
            .collect();
        let mut applied = vec![false; settlements.len()];
        let mut ends = Vec::new();
        for (queue, positions) in by_queue(&queues) {
            let mut args = vec![self.retention_secs()];
            for &i in &positions {
                let s = &settlements[i];
                let (outcome, payload, run_at) = match &s.outcome {
                    Outcome::Finished(result) => ("finished", json(result)?, String::new()),
                    Outcome::Failed(error) => ("failed", json(error)?, String::new()),
                    Outcome::Cancelled(error) => ("cancelled", json(error)?, String::new()),
                    Outcome::Retry { error, run_at } => ("retry", json(error)?, micros(*run_at)),
                    Outcome::Snooze { run_at } => ("snooze", String::new(), micros(*run_at)),
                };
                let (task_type, created, children) = match &known[i] {
                    Some(c) => (
                        c.task_type.to_string(),
                        c.created.to_string(),
                        if c.children { "1" } else { "0" },
                    ),
                    None => (String::new(), String::new(), ""),
                };
                let [started_at, worker_id] = known[i]
                    .as_ref()
                    .map_or_else(Default::default, |c| c.first_attempt_args(s.attempt));
                args.extend([
                    s.id.to_string(),
                    s.attempt.to_string(),
                    outcome.to_owned(),
                    micros(s.at),
                    payload,
                    run_at,
                    task_type,
                    created,
                    children.to_owned(),
                    started_at,
                    worker_id,
                ]);
            }
            let reply = self.run(&scripts::SETTLE, &queue, args).await?;
            let (flags, entries) = split_reply(reply, positions.len());
            let flags = array("settle", flags)?;
            if flags.len() != positions.len() {
                return Err(Error::backend("settle: reply length differs"));
            }
            for (&i, flag) in positions.iter().zip(&flags) {
                applied[i] = integer("settle", flag)? == 1;
            }
            ends.extend(ended_in(&queue, entries)?);
        }
        self.announce_ended(
            settlements
                .iter()
                .zip(&applied)
                .filter(|(s, applied)| **applied && !s.outcome.requeues())
                .map(|(s, _)| s.id),
        )
        .await;
        self.return_permits(permits).await;
        self.carry_or_leave(ends).await;
        Ok(applied)
    }

    async fn heartbeat(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, Error> {
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.0).collect();
        let queues = self.queues_of(&ids).await?;
        let mut statuses = vec![LeaseStatus::Lost; tasks.len()];
        // Permits first (`permits.rs`): a permit never ends before its
        // task's lease; a task whose permit is gone keeps its lapsed lease.
        let permits = self.permits_of(&ids, false);
        let lost = self
            .extend_permits(
                permits.iter().flatten().cloned().collect(),
                lease_until.timestamp_micros(),
            )
            .await?;
        let gone = |i: usize| {
            permits[i]
                .as_ref()
                .is_some_and(|p| lost.contains(&p.member))
        };
        for (queue, positions) in by_queue(&queues) {
            let positions: Vec<usize> = positions.into_iter().filter(|&i| !gone(i)).collect();
            if positions.is_empty() {
                continue;
            }
            let mut args = vec![worker_id.to_owned(), micros(lease_until)];
            for &i in &positions {
                args.push(tasks[i].0.to_string());
                args.push(tasks[i].1.to_string());
            }
            let reply = array(
                "heartbeat",
                self.run(&scripts::HEARTBEAT, &queue, args).await?,
            )?;
            for (&i, status) in positions.iter().zip(&reply) {
                statuses[i] = match integer("heartbeat", status)? {
                    1 => LeaseStatus::Held,
                    2 => LeaseStatus::CancelRequested,
                    _ => LeaseStatus::Lost,
                };
            }
        }
        // A lost attempt no longer runs here: its permit goes.
        let lost: Vec<TaskId> = (0..tasks.len())
            .filter(|&i| permits[i].is_some() && statuses[i] == LeaseStatus::Lost)
            .map(|i| tasks[i].0)
            .collect();
        if !lost.is_empty() {
            let permits = self.permits_of(&lost, true).into_iter().flatten().collect();
            self.return_permits(permits).await;
        }
        Ok(statuses)
    }

    async fn release(
        &self,
        worker_id: &str,
        tasks: &[(TaskId, u32)],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.0).collect();
        let queues = self.queues_of(&ids).await?;
        let now = micros(now);
        let error = json(&lifecycle::released_after_cancel(worker_id))?;
        let mut ends = Vec::new();
        for (queue, positions) in by_queue(&queues) {
            let mut args = vec![
                worker_id.to_owned(),
                now.clone(),
                self.retention_secs(),
                error.clone(),
            ];
            for &i in &positions {
                args.push(tasks[i].0.to_string());
                args.push(tasks[i].1.to_string());
            }
            let reply = self.run_once(&scripts::RELEASE, &queue, args).await?;
            ends.extend(ended_in(&queue, array("release", reply)?)?);
        }
        // Released or not, these attempts no longer run here.
        let permits = self.permits_of(&ids, true).into_iter().flatten().collect();
        self.return_permits(permits).await;
        // Those whose cancel was requested ended; the rest wake for nothing.
        self.announce_ended(ids).await;
        self.carry_or_leave(ends).await;
        Ok(())
    }

    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let queue = self.queue_of(id).await?.ok_or(Error::NotFound(id))?;
        let error = lifecycle::cancelled_before_run();
        let reply = self
            .run_once(
                &scripts::CANCEL,
                &queue,
                vec![
                    id.to_string(),
                    micros(now),
                    json(&error)?,
                    self.retention_secs(),
                    self.keys.cancel_channel(),
                ],
            )
            .await?;
        let (reply, entries) = split_reply(reply, 3);
        match status_reply("cancel", reply)? {
            Reply::Ok(record) => {
                if record.state.is_terminal() {
                    self.announce_ended([id]).await;
                }
                self.carry_or_leave(ended_in(&queue, entries)?).await;
                Ok(*record)
            }
            Reply::Missing => Err(Error::NotFound(id)),
            Reply::Invalid(state) => Err(Error::InvalidTransition {
                id,
                state,
                action: "cancel",
            }),
            Reply::Other(status, _) => Err(Error::backend(format!("cancel: {status}"))),
        }
    }

    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<TaskRecord, Error> {
        let queue = self.queue_of(id).await?.ok_or(Error::NotFound(id))?;
        let reply = self
            .run_once(
                &scripts::RETRY,
                &queue,
                vec![id.to_string(), micros(now), "0".to_owned()],
            )
            .await?;
        match status_reply("retry", reply)? {
            Reply::Ok(record) => Ok(*record),
            // A workflow step: nothing changed yet.
            Reply::Other(status, _) if status == "step" => self.retry_step(id, &queue, now).await,
            Reply::Missing => Err(Error::NotFound(id)),
            Reply::Invalid(state) => Err(Error::InvalidTransition {
                id,
                state,
                action: "retry",
            }),
            Reply::Other(status, _) => Err(Error::backend(format!("retry: {status}"))),
        }
    }

    async fn reorder(&self, id: TaskId, position: Position) -> Result<TaskRecord, Error> {
        let queue = self.queue_of(id).await?.ok_or(Error::NotFound(id))?;
        let (kind, target) = match position {
            Position::Front => ("front", String::new()),
            Position::Back => ("back", String::new()),
            Position::Before(target) => ("before", target.to_string()),
        };
        let reply = self
            .run_once(
                &scripts::REORDER,
                &queue,
                vec![id.to_string(), kind.to_owned(), target],
            )
            .await?;
        let not_in_queue = |target: TaskId| {
            Error::InvalidArgument(format!(
                "reorder target {target} must be another pending task of queue `{queue}`"
            ))
        };
        match status_reply("reorder", reply)? {
            Reply::Ok(record) => Ok(*record),
            Reply::Missing => Err(Error::NotFound(id)),
            Reply::Invalid(state) => Err(Error::InvalidTransition {
                id,
                state,
                action: "reorder",
            }),
            Reply::Other(status, detail) => {
                let Position::Before(target) = position else {
                    return Err(Error::backend(format!("reorder: {status}")));
                };
                match status.as_str() {
                    "target_self" => Err(not_in_queue(target)),
                    "target_invalid" => Err(Error::InvalidTransition {
                        id: target,
                        state: detail.unwrap_or_default().parse()?,
                        action: "be a reorder target",
                    }),
                    // Not in this queue: elsewhere, or nowhere. Elsewhere,
                    // `lifecycle::check_before_target` looks at its state
                    // first (the script cannot: another queue may live in
                    // another cluster slot).
                    _ => match self.get(target).await? {
                        Some(record) if record.queue != *queue => {
                            if record.state != TaskState::Pending {
                                Err(Error::InvalidTransition {
                                    id: target,
                                    state: record.state,
                                    action: "be a reorder target",
                                })
                            } else {
                                Err(not_in_queue(target))
                            }
                        }
                        _ => Err(Error::NotFound(target)),
                    },
                }
            }
        }
    }

    async fn set_queue_paused(&self, queue: &str, paused: bool) -> Result<(), Error> {
        let write = if paused {
            SettingWrite::Set("1".to_owned())
        } else {
            SettingWrite::Delete
        };
        // Resuming may let tasks start; pausing stops the next claims.
        self.write_queue_setting(queue, QueueKeys::PAUSED, write, !paused)
            .await
    }

    /// The bucket's `tat` stays when the limit changes (`HSET` of the two
    /// settings only) and goes with it when it is cleared.
    async fn set_queue_rate_limit(
        &self,
        queue: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        lifecycle::check_rate_limit(limit.as_ref())?;
        let write = match limit {
            Some(limit) => SettingWrite::Fields(vec![
                ("starts", limit.starts.to_string()),
                ("period", limit.period_micros().to_string()),
            ]),
            None => SettingWrite::Delete,
        };
        self.write_queue_setting(queue, QueueKeys::RATE, write, true)
            .await?;
        if limit.is_none() {
            self.holds.record(queue, None);
        }
        Ok(())
    }

    fn claim_hold(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.holds.get(queue)
    }

    /// The queue's fair hash (`Keys::queue`, `KEYS[13]`): set with a
    /// round of 0 unless it is fair already (`HSETNX`: its rounds stay),
    /// deleted with its lanes (and their holds, `KEYS[13]:held`) when set
    /// off.
    async fn set_queue_fair(&self, queue: &str, fair: bool) -> Result<(), Error> {
        let write = if fair {
            SettingWrite::FieldIfNew("round", "0")
        } else {
            SettingWrite::Delete
        };
        self.write_queue_setting(queue, QueueKeys::FAIR, write, false)
            .await?;
        if !fair {
            // The lanes' holds (`lifecycle::HeldRounds`) go with them;
            // until then a stale one pushes no lane past its next round.
            let held = format!("{}:held", self.fair_key(queue));
            let _: () = self.pool.del(held).await.map_err(Error::backend)?;
        }
        Ok(())
    }

    /// The hash `KEYS[13]:weights` in the queue's slot, field the key:
    /// the enqueue script reads it (`lifecycle::fair_turn`); apart from
    /// the fair hash, so it outlives the queue set not fair.
    async fn set_fair_weight(
        &self,
        queue: &str,
        key: &str,
        weight: Option<u32>,
    ) -> Result<(), Error> {
        lifecycle::check_fair_weight(key, weight)?;
        let weights = self.fair_weights_key(queue);
        let _: () = match weight {
            Some(weight) => self.pool.hset(weights, (key, weight.to_string())).await,
            None => self.pool.hdel(weights, key).await,
        }
        .map_err(Error::backend)?;
        Ok(())
    }

    async fn fair_weights(&self, queue: &str) -> Result<Vec<FairWeight>, Error> {
        let stored: std::collections::BTreeMap<String, String> = self
            .pool
            .hgetall(self.fair_weights_key(queue))
            .await
            .map_err(Error::backend)?;
        stored
            .into_iter()
            .map(|(key, weight)| {
                let weight = weight.parse().map_err(|_| {
                    Error::backend(format!(
                        "queue {queue}: stored fair weight {weight:?} is invalid"
                    ))
                })?;
                Ok(FairWeight { key, weight })
            })
            .collect()
    }

    /// Stored in one hash outside every queue's slot (`Keys::type_limits`)
    /// and copied into each queue's, where the claim script reads it; the
    /// type's running tasks are counted over every queue by the permits
    /// in the type's own slot (`permits.rs`).
    async fn set_type_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_type_limit(limit)?;
        self.store_type_limit("l", task_type, limit.map(|l| l.to_string()))
            .await
    }

    /// As the type limit: the running tasks with the key, over every
    /// queue (a permit set per key in the type's slot).
    async fn set_key_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_type_limit(limit)?;
        self.store_type_limit("k", task_type, limit.map(|l| l.to_string()))
            .await
    }

    /// Stored with the type limits and copied into each queue's slot; the
    /// bucket is the type's, in its own slot (`permits.rs`), spent by the
    /// grants of every queue's claims.
    async fn set_type_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        lifecycle::check_type_rate_limit(limit.as_ref())?;
        let value = limit.as_ref().map(super::type_limits::rate_value);
        self.store_type_limit("r", task_type, value).await
    }

    /// As the type rate limit: each key's bucket in the type's slot.
    async fn set_key_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        lifecycle::check_type_rate_limit(limit.as_ref())?;
        let value = limit.as_ref().map(super::type_limits::rate_value);
        self.store_type_limit("s", task_type, value).await
    }

    fn claim_wake(&self, queue: &str) -> Option<DateTime<Utc>> {
        self.wakes.get(queue)
    }

    async fn set_queue_limit(&self, queue: &str, limit: Option<u32>) -> Result<(), Error> {
        lifecycle::check_queue_limit(limit)?;
        let write = match limit {
            Some(limit) => SettingWrite::Set(limit.to_string()),
            None => SettingWrite::Delete,
        };
        // A raised or cleared limit may free slots.
        self.write_queue_setting(queue, QueueKeys::LIMIT, write, true)
            .await
    }

    /// Two scripts per batch: the first reads the expired leases, Rust
    /// draws each retry time from `policies`, the second applies them,
    /// fenced by the lease still being expired.
    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        policies: &dyn RetryPolicies,
    ) -> Result<RescueReport, Error> {
        let mut report = RescueReport::default();
        let mut ends = Vec::new();
        for queue in self.queue_names().await? {
            let queue: Arc<str> = Arc::from(queue);
            loop {
                let expired = array(
                    "expired",
                    self.run(
                        &scripts::EXPIRED,
                        &queue,
                        vec![micros(now), RESCUE_BATCH.to_string()],
                    )
                    .await?,
                )?;
                if expired.is_empty() {
                    break;
                }
                let mut args = Vec::with_capacity(2 + expired.len() / 6 * 2);
                args.push(micros(now));
                args.push(self.retention_secs());
                let mut permits = Vec::new();
                for lease in expired.chunks(6) {
                    let text = |i: usize| -> Result<String, Error> {
                        lease
                            .get(i)
                            .and_then(|v| v.as_string())
                            .ok_or_else(|| Error::backend("expired: short reply"))
                    };
                    let number = |i: usize| -> Result<u32, Error> {
                        text(i)?
                            .parse()
                            .map_err(|_| Error::backend("expired: not a count"))
                    };
                    let retry_at = lifecycle::rescue_retry_at(
                        &text(1)?,
                        number(2)?,
                        number(3)?,
                        text(4)? == "1",
                        now,
                        policies,
                    );
                    args.push(text(0)?);
                    args.push(retry_at.map_or_else(|| "-".to_owned(), micros));
                    permits.push(rescued_permit(&text(0)?, text(1)?, &text(2)?, text(5)?));
                }
                let (counts, entries) =
                    split_reply(self.run(&scripts::RESCUE, &queue, args).await?, 3);
                ends.extend(ended_in(&queue, entries)?);
                let reply = array("rescue", counts)?;
                let count = |i: usize| -> Result<u64, Error> {
                    let value = reply
                        .get(i)
                        .ok_or_else(|| Error::backend("rescue: short reply"))?;
                    Ok(integer("rescue", value)?.max(0) as u64)
                };
                report.requeued += count(0)?;
                report.failed += count(1)?;
                report.cancelled += count(2)?;
                // Their permits too, if their types hold any (`permits.rs`).
                self.return_permits_before(permits, Some(now.timestamp_micros()))
                    .await;
                if expired.len() < RESCUE_BATCH * 6 {
                    break;
                }
            }
        }
        if report.failed + report.cancelled > 0 {
            // The script counts, it does not name: wake every waiter (a
            // rescue that ends tasks is rare).
            let published: Result<(), _> = self
                .pool
                .next()
                .publish(self.keys.ended_channel(), "*")
                .await;
            if let Err(err) = published {
                tracing::warn!(error = %err, "could not announce rescued tasks");
            }
        }
        self.carry_or_leave(ends).await;
        Ok(report)
    }

    async fn expire_overdue(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, Error> {
        self.expire_pass(now, limit).await
    }

    /// Carries the workflow step ends left in the outboxes by a process
    /// that stopped before carrying them (see `redis/workflow.rs`):
    /// `restored` counts them.
    async fn reconcile(&self, sweep: bool) -> Result<Option<ReconcileReport>, Error> {
        Ok(Some(ReconcileReport {
            swept: sweep,
            restored: self.carry_outboxes(sweep).await?,
        }))
    }

    fn work_signal(&self) -> Option<Arc<Notify>> {
        Some(self.signal.clone())
    }

    fn cancel_signal(&self) -> Option<Arc<Notify>> {
        Some(self.cancel_signal.clone())
    }
}
