//! [`Broker::claim`](crate::backend::Broker::claim) on Redis: the queue's
//! claim script, and for the candidates of limited types it lists, their
//! permits in each type's slot and a second script that claims the
//! granted ones (`permits.rs` has the why).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fred::prelude::*;

use super::permits::{CopyLimits, Permit};
use super::record::{self, micros};
use super::reply::array;
use super::workflow::ended_in;
use super::{RedisBackend, scripts};
use crate::backend::ClaimRequest;
use crate::error::Error;
use crate::task::TaskRecord;

/// The most claim-script walks one claim runs (see `claim_tasks`).
const MAX_ROUNDS: usize = 3;

/// A task the claim script met and left in its place: of a limited type,
/// or (free) of another type past the first limited one; its id, the
/// attempt a claim would give it, its type and key.
struct Candidate {
    id: String,
    attempt: String,
    task_type: String,
    key: Option<String>,
}

impl Candidate {
    fn member(&self) -> String {
        format!("{}:{}", self.id, self.attempt)
    }
}

/// What one run of the claim script gave.
struct Round {
    claimed: Vec<TaskRecord>,
    candidates: Vec<Candidate>,
    limits: HashMap<String, CopyLimits>,
}

/// The next reply item as text ('' for nil).
fn text(item: Option<Value>, what: &str) -> Result<String, Error> {
    match item {
        None | Some(Value::Null) => Ok(String::new()),
        Some(value) => value
            .into_string()
            .ok_or_else(|| Error::backend(format!("claim: {what} is not text"))),
    }
}

/// The reply's list at `item` (nil, `false` or absent: empty).
fn list(item: Option<Value>) -> Result<Vec<Value>, Error> {
    match item {
        None | Some(Value::Null) | Some(Value::Boolean(false)) => Ok(Vec::new()),
        Some(value) => array("claim", value),
    }
}

impl RedisBackend {
    /// The limited types whose last grant in this process refused a
    /// candidate (`claim.lua`: its walk looks past their tasks).
    fn refused_types(&self) -> Vec<String> {
        let refused = self
            .refused
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        refused.iter().cloned().collect()
    }

    fn note_refused(&self, task_type: &str, refused: bool) {
        let mut types = self
            .refused
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if refused {
            types.insert(task_type.to_owned());
        } else {
            types.remove(task_type);
        }
    }

    pub(super) async fn claim_tasks(
        &self,
        request: ClaimRequest<'_>,
    ) -> Result<Vec<TaskRecord>, Error> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        let lease_until = request.now + request.lease;
        let head = |limit: usize| {
            vec![
                micros(request.now),
                limit.to_string(),
                request.worker_id.to_owned(),
                micros(lease_until),
                self.retention_secs(),
            ]
        };
        let mut claimed: Vec<TaskRecord> = Vec::new();
        let mut wake: Option<i64> = None;
        let mut held: Vec<Permit> = Vec::new();
        // A walk counts a limited type's candidates toward its room unless
        // the type's last grant refused one; a grant that refuses one now
        // (a type newly full) leaves room the walk did not fill, so the
        // claim walks again, looking past that type's tasks, as the other
        // backends' single walk does (`lifecycle::TypeCaps`). The refused
        // set only grows between rounds, so the rounds are few.
        for _round in 0..MAX_ROUNDS {
            let room = request.limit - claimed.len();
            let mut args = head(room);
            // The type limits are the script's to read, from the queue's
            // copy (`type_limits.rs`): no read before the claim. What this
            // process remembers of the last grants only steers how far the
            // walk looks.
            let refused = self.refused_types();
            args.push(refused.len().to_string());
            args.extend(refused.iter().cloned());
            match request.task_types {
                None => args.push("0".to_owned()),
                Some(types) => {
                    args.push("1".to_owned());
                    args.extend(types.iter().map(|t| (*t).to_owned()));
                }
            }
            let first = self.claim_round(&request, args, lease_until).await?;
            claimed.extend(first.claimed);
            if first.candidates.is_empty() {
                break;
            }
            let room = request.limit.saturating_sub(claimed.len());
            match self
                .claim_granted(
                    &request,
                    first.candidates,
                    &first.limits,
                    room,
                    lease_until,
                    head,
                )
                .await
            {
                Ok((tasks, permits, granted_wake)) => {
                    claimed.extend(tasks);
                    held.extend(permits);
                    wake = match (wake, granted_wake) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                // The first script's tasks are claimed: hand them out.
                Err(err) if !claimed.is_empty() => {
                    tracing::warn!(error = %err, "could not claim the limited types' tasks");
                    break;
                }
                Err(err) => return Err(err),
            }
            let newly_refused = self.refused_types().iter().any(|t| !refused.contains(t));
            if claimed.len() >= request.limit || !newly_refused {
                break;
            }
        }
        self.wakes.record(
            request.queue,
            wake.and_then(DateTime::from_timestamp_micros),
        );
        self.remember(&claimed, request.queue);
        self.hold_permits(held);
        Ok(claimed)
    }

    /// Steps 2 and 3 (`permits.rs`): the permits of each limited type's
    /// candidates, then the claim, in claim order, of the free candidates
    /// (tasks of other types the walk listed past the first limited one)
    /// and the granted ones, `room` at most; the permits of those it did
    /// not claim go back. Returns the tasks claimed, the permits they
    /// hold and the earliest time a rate bucket that held a candidate
    /// back frees.
    async fn claim_granted(
        &self,
        request: &ClaimRequest<'_>,
        candidates: Vec<Candidate>,
        limits: &HashMap<String, CopyLimits>,
        room: usize,
        lease_until: DateTime<Utc>,
        head: impl Fn(usize) -> Vec<String>,
    ) -> Result<(Vec<TaskRecord>, Vec<Permit>, Option<i64>), Error> {
        let mut types: Vec<&str> = Vec::new();
        for c in &candidates {
            if limits.contains_key(&c.task_type) && !types.contains(&c.task_type.as_str()) {
                types.push(&c.task_type);
            }
        }
        let mut granted: Vec<String> = Vec::new();
        let mut wake: Option<i64> = None;
        for task_type in types {
            let copy = limits.get(task_type).cloned().unwrap_or_default();
            let of_type: Vec<(String, Option<String>)> = candidates
                .iter()
                .filter(|c| c.task_type == task_type)
                .map(|c| (c.member(), c.key.clone()))
                .collect();
            let answer = self
                .grant_permits(
                    task_type,
                    &copy,
                    request.now.timestamp_micros(),
                    lease_until.timestamp_micros(),
                    room,
                    &of_type,
                )
                .await?;
            self.note_refused(task_type, answer.members.len() < of_type.len());
            wake = match (wake, answer.wake) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            granted.extend(answer.members);
        }
        // In claim order, `room` at most, each with the permit it holds
        // (type and key limits only: a type limited by rates alone, or a
        // free candidate, holds none).
        let mut chosen: Vec<(&Candidate, Option<Permit>)> = Vec::new();
        let mut unused: Vec<Permit> = Vec::new();
        for c in &candidates {
            let Some(copy) = limits.get(&c.task_type) else {
                if chosen.len() < room {
                    chosen.push((c, None));
                }
                continue;
            };
            if !granted.contains(&c.member()) {
                continue;
            }
            let permit = copy.holds().then(|| Permit {
                task_type: c.task_type.clone(),
                member: c.member(),
                key: c.key.clone(),
            });
            if chosen.len() < room {
                chosen.push((c, permit));
            } else {
                unused.extend(permit);
            }
        }
        if chosen.is_empty() {
            self.return_permits(unused).await;
            return Ok((Vec::new(), Vec::new(), wake));
        }
        let mut args = head(chosen.len());
        args.push("0".to_owned());
        args.push("g".to_owned());
        for (c, _) in &chosen {
            args.push(c.id.clone());
            args.push(c.attempt.clone());
        }
        // On an error whether the script ran is unknown: a permit of a
        // task it claimed must stay, so they all end with their leases
        // (the tasks, unsettled, are rescued then).
        let round = self.claim_round(request, args, lease_until).await?;
        let mut kept = Vec::new();
        for permit in chosen.into_iter().filter_map(|(_, p)| p) {
            let claimed = round
                .claimed
                .iter()
                .any(|t| permit.member == format!("{}:{}", t.id, t.attempt));
            if claimed {
                kept.push(permit);
            } else {
                unused.push(permit);
            }
        }
        self.return_permits(unused).await;
        Ok((round.claimed, kept, wake))
    }

    /// One run of the claim script (syncing the queue's copy of the type
    /// limits first if it never was).
    async fn claim_round(
        &self,
        request: &ClaimRequest<'_>,
        args: Vec<String>,
        lease_until: DateTime<Utc>,
    ) -> Result<Round, Error> {
        let mut reply = self
            .run_claim(&scripts::CLAIM, request.queue, args.clone(), request.lease)
            .await?;
        if reply.as_i64() == Some(-1) {
            // The queue's copy was never synced: sync it, claim again.
            self.sync_type_limits(request.queue).await?;
            reply = self
                .run_claim(&scripts::CLAIM, request.queue, args, request.lease)
                .await?;
        }
        let mut items = array("claim", reply)?.into_iter();
        let next_due = match items.next() {
            // Tasks it met past their deadline expired (`CLAIM`'s docs).
            Some(Value::Array(head)) => {
                let mut head = head.into_iter();
                let next_due = head.next().and_then(|v| v.as_i64());
                let expired = head.next().and_then(|v| v.as_i64()).unwrap_or(0);
                let queue: Arc<str> = Arc::from(request.queue);
                let ends = ended_in(&queue, head)?;
                self.claim_expired(expired, ends).await;
                next_due
            }
            first => first.and_then(|v| v.as_i64()),
        };
        self.wake_at(next_due);
        let hold = items.next().and_then(|v| v.as_i64());
        self.holds.record(
            request.queue,
            hold.and_then(DateTime::from_timestamp_micros),
        );
        // The third item is unused (nil).
        items.next();
        let mut candidates = Vec::new();
        let mut flat = list(items.next())?.into_iter();
        while let Some(id) = flat.next() {
            let id = text(Some(id), "a candidate")?;
            let attempt = text(flat.next(), "a candidate's attempt")?;
            let task_type = text(flat.next(), "a candidate's type")?;
            let key = text(flat.next(), "a candidate's key")?;
            candidates.push(Candidate {
                id,
                attempt,
                task_type,
                key: (!key.is_empty()).then_some(key),
            });
        }
        let mut limits = HashMap::new();
        let mut flat = list(items.next())?.into_iter();
        while let Some(task_type) = flat.next() {
            let task_type = text(Some(task_type), "a limited type")?;
            let copy = CopyLimits {
                limit: text(flat.next(), "a limit")?,
                key_limit: text(flat.next(), "a key limit")?,
                rate: text(flat.next(), "a rate limit")?,
                key_rate: text(flat.next(), "a key rate limit")?,
            };
            limits.insert(task_type, copy);
        }
        let claimed = record::from_claim(items, request, lease_until)?;
        Ok(Round {
            claimed,
            candidates,
            limits,
        })
    }
}
