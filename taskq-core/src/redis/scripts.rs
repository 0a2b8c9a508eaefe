//! The Lua scripts: every change that touches more than one key is one
//! script, so it is atomic. Each script's Lua is a file of `scripts/`
//! (loaded with `include_str!`, so an editor and a reader see Lua); its
//! calling convention is documented here, on its static.
//!
//! Calling convention (see `keys::QueueKeys`): `KEYS` are the queue's
//! ready, delayed, running, done, created, paused and delayed-order keys,
//! the list-index root, the workflow outbox, the limit and the rate keys; `ARGV[1]` is
//! the queue's record-key prefix, `ARGV[2]` the work channel, `ARGV[3]` the
//! queue name; a script's own arguments follow. Records are hashes with one
//! field per `TaskRecord` field (see `record.rs`) but `lease_until`, which
//! is the task's score in the running set; times are microseconds.
//!
//! # The running set
//! Its members are `<id>:<attempt>`, scored by lease deadline, and it
//! holds exactly the running tasks' current attempts. A settlement's
//! fence ("still running, and this attempt") is then one `ZMSCORE` for a
//! whole batch instead of a record read per task; with the type and
//! creation time the settling process remembers from its claim, a
//! finished task costs its settle script one record write and no read.
//! Bare-id members (written before attempts were part of them) are read
//! as their id with any attempt, so an upgrade rescues them as usual.
//! A cancel request left on a terminal record means nothing (readers
//! ignore it), so settling does not delete it.
//!
//! Lua numbers are doubles: numbers handed back to Redis go through
//! `int()`, never through Lua's default `%.14g` formatting.
//!
//! # List indexes
//! Every state change keeps the list indexes (see `keys.rs`) current in
//! the same script: a filtered list page is then one sorted-set range
//! (O(log n + page)) instead of a scan of every record. Changes are
//! collected per index key and written once per script, so a batch of
//! claims or settlements adds a few commands per call, not per task.
//! RUNNING has no index: listing it scans the running set, whose size is
//! bounded by the workers' concurrency, which spares claim and settle a
//! write per task each. A record that expired (retention) leaves its
//! index entries until purge drops them with the done-set entry.
//!
//! # Workflow steps
//! A step with parents is stored `WAITING` (indexed, in neither ready nor
//! delayed set) with a `waiting` field, its count of parents yet to end.
//! Its children may live in other queues, so in other cluster slots,
//! where the script that ends a step cannot reach: instead, every script
//! that ends a step with children (settle, cancel, release, rescue, and
//! `ARRIVE` when it cancels one) records the end in the queue's outbox
//! (`KEYS[9]`) in the same script, and returns the entries it wrote after
//! its usual reply (as field, value pairs: `<id>:<ended at µs>`,
//! `<STATE> <child>…`). The caller then runs `ARRIVE` in each child's
//! queue and deletes the entry (`redis/workflow.rs`, where the crash
//! cases are). A plain task costs none of this: the scripts read the
//! `step` field only where they read the record anyway, and settle only
//! when the caller does not know the task has no children.
//!
//! `SETTLE` and `ARRIVE` first apply the end to the children in their own
//! queue (`steps.lua`): those hear of it in the script that ends the
//! step, and only the others get an outbox entry. A chord whose callback
//! is in its members' queue then costs no round trip per member. A child
//! cancelled that way carries its own end on in the same script, and is
//! listed after the entries as the pair `<id>`, `CANCELLED` (no `:`:
//! nothing to carry, only to announce).
//!
//! Cluster: every key a script touches — `KEYS`, records, index keys
//! named from `KEYS[8]` and a step's arrived set (`<record key>:arrived`)
//! — carries the queue's hash tag, so one slot.

use std::sync::LazyLock;
use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;

use super::RedisBackend;
use crate::error::Error;
use crate::lifecycle;
use crate::task::{TaskId, TaskState};

/// Shared by every script: the ready-set member encoding (as
/// `keys::member`), and the pending / terminal bookkeeping.
const HELPERS: &str = include_str!("scripts/helpers.lua");

pub(super) fn script(body: &str) -> Script {
    let helpers = HELPERS
        .replace("@HISTORY_MAX@", &crate::lifecycle::HISTORY_MAX.to_string())
        .replace(
            "@HISTORY_MESSAGE_MAX@",
            &crate::lifecycle::HISTORY_MESSAGE_MAX.to_string(),
        );
    Script::from_lua(format!("{helpers}\n{body}"))
}

/// [`script`] for the scripts that carry a step's end to its children
/// (`SETTLE`, `ARRIVE`): `steps.lua` between the helpers and `body`.
fn script_with_steps(body: &str) -> Script {
    script(&format!("{}\n{body}", steps_lua()))
}

/// `steps.lua` with `lifecycle::parent_failure`'s JSON cut around a
/// parent's id and state, so the Lua writes what Rust would.
fn steps_lua() -> String {
    let parent = TaskId::nil();
    let sample = serde_json::to_string(&lifecycle::parent_failure(parent, TaskState::Failed))
        .expect("a TaskFailure serializes");
    let (head, rest) = sample
        .split_once(&parent.to_string())
        .expect("the message names the parent");
    let (mid, tail) = rest
        .split_once(TaskState::Failed.as_str())
        .expect("the message names the state");
    // Lua long strings: no escaping, and JSON never holds `]==]`.
    let lua = |s: &str| format!("[==[{s}]==]");
    include_str!("scripts/steps.lua")
        .replace("@PARENT_FAILURE_HEAD@", &lua(head))
        .replace("@PARENT_FAILURE_MID@", &lua(mid))
        .replace("@PARENT_FAILURE_TAIL@", &lua(tail))
}

/// ARGV[4] now, [5] mode; then per task: unique-key key name (`''`: not
/// unique), the `expires_at` and `fair_round` fields' values (`''`: none;
/// repeated so the script files the task without reading its record
/// back), field count, fields… — which start with
/// `record::LEADING_FIELDS` (id, type, state (`PENDING`, or `WAITING`: a
/// workflow step with parents, stored and indexed but not in the ready or
/// delayed set), priority, creation and due time, seq…), read where they
/// are rather than sent twice. Mode `strict` (a submit) writes every task: the
/// id index (`SET NX`, written first by the caller) already refused ids
/// that exist. Mode `missing` (a schedule's tick tasks) writes the tasks
/// not stored yet and skips the others. A task whose unique key a holder
/// holds (`lifecycle::holds_unique`, read from the holder's record) is
/// not written. Returns those as pairs: position among this call's
/// tasks (0-based), holder id.
pub(crate) static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    // A leading field's value: its offset from the task's first argument
    // (four arguments before the fields, then name, value pairs).
    let offset = |name: &str| {
        super::record::LEADING_FIELDS
            .iter()
            .position(|f| *f == name)
            .map(|p| (4 + 2 * p + 1).to_string())
            .expect("a leading field")
    };
    script(
        &include_str!("scripts/enqueue.lua")
            .replace("@ID@", &offset("id"))
            .replace("@TYPE@", &offset("task_type"))
            .replace("@STATE@", &offset("state"))
            .replace("@PRIORITY@", &offset("priority"))
            .replace("@CREATED@", &offset("created_at"))
            .replace("@SCHEDULED@", &offset("scheduled_at"))
            .replace("@SEQ@", &offset("seq")),
    )
});

/// The record fields a claim returns per task, after its id and new
/// attempt (see `record::from_claim`); the rest of a claimed record is
/// known to the claimer.
pub(crate) const CLAIM_FIELDS: [&str; 25] = [
    "task_type",
    "params",
    "priority",
    "max_retries",
    "created_at",
    "scheduled_at",
    "seq",
    "error",
    "timeout",
    "soft_timeout",
    "cancel_requested",
    "unique_key",
    "unique_states",
    "unique_until",
    "step",
    "waiting",
    "history",
    "tags",
    "metadata",
    "schedule",
    "snoozes",
    "expires_at",
    "concurrency_key",
    "trace_context",
    "fair_round",
];

/// ARGV[4] now, [5] limit, [6] worker, [7] lease until, [8] retention (s,
/// 0 = none) of the tasks it expires, [9] how many types follow whose
/// last grant in this process refused a candidate (a hint: the walk
/// looks past their tasks), those types, then `1` when only the task
/// types that follow are taken (`lifecycle::accepts_type`; others keep
/// their place, at most `limit + 1000` members are read a call), `0` for
/// any, or `g` when only the candidates that follow as (id, attempt)
/// pairs are taken (those still due at that attempt, in that order).
/// Promotes due delayed tasks (a bounded batch per call), then
/// claims in order, no more than the queue's limit (`KEYS[10]`) leaves
/// beside the running set (`lifecycle::claim_capacity`) and its rate
/// limit's bucket (`KEYS[11]`) allows at `now` (`lifecycle::rate_capacity`,
/// spent in the same script): two commands per task plus a few per call.
/// A task of a type the queue's copy of the type limits (`KEYS[12]`)
/// limits is not claimed but listed as a candidate, and so is every task
/// the walk would take past it (free candidates), all keeping their
/// places: the type and key limits and rates hold over every queue, in
/// the type's own slot (`permits.rs`), which grants permits before a `g`
/// call claims the granted and free candidates in claim order. Returns
/// `-1`, claiming nothing, when the queue's copy of the type limits is
/// missing (never synced: `type_limits.rs`). Otherwise returns the next
/// due time of the delayed set (µs, or nil) — or, when it expired tasks,
/// `{next due, count, outbox entries…}` —, the time the bucket next
/// allows a start if it is empty (µs, or nil), nil (unused), the
/// candidates (id, attempt they would get, type, key or '' per task;
/// nil: none), the limited types' limits (type, then the copy's `l:`,
/// `k:`, `r:` and `s:` values or '' per type), then per claimed task its
/// id, new attempt and the `CLAIM_FIELDS` (written into the script, not
/// sent with every call).
///
/// Only pending tasks are in the ready set (every move out of PENDING
/// removes the member), so a popped member needs no state check; one past
/// its deadline to start is expired instead of claimed
/// (`lifecycle::expire`), its step's end left in the outbox.
pub(crate) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    // 1-based places in the HMGET reply ('attempt' comes first).
    let place = |name: &str| {
        CLAIM_FIELDS
            .iter()
            .position(|f| *f == name)
            .map(|p| (p + 2).to_string())
            .expect("a claim field")
    };
    // And 'progress' last, read but not returned.
    let fields: Vec<String> = CLAIM_FIELDS
        .iter()
        .chain(&["progress"])
        .map(|f| format!("'{f}'"))
        .collect();
    script(
        &include_str!("scripts/claim.lua")
            .replace("@FIELDS@", &fields.join(", "))
            .replace("@TYPE@", &place("task_type"))
            .replace("@CREATED@", &place("created_at"))
            .replace("@STEP@", &place("step"))
            .replace("@EXPIRES@", &place("expires_at"))
            .replace("@KEY@", &place("concurrency_key"))
            .replace("@PRIORITY@", &place("priority"))
            .replace("@SEQ@", &place("seq"))
            .replace("@ROUND@", &place("fair_round"))
            .replace("@PROGRESS@", &(CLAIM_FIELDS.len() + 2).to_string()),
    )
});

/// ARGV[4] retention (s, 0 = none); then per settlement: id, attempt,
/// outcome (finished/failed/cancelled/retry/snooze), at, payload (result or
/// error JSON; '' for a snooze), run at, task type and created (µs) — both '' when the
/// caller does not know them —, and `1` when the task is a workflow step
/// with children (`0` when it is known not to be, read when the type is
/// ''), then the attempt's `started_at` (µs) and `worker_id` when the
/// caller started it on a record with no history (both '' otherwise: the
/// record is read; with them, the history entry is written unread).
/// Returns 1 (applied) or 0 (stale) per settlement, then the outbox
/// entries of the steps that ended and the steps their ends cancelled
/// (module docs, "Workflow steps"). The fence is one `ZMSCORE` of the batch's running-set
/// members (module docs); a terminal outcome whose type the caller knows
/// reads nothing else, but for a step with children: its step, and the
/// records of its children in this queue, which hear of the end here
/// (`steps.lua`). The running and done sets change once per call.
pub(crate) static SETTLE: LazyLock<Script> =
    LazyLock::new(|| script_with_steps(include_str!("scripts/settle.lua")));

/// ARGV[4] worker, [5] lease until; then pairs of id, attempt. Returns per
/// task 0 (lost), 1 (held) or 2 (held, cancel requested).
pub(crate) static HEARTBEAT: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/heartbeat.lua")));

/// ARGV[4] worker, [5] now, [6] retention, [7] the error of a task whose
/// cancel was requested (it ends `CANCELLED`, as `lifecycle::release`);
/// then pairs of id, attempt. Returns the outbox entries of the steps
/// that ended.
pub(crate) static RELEASE: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/release.lua")));

/// ARGV[4] id, [5] now, [6] error JSON, [7] retention, [8] the cancel
/// channel (told the id of a running task to stop). Cancels a `PENDING`
/// or `WAITING` task, or requests a `RUNNING` one's cancel. Returns
/// `{'ok', fields, lease}` (then the outbox entry of a step that ended),
/// `{'missing'}` or `{'invalid', state}`.
pub(crate) static CANCEL: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/cancel.lua")));

/// ARGV[4] id, [5] now, [6] `1` to retry a workflow step too (`0`:
/// reply `{'step'}` for one, changing nothing, so the caller plans the
/// retry and resumes its dependents first — `redis/workflow.rs`). Same
/// replies as `CANCEL`, without an outbox entry.
pub(crate) static RETRY: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/retry.lua")));

/// ARGV[4] id, [5] front/back/before, [6] target id (implements
/// `lifecycle::reorder`). Among every pending task of the queue, due
/// (ready set) or not (delayed-order set): O(log n), plus one step per
/// task of the target's priority ahead of it when no `seq` is free before
/// the target (they all move 2 earlier). A delayed task keeps its due
/// time: its place counts once due.
/// Replies as `CANCEL`, plus `{'target_missing'}`, `{'target_invalid',
/// state}` and `{'target_self'}`.
pub(crate) static REORDER: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/reorder.lua")));

/// The first half of a rescue: ARGV[4] now (µs), [5] batch size. Returns,
/// per running-set member whose lease ended before now, the member, the
/// task's type, attempt, max retries and cancel flag — what
/// `lifecycle::rescue_retry_at` needs to draw each one's retry time —
/// and its concurrency key ('': none), which names its permit's key set
/// (`permits.rs`).
pub(crate) static EXPIRED: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/expired.lua")));

/// `lifecycle::expire` for up to ARGV[6] of the queue's pending tasks whose
/// deadline (the `<index root>:deadlines` set, scored by `expires_at`) is
/// at or before ARGV[4] (now, µs); ARGV[5] retention. Returns the count
/// expired, then the outbox entries of the steps that ended.
pub(crate) static EXPIRE: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/expire.lua")));

/// The second half (implements `lifecycle::rescue_to`): ARGV[4] now (µs),
/// [5] retention, then pairs of a running-set member and its retry time
/// (µs, or `-` for none: cancelled or failed). A member applies only while
/// its lease still ended before now (a heartbeat since the first half
/// keeps it). Returns requeued, failed and cancelled counts, then the
/// outbox entries of the steps that ended.
pub(crate) static RESCUE: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/rescue.lua")));

/// `lifecycle::parent_ended` for children of this queue: ARGV[4] now
/// (µs), [5] retention; then per edge: child id, parent id, the parent's
/// end state and its end time (µs); a child it cancels gets
/// `lifecycle::parent_failure` (`steps.lua`). Each end
/// counts once: its token `<parent>:<at>` joins the child's arrived set
/// (`<record key>:arrived`, kept while the child waits), and a token
/// already there changes nothing (the child's `waiting` and `runs`
/// fields decide, not its step JSON, which grows with its parents), so
/// carrying an end twice (a caller
/// that died before deleting the outbox entry, a replay) is harmless. A
/// released child is due at its parent's end time, filed and announced
/// as an enqueue would; a cancelled one's end reaches its own children
/// as a settled step's does (`SETTLE`). Returns per edge 0 (ignored: not
/// waiting, or heard before), 1 (counted), 2 (released) or 3
/// (cancelled), then the outbox entries and the steps it cancelled
/// further down (module docs, "Workflow steps").
pub(crate) static ARRIVE: LazyLock<Script> =
    LazyLock::new(|| script_with_steps(include_str!("scripts/arrive.lua")));

/// What a starting step reads of its parents (`Store::step_parents`):
/// ARGV[4…] task ids. Returns, per id whose record this queue holds, an
/// array of its id, state, task type, result and error JSON (nil when
/// absent) and step name (nil for a plain task): one script per page of
/// parents instead of a whole record's read per parent.
pub(crate) static PARENTS: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/parents.lua")));

/// `lifecycle::apply_resume` for steps of this queue, after a retry's
/// plan: per change `rewait`, id, waiting count, token count, the tokens
/// of the ends its count already reflects (a `CANCELLED` step its
/// parent's end cancelled waits again) or `count`, id, the retried
/// step's end token (a waiting step that counted that end waits for it
/// again). Each change checks the state it expects and applies once.
/// Returns 1 (applied) or 0 per change.
pub(crate) static RESUME: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/resume.lua")));

/// ARGV[4] id, [5] attempt, [6] progress JSON. Returns 1 when applied.
pub(crate) static PROGRESS: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/progress.lua")));

/// ARGV[4] finished before (µs, exclusive), [5] offset, [6] batch size,
/// then the states to delete. Returns scanned, skipped and deleted counts,
/// then the ids whose records are gone (deleted or already expired).
pub(crate) static PURGE: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/purge.lua")));

/// ARGV[4] id. Deletes an ended task's record and index entries; replies
/// as `CANCEL` (with the deleted record).
pub(crate) static DELETE: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/delete.lua")));

/// ARGV[4] now. Returns due pending, scheduled, running, paused (0/1),
/// limit (0: none), fair (0/1), then the rate limit's starts, period and bucket time
/// (nil: none): counts of sorted sets, no scan.
pub(crate) static STATS: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/stats.lua")));

/// ARGV[4] the version of the global type limits hash, then its other
/// (field, value) pairs: replaces the queue's copy (`KEYS[12]`) unless
/// that copies the same or a later version. Returns 1 if it replaced it.
pub(crate) static TYPE_LIMIT_SYNC: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/type_limit_sync.lua")));

/// ARGV[4] how many key-limited types follow, then those types. Returns the (task type, count) pairs of
/// the queue's running tasks, read from the running set's records (what
/// a type limit counts, `Store::type_limits`) and the (task type, key,
/// count) triples of those of the key-limited types with a key.
pub(crate) static RUNNING_TYPES: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/running_types.lua")));

/// No own arguments. Returns (task type, count) pairs of the queue's
/// pending tasks (due or not), for the types that have some: one `ZCARD`
/// of the `PENDING` and type index per type the queue ever indexed, no
/// scan of tasks.
pub(crate) static PENDING_TYPES: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/pending_types.lua")));

/// ARGV[4] created min (`-inf` or µs), [5] created max (`+inf` or
/// `(µs`), [6] state or '', [7] task type or '', [8] matches to skip, [9]
/// matches to return, [10] schedule or '', [11] the metadata pairs wanted
/// (JSON `[[key, value], …]`) or '', then tags (all wanted; with a
/// schedule, metadata or tags the window is read and filtered, no index
/// serves them). Returns the total number of matches, then (created,
/// id) pairs of the asked matches, newest first (ties: greater id first).
/// A page reads one index by rank: O(log n + page); RUNNING scans the
/// running set instead (module docs).
pub(crate) static LIST: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("scripts/list.lua")));

impl RedisBackend {
    /// Runs a script on a queue's keys (`ARGV[1..=3]` filled in), for
    /// scripts whose replay is harmless (see "Replayed commands" at
    /// `builder` in `mod.rs`): fred may send it again when the connection
    /// closes under it.
    ///
    /// The arguments go as slices of one buffer: fred would otherwise
    /// allocate per argument (and `evalsha_with_reload` clone each to keep
    /// a copy for a reload), which cost more than the frame itself for a
    /// batch. Only a server without the script (`NOSCRIPT`: restarted,
    /// flushed, a new node) gets it loaded and the call built again.
    pub(super) async fn run(
        &self,
        script: &Script,
        queue: &str,
        args: Vec<String>,
    ) -> Result<Value, Error> {
        self.run_with(script, queue, args, None).await
    }

    /// [`RedisBackend::run`] for a script that must not run twice for one
    /// call (claim, enqueue, release, cancel, retry, reorder, delete): written at
    /// most once. A connection that closes before its reply fails the call
    /// instead of re-sending it; a `NOSCRIPT` reply (nothing ran) still
    /// loads the script and sends it again.
    pub(super) async fn run_once(
        &self,
        script: &Script,
        queue: &str,
        args: Vec<String>,
    ) -> Result<Value, Error> {
        self.run_with(script, queue, args, Some(&ONCE)).await
    }

    /// [`RedisBackend::run_once`] for a claim, which is worth nothing once
    /// its lease could have run out: bounded by `lease` (at most the
    /// command timeout), and failing at once while the connection is down
    /// rather than waiting in fred's queue for the reconnection — the
    /// worker claims again after its backoff, on the healed connection. A
    /// timed-out command fred has not written yet is never written.
    pub(super) async fn run_claim(
        &self,
        script: &Script,
        queue: &str,
        args: Vec<String>,
        lease: Duration,
    ) -> Result<Value, Error> {
        let options = Options {
            max_attempts: Some(1),
            fail_fast: true,
            timeout: Some(lease.min(self.config.command_timeout)),
            ..Options::default()
        };
        self.run_with(script, queue, args, Some(&options)).await
    }

    async fn run_with(
        &self,
        script: &Script,
        queue: &str,
        args: Vec<String>,
        options: Option<&Options>,
    ) -> Result<Value, Error> {
        let client = self.pool.next();
        let build = || {
            let keys = self.queue_keys(queue);
            let work = self.keys.work_channel();
            let head = [keys.record_prefix.as_str(), work.as_str(), queue];
            let argv = shared_args(head.into_iter().chain(args.iter().map(String::as_str)));
            (Vec::from(keys.keys), argv)
        };
        let call = |(keys, argv): (Vec<String>, Vec<Value>)| async move {
            match options {
                Some(options) => {
                    client
                        .with_options(options)
                        .evalsha(script.sha1().clone(), keys, argv)
                        .await
                }
                None => client.evalsha(script.sha1().clone(), keys, argv).await,
            }
        };
        match call(build()).await {
            Err(err) if err.details().starts_with("NOSCRIPT") => {
                script.load(client).await.map_err(Error::backend)?;
                call(build()).await.map_err(Error::backend)
            }
            result => result.map_err(Error::backend),
        }
    }
}

/// One write, no replay (see [`RedisBackend::run_once`]).
static ONCE: LazyLock<Options> = LazyLock::new(|| Options {
    max_attempts: Some(1),
    ..Options::default()
});

/// Script arguments as slices of one shared buffer: one allocation for
/// all of them, and cloning or dropping one is a reference count.
fn shared_args<'a>(args: impl Iterator<Item = &'a str> + Clone) -> Vec<Value> {
    use fred::bytes::{BufMut, BytesMut};
    let (count, len) = args
        .clone()
        .fold((0, 0), |(count, len), arg| (count + 1, len + arg.len()));
    let mut buffer = BytesMut::with_capacity(len);
    let mut ends = Vec::with_capacity(count);
    for arg in args {
        buffer.put_slice(arg.as_bytes());
        ends.push(buffer.len());
    }
    let buffer = buffer.freeze();
    let mut start = 0;
    ends.into_iter()
        .map(|end| {
            let arg = Value::Bytes(buffer.slice(start..end));
            start = end;
            arg
        })
        .collect()
}
