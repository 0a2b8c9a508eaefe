//! Workflow steps on Redis: carrying a step's end to its children, and
//! resuming them when a step is retried.
//!
//! # Ends cross slots through an outbox
//! Children in the queue of the step that ended hear of the end in the
//! `SETTLE` that ends it (`scripts/steps.lua`): atomic with the end, no
//! round trip of its own. That is the common case (a chord whose members
//! and callback share a queue), and a SIGKILL can fall only before or
//! after that script. The rest of this section is about the other
//! children, and the other scripts that end steps (cancel, release,
//! rescue, expiry), which write every end to the outbox.
//!
//! A step's children may be in other queues, so in other cluster slots,
//! which the script that ends the step cannot touch. That script records
//! the end in its own queue's outbox instead (`scripts.rs`, "Workflow
//! steps"), atomically with the end; [`RedisBackend::carry`] then runs
//! `ARRIVE` in each child's queue (one script per queue and round, the
//! queues' scripts concurrently) and deletes the entry. Each end counts
//! once per child: `ARRIVE` adds the end's token (`<parent>:<ended at
//! µs>`) to the child's arrived set and acts only when it is new.
//!
//! - A process that dies after the end, before or while carrying it,
//!   leaves the entry: the maintenance reconciler
//!   ([`Broker::reconcile`](crate::Broker::reconcile), every worker,
//!   every second) carries entries older than [`OUTBOX_GRACE`] (all of
//!   them when it sweeps), so a release is never lost.
//! - Carrying an entry twice (that process and a reconciler, or a
//!   replayed script) counts it once: the token is already in the set.
//! - A cancelled child carries its own end on in the same `ARRIVE`: to
//!   its children in its queue there, to the others through its queue's
//!   outbox, carried in the next round. A failure travels down the graph
//!   one round (three round trips) per change of queue, each crash-safe
//!   on its own.
//!
//! Fan-in costs O(1) per parent's end: a chord's callback is counted
//! down (`waiting`), never compared with its siblings; a batch of
//! members' ends costs the callback one `ARRIVE` per queue (their
//! queues' children looked up once), or nothing when it shares their
//! queue.
//!
//! # Retrying a step
//! `lifecycle::plan_resume` needs records of several slots, so the retry
//! of a workflow step is several steps, not one script
//! ([`RedisBackend::retry_step`]): carry the step's own end if it is still
//! in the outbox (so it cannot arrive after the retry), read the records
//! and plan, apply the plan per queue (`RESUME`), retry the step, then
//! carry again the ends of the rewaited steps' parents that ended while
//! this ran (their `ARRIVE` found the step cancelled and ignored it).
//! Each change checks the state it expects and applies once, so a retry
//! that fails half-way (a crash, a lost connection) is finished by
//! retrying the step again: the steps already waiting again are left
//! alone, the step itself is still `FAILED` or `CANCELLED`. Until then
//! the rewaited steps wait for a step that does not run.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fred::prelude::*;
use futures_util::future::try_join_all;
use tracing::warn;

use super::record::micros;
use super::reply::{array, by_queue, integer, status_reply, unexpected};
use super::{RedisBackend, scripts};
use crate::backend::Store;
use crate::error::Error;
use crate::lifecycle::{self, Resume};
use crate::task::{TaskId, TaskRecord, TaskState};

/// How old an outbox entry must be before the reconciler carries it
/// outside a sweep: younger ones are most likely being carried by the
/// process that wrote them (carrying twice is harmless, only wasted).
pub(super) const OUTBOX_GRACE: Duration = Duration::from_secs(10);

/// A step's end, to be carried to its children.
#[derive(Debug, Clone)]
pub(super) struct Ended {
    /// The outbox entry it came from (queue, field); `None` for an end
    /// carried again by a retry, which is in no outbox.
    outbox: Option<(Arc<str>, String)>,
    parent: TaskId,
    /// The end's time, µs (the token's second half).
    at: i64,
    state: TaskState,
    children: Vec<TaskId>,
}

impl Ended {
    /// An outbox entry of `queue`: field `<id>:<at>`, value `<STATE>
    /// <child>…`; or, in a script's reply, a step the script ended through
    /// its parent's end in the same slot: field `<id>`, value `<STATE>`
    /// (no outbox entry, no children: only to announce).
    fn parse(queue: &Arc<str>, field: String, value: &str) -> Result<Ended, Error> {
        let bad = || Error::backend(format!("malformed workflow outbox entry `{field}`"));
        let Some((parent, at)) = field.split_once(':') else {
            return Ok(Ended {
                outbox: None,
                parent: field.parse().map_err(|_| bad())?,
                at: 0,
                state: value.parse()?,
                children: Vec::new(),
            });
        };
        let parent = parent.parse().map_err(|_| bad())?;
        let at = at.parse().map_err(|_| bad())?;
        let mut words = value.split(' ');
        let state = words.next().ok_or_else(bad)?.parse()?;
        let children = words
            .map(|w| w.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        Ok(Ended {
            outbox: Some((queue.clone(), field)),
            parent,
            at,
            state,
            children,
        })
    }
}

/// The outbox entries at the end of a script's reply (field, value
/// pairs), written in `queue`'s outbox.
pub(super) fn ended_in(
    queue: &Arc<str>,
    items: impl IntoIterator<Item = Value>,
) -> Result<Vec<Ended>, Error> {
    let mut items = items.into_iter();
    let mut ends = Vec::new();
    while let Some(field) = items.next() {
        let value = items
            .next()
            .ok_or_else(|| unexpected("outbox entry", &field))?;
        let field = field
            .into_string()
            .ok_or_else(|| Error::backend("outbox entry: field not a string"))?;
        let value = value
            .as_str()
            .ok_or_else(|| unexpected("outbox entry", &value))?;
        ends.push(Ended::parse(queue, field, &value)?);
    }
    Ok(ends)
}

/// Splits a reply after its first `keep` items: the rest are outbox
/// entries ([`ended_in`]).
pub(super) fn split_reply(value: Value, keep: usize) -> (Value, Vec<Value>) {
    match value {
        Value::Array(mut items) if items.len() > keep => {
            let rest = items.split_off(keep);
            (Value::Array(items), rest)
        }
        other => (other, Vec::new()),
    }
}

impl RedisBackend {
    /// Carries `ends` to their children (`lifecycle::parent_ended`), and
    /// the ends of the children that cancels to theirs, until none is
    /// left; deletes each outbox entry once its children heard of it, and
    /// announces the steps it cancelled. Returns how many ends it carried.
    /// On an error the entries not carried yet stay in their outboxes.
    pub(super) async fn carry(&self, mut ends: Vec<Ended>) -> Result<u64, Error> {
        let mut carried = 0;
        let mut cancelled = Vec::new();
        let retention = self.retention_secs();
        loop {
            // Steps a script already ended here: only announced.
            ends.retain(|end| {
                let here = end.outbox.is_none() && end.children.is_empty();
                if here {
                    cancelled.push(end.parent);
                }
                !here
            });
            if ends.is_empty() {
                break;
            }
            let edges: Vec<(usize, TaskId)> = ends
                .iter()
                .enumerate()
                .flat_map(|(i, end)| end.children.iter().map(move |child| (i, *child)))
                .collect();
            let children: Vec<TaskId> = edges.iter().map(|e| e.1).collect();
            // A child that is gone (purged once it ended) hears nothing.
            let groups = by_queue(&self.queues_once(&children).await?);
            let now = micros(Utc::now());
            let mut calls = Vec::with_capacity(groups.len());
            for (queue, positions) in &groups {
                let mut args = Vec::with_capacity(2 + positions.len() * 4);
                args.extend([now.clone(), retention.clone()]);
                for &p in positions {
                    let (at, child) = edges[p];
                    let end = &ends[at];
                    args.extend([
                        child.to_string(),
                        end.parent.to_string(),
                        end.state.as_str().to_owned(),
                        end.at.to_string(),
                    ]);
                }
                calls.push(self.run(&scripts::ARRIVE, queue, args));
            }
            let replies = try_join_all(calls).await?;
            let mut next = Vec::new();
            for ((queue, positions), reply) in groups.iter().zip(replies) {
                let (codes, entries) = split_reply(reply, positions.len());
                let codes = array("arrive", codes)?;
                if codes.len() != positions.len() {
                    return Err(Error::backend("arrive: reply length differs"));
                }
                for (&p, code) in positions.iter().zip(&codes) {
                    if integer("arrive", code)? == 3 {
                        cancelled.push(children[p]);
                    }
                }
                next.extend(ended_in(queue, entries)?);
            }
            self.outbox_done(&ends).await?;
            carried += ends.len() as u64;
            ends = next;
        }
        self.announce_ended(cancelled).await;
        Ok(carried)
    }

    /// [`RedisBackend::queues_of`] with each id looked up once (many
    /// ends may name one child: a chord's callback).
    async fn queues_once(&self, ids: &[TaskId]) -> Result<Vec<Option<Arc<str>>>, Error> {
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() == ids.len() {
            return self.queues_of(ids).await;
        }
        let found: HashMap<TaskId, Option<Arc<str>>> = unique
            .iter()
            .copied()
            .zip(self.queues_of(&unique).await?)
            .collect();
        Ok(ids
            .iter()
            .map(|id| found.get(id).cloned().flatten())
            .collect())
    }

    /// [`RedisBackend::carry`] after a step ended: a failure is logged,
    /// not returned (the end itself is stored), and its entries are left
    /// to the reconciler.
    pub(super) async fn carry_or_leave(&self, ends: Vec<Ended>) {
        if ends.is_empty() {
            return;
        }
        if let Err(err) = self.carry(ends).await {
            warn!(error = %err,
                "could not carry workflow step ends to their children; the reconciler will");
        }
    }

    /// Deletes the outbox entries of carried ends (one pipeline).
    async fn outbox_done(&self, ends: &[Ended]) -> Result<(), Error> {
        let client = self.pool.next();
        let pipeline = client.pipeline();
        let mut any = false;
        for (queue, field) in ends.iter().filter_map(|e| e.outbox.as_ref()) {
            let _: () = pipeline
                .hdel(self.queue_keys(queue).keys[8].as_str(), field.as_str())
                .await
                .map_err(Error::backend)?;
            any = true;
        }
        if any {
            for reply in pipeline.try_all::<Value>().await {
                reply.map_err(Error::backend)?;
            }
        }
        Ok(())
    }

    /// The reconciler's part: carries the outbox entries of every queue
    /// older than [`OUTBOX_GRACE`] (every entry when `sweep`), left by a
    /// process that died or lost Redis while carrying them. One pipelined
    /// read of every queue's outbox when they are empty.
    pub(super) async fn carry_outboxes(&self, sweep: bool) -> Result<u64, Error> {
        let queues = self.queue_names().await?;
        if queues.is_empty() {
            return Ok(0);
        }
        let client = self.pool.next();
        let pipeline = client.pipeline();
        for queue in &queues {
            let _: () = pipeline
                .hgetall(self.queue_keys(queue).keys[8].as_str())
                .await
                .map_err(Error::backend)?;
        }
        let old_before = (Utc::now() - OUTBOX_GRACE).timestamp_micros();
        let mut ends = Vec::new();
        for (queue, reply) in queues.into_iter().zip(pipeline.try_all::<Value>().await) {
            let entries: HashMap<String, String> = reply
                .map_err(Error::backend)?
                .convert()
                .map_err(Error::backend)?;
            let queue: Arc<str> = Arc::from(queue);
            for (field, value) in entries {
                let end = Ended::parse(&queue, field, &value)?;
                if sweep || end.at < old_before {
                    ends.push(end);
                }
            }
        }
        if ends.is_empty() {
            return Ok(0);
        }
        self.carry(ends).await
    }

    /// **retry** of a workflow step (module docs,
    /// "Retrying a step"): `lifecycle::plan_resume`, its changes, then
    /// `lifecycle::retry`.
    pub(super) async fn retry_step(
        &self,
        id: TaskId,
        queue: &Arc<str>,
        now: chrono::DateTime<Utc>,
    ) -> Result<TaskRecord, Error> {
        let record = self.get(id).await?.ok_or(Error::NotFound(id))?;
        let token = |r: &TaskRecord| {
            r.finished_at
                .filter(|_| r.state.is_terminal())
                .map(|at| format!("{}:{}", r.id, at.timestamp_micros()))
        };
        // Its end, if still in the outbox, arrives now, not after the retry.
        let children = record.step.as_ref().is_some_and(|s| !s.children.is_empty());
        if let Some(field) = token(&record).filter(|_| children) {
            let value: Option<String> = self
                .pool
                .next()
                .hget(self.queue_keys(queue).keys[8].as_str(), field.as_str())
                .await
                .map_err(Error::backend)?;
            if let Some(value) = value {
                self.carry(vec![Ended::parse(queue, field, &value)?])
                    .await?;
            }
        }
        let mut known: HashMap<TaskId, Option<TaskRecord>> = HashMap::new();
        known.insert(id, Some(record.clone()));
        // Read what the plan looks at, one level of the graph a pass.
        let plan = loop {
            let mut missing = Vec::new();
            let plan = lifecycle::plan_resume(&record, &mut |wanted| match known.get(&wanted) {
                Some(found) => found.clone(),
                None => {
                    missing.push(wanted);
                    None
                }
            });
            if missing.is_empty() {
                break plan?;
            }
            missing.sort_unstable();
            missing.dedup();
            let found = self.get_many(&missing).await?;
            known.extend(missing.into_iter().map(|m| (m, None)));
            known.extend(found.into_iter().map(|r| (r.id, Some(r))));
        };
        let resumed: HashSet<TaskId> = plan
            .iter()
            .filter_map(|change| match *change {
                Resume::Rewait { id: step, .. } => Some(step),
                Resume::CountAgain { .. } => None,
            })
            .chain([id])
            .collect();
        // Per rewaited step: its parents, and the ends its count reflects.
        let mut rewaited: Vec<(TaskId, Vec<TaskId>, HashSet<String>)> = Vec::new();
        let mut changes: Vec<Vec<String>> = Vec::with_capacity(plan.len());
        for change in &plan {
            match *change {
                Resume::Rewait {
                    id: step,
                    waiting_on,
                } => {
                    let parents = known
                        .get(&step)
                        .and_then(|r| r.as_ref()?.step.as_ref())
                        .map(|s| s.parents.clone())
                        .unwrap_or_default();
                    // Not the old ends of the retried step and of the
                    // steps it rewaits: each will end again, and that end
                    // must count, even one stamped with the same µs.
                    let tokens: HashSet<String> = parents
                        .iter()
                        .filter(|p| !resumed.contains(*p))
                        .filter_map(|p| token(known.get(p)?.as_ref()?))
                        .collect();
                    let mut args = vec![
                        "rewait".to_owned(),
                        step.to_string(),
                        waiting_on.to_string(),
                        tokens.len().to_string(),
                    ];
                    args.extend(tokens.iter().cloned());
                    changes.push(args);
                    rewaited.push((step, parents, tokens));
                }
                Resume::CountAgain { id: step } => changes.push(vec![
                    "count".to_owned(),
                    step.to_string(),
                    token(&record).unwrap_or_default(),
                ]),
            }
        }
        let ids: Vec<TaskId> = plan
            .iter()
            .map(|(Resume::Rewait { id, .. } | Resume::CountAgain { id })| *id)
            .collect();
        for (in_queue, positions) in by_queue(&self.queues_of(&ids).await?) {
            let args = positions.iter().flat_map(|&p| changes[p].clone()).collect();
            self.run(&scripts::RESUME, &in_queue, args).await?;
        }
        let reply = self
            .run_once(
                &scripts::RETRY,
                queue,
                vec![id.to_string(), micros(now), "1".to_owned()],
            )
            .await?;
        let retried = status_reply("retry", reply)?.into_record(id, "retry")?;
        self.carry_late_ends(&rewaited).await?;
        Ok(retried)
    }

    /// Carries to each rewaited step the ends of its parents that its
    /// count does not reflect: parents that ended while the retry ran,
    /// whose `ARRIVE` found the step cancelled.
    async fn carry_late_ends(
        &self,
        rewaited: &[(TaskId, Vec<TaskId>, HashSet<String>)],
    ) -> Result<(), Error> {
        let mut parents: Vec<TaskId> = rewaited.iter().flat_map(|r| r.1.clone()).collect();
        if parents.is_empty() {
            return Ok(());
        }
        parents.sort_unstable();
        parents.dedup();
        let now: HashMap<TaskId, TaskRecord> = self
            .get_many(&parents)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut late = Vec::new();
        for (step, of_step, counted) in rewaited {
            for parent in of_step.iter().filter_map(|p| now.get(p)) {
                let Some(at) = parent.finished_at.filter(|_| parent.state.is_terminal()) else {
                    continue;
                };
                let at = at.timestamp_micros();
                if !counted.contains(&format!("{}:{at}", parent.id)) {
                    late.push(Ended {
                        outbox: None,
                        parent: parent.id,
                        at,
                        state: parent.state,
                        children: vec![*step],
                    });
                }
            }
        }
        if !late.is_empty() {
            self.carry(late).await?;
        }
        Ok(())
    }
}
