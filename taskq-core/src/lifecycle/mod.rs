//! The task lifecycle, written once: every rule of a task's life as a pure
//! function of a record, an event and the time — no I/O, no clock.
//!
//! This module is the spec a backend author reads. The in-memory backend
//! is storage around these functions; the SQL statements (taskq-sea) and
//! the Lua scripts (`redis/scripts/`) are fast renderings of them, and each
//! names the rule it implements (`lifecycle::settle`, …). The model test
//! (`conformance::model`, feature `conformance`) runs seeded random
//! sequences of operations against a backend and against a plain store
//! built on this module, and compares every record and return value.
//!
//! # States
//! ```text
//! submit (workflow step with parents) ─▶ WAITING ──last parent ended──▶ PENDING
//!                                           └──a parent did not finish, or cancel──▶ CANCELLED
//! submit ─▶ PENDING ──claim──▶ RUNNING ──settle Finished──▶ FINISHED
//!             ▲  │               │  ├────settle Failed─────▶ FAILED
//!             │  │ cancel        │  ├────settle Cancelled──▶ CANCELLED
//!             │  ▼               │  └─rescue (no retry left)▶ FAILED
//!             │ CANCELLED        │    rescue (cancel asked) ▶ CANCELLED
//!             │                  │    release (cancel asked)▶ CANCELLED
//!             │                  │
//!             └── settle Retry, settle Snooze, release, rescue (retry left)
//! PENDING ──expires_at passed (claim or sweep)──▶ EXPIRED
//! FAILED, CANCELLED, EXPIRED ──retry──▶ PENDING
//! ```
//!
//! # Rules (one function each)
//! | rule | from | to | function |
//! |---|---|---|---|
//! | submit | — | `PENDING`; a batch with a stored (`Error::TaskExists`) or repeated id is refused whole | [`check_new_ids`] |
//! | submit (unique) | — | not stored while a task of the queue [holds](holds_unique) its key ([`unique_key`]), nor after an earlier task of its batch with the key ([`unique_in_batch`]): reported as a duplicate of that holder | [`holds_unique`] |
//! | claim | `PENDING`, due, not expired ([`is_expired`]), queue not paused, of a type the claimer runs ([`accepts_type`]) | `RUNNING`, `attempt + 1` | [`claim`] |
//! | claim (queue limit) | — | at most `limit − running` tasks, `running` counted from the queue's `RUNNING` tasks inside the claim; a limit of 0 is refused ([`check_queue_limit`]) | [`claim_capacity`] |
//! | claim (type limit) | — | a task whose type is at its limit, or whose concurrency key is at its type's key limit (`RUNNING` tasks of the type, or of the type with the key, counted inside the claim), is passed over, keeping its place; a limit of 0 is refused ([`check_type_limit`]) | [`TypeCaps`] |
//! | claim (rate limit) | — | at most as many tasks as the queue's token bucket allows at `now` (its `tat` read and moved by the claim), `min` with the queue limit; `starts` 0 or a period out of range is refused ([`check_rate_limit`]); a claim cut short reports when the next start is allowed ([`rate_next_start`]) | [`rate_capacity`], [`rate_spend`] |
//! | claim order | — | higher priority, then lower `fair_round`, then lower `seq`, then id | [`claim_order`] |
//! | submit (fair queue) | — | `fair_round` = the later of the lane's (concurrency key's) next round and the queue's current round, the highest a claim took; the lane's next round counts only while a `PENDING` or `WAITING` task of it holds a round not behind the current one; 0 in a queue that is not fair | [`fair_round`], [`owed_next`], [`fair_claimed`] |
//! | heartbeat | `RUNNING`, same attempt and worker | lease extended | [`heartbeat`] |
//! | settle | `RUNNING`, same attempt | the outcome's state | [`settle`] |
//! | after an error | — | retry with backoff, or fail, or cancel | [`after_error`] |
//! | snooze | `RUNNING`, same attempt | `PENDING` at `now + delay`, attempt given back, `snoozes + 1`; `FAILED` ([`ErrorKind::SnoozeLimit`](crate::task::ErrorKind)) past the type's `max_snoozes` or [`MAX_SNOOZE_DELAY`]; `CANCELLED` if a cancel was requested | [`after_snooze`], then [`settle`] |
//! | expire | `PENDING` with `expires_at <= now` (first attempt or retry) | `EXPIRED`, finished now ([`expired_failure`]); a deadline given in the past is refused ([`check_expires_at`]) | [`expire`], by the sweep ([`EXPIRE_BATCH`] a statement) and by claims that meet it |
//! | release | `RUNNING`, same attempt and worker | `PENDING`, attempt given back; `CANCELLED` if a cancel was requested | [`release`] |
//! | cancel | `WAITING`, `PENDING` / `RUNNING` | `CANCELLED` / cancel requested | [`cancel`] |
//! | retry | `FAILED`, `CANCELLED`, `EXPIRED` | `PENDING`, due now, no deadline, no snoozes counted | [`retry`] |
//! | parent ended (workflow) | `WAITING`, a parent terminal | counted; `PENDING` after the last; `CANCELLED` ([`ErrorKind::ParentFailed`](crate::task::ErrorKind)) if a parent did not finish and the step runs only after success | [`parent_ended`], for each of [`ended_edges`] of every step that ends, in the same transaction |
//! | retry (workflow step) | as retry | the steps its end cancelled wait again, recursively | [`plan_resume`], [`apply_resume`] |
//! | reorder | `PENDING` | new priority, `fair_round` and `seq` | [`reorder`] |
//! | rescue | `RUNNING`, lease ended | `PENDING` after the backoff, `FAILED`, `CANCELLED` | [`rescue`] |
//! | progress | `RUNNING`, same attempt | progress stored | [`record_progress`] |
//! | end of an attempt (settle, release, rescue) | `RUNNING` | one [`AttemptRecord`](crate::task::AttemptRecord) appended in the same step, numbered one past the last ([`next_ordinal`]), the last [`HISTORY_MAX`] kept | [`end_attempt`] |
//! | fire (schedule) | — | each queued task names its schedule | [`name_fired_tasks`] |
//! | submit (labels) | — | tags checked and deduplicated, metadata a small object; a list filters on every tag given and on top-level metadata values (same JSON type, numbers by value) | [`check_tags`], [`check_metadata`], [`has_tags`], [`has_metadata`] |
//! | delete | terminal | gone | [`check_delete`] |
//! | purge | terminal, finished before a time | gone | [`is_purged`] |
//!
//! A fenced call (settle, heartbeat, release, progress) on a task that is
//! no longer at that attempt changes nothing and reports so; it is not an
//! error, because a worker that lost its lease learns it this way. A call
//! an operator makes on a state that does not allow it is
//! [`Error::InvalidTransition`](crate::error::Error::InvalidTransition) and changes nothing.

mod expire;
mod fair;
mod history;
mod limit;
mod messages;
mod order;
mod retry;
mod snooze;
#[cfg(test)]
pub(crate) mod test_record;
mod transitions;
mod type_limit;
mod type_rate;
mod unique;
mod workflow;

pub use crate::retry_policy::{RetryPolicies, RetryPolicy};
pub use expire::{EXPIRE_BATCH, check_expires_at, expire, expired_failure, is_expired};
pub use fair::{
    DEFAULT_FAIR_WEIGHT, FIRST_ROUND, FairRounds, HeldRounds, MAX_FAIR_KEY_LEN, MAX_FAIR_WEIGHT,
    check_fair_weight, fair_claimed, fair_lane, fair_round, fair_turn, owed_next,
};
pub use history::{
    HISTORY_MAX, HISTORY_MESSAGE_MAX, MAX_METADATA_BYTES, MAX_METADATA_FILTERS,
    MAX_METADATA_KEY_LEN, MAX_TAG_LEN, MAX_TAGS, check_metadata, check_metadata_filter, check_tags,
    end_attempt, event_entry, has_metadata, has_tags, history_entry, is_valid_metadata_key,
    is_valid_tag, metadata_value_from_text, name_fired_tasks, next_ordinal, push_history,
    tags_from_text, tags_text,
};
pub use limit::{
    check_queue_limit, check_rate_limit, claim_capacity, rate_capacity, rate_claim_cap, rate_cost,
    rate_next_start, rate_spend,
};
pub use messages::{
    cancelled_before_run, id_exists, id_repeated, lease_failure, released_after_cancel,
};
pub use order::{ClaimOrder, Place, Reorder, check_before_target, claim_order, place, reorder};
pub use retry::after_error;
pub use snooze::{MAX_SNOOZE_DELAY, after_returned_error, after_snooze};
pub use transitions::{
    Rescued, accepts_type, cancel, check_batch_ids, check_delete, check_new_ids, check_reorder,
    claim, heartbeat, is_claimable, is_lease_expired, is_purged, is_retryable_state,
    is_running_attempt, record_progress, release, rescue, rescue_retry_at, rescue_to, retry,
    settle, settled_attempt,
};
pub use type_limit::{
    MAX_CONCURRENCY_KEY, TypeCaps, check_concurrency_key, check_type_limit, concurrency_key,
    counted_key,
};
pub use type_rate::{RateBucket, check_type_rate_limit, key_bucket_spent};
pub use unique::{holds_unique, sort_unique, unique_in_batch, unique_key};
pub use workflow::{
    Arrival, Resume, apply_resume, ended_edges, parent_ended, parent_failure, plan_resume,
    step_ended_edges,
};
