//! The Lua scripts: every change that touches more than one key is one
//! script, so it is atomic.
//!
//! Calling convention (see `keys::QueueKeys`): `KEYS` are the queue's
//! ready, delayed, running, done, created, paused and delayed-order keys
//! and the list-index root; `ARGV[1]` is
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
//! Cluster: every key a script touches — `KEYS`, records and index keys
//! named from `KEYS[8]` — carries the queue's hash tag, so one slot.

use std::sync::LazyLock;

use fred::types::scripts::Script;

/// Shared by every script: the ready-set member encoding (as
/// `keys::member`), and the pending / terminal bookkeeping.
const HELPERS: &str = r#"
local OFFSET = 4503599627370496
local function int(x) return string.format('%d', x) end
local function member(prio, seq, id)
  return string.format('%010d%016d', 2147483647 - prio, seq + OFFSET) .. id
end
local function decode(m)
  return 2147483647 - tonumber(string.sub(m, 1, 10)),
    tonumber(string.sub(m, 11, 26)) - OFFSET, string.sub(m, 27)
end
local function wake() redis.call('PUBLISH', ARGV[2], ARGV[3]) end
-- Files a pending task in ready or delayed; true when due now. A delayed
-- task that becomes the queue's earliest announces its due time
-- ('<queue> <µs>'), so sleeping workers set their timers.
local function add_pending(id, prio, seq, at, now)
  if tonumber(at) > tonumber(now) then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
    redis.call('ZADD', KEYS[2], at, id)
    redis.call('ZADD', KEYS[7], 0, member(tonumber(prio), tonumber(seq), id))
    if not first or tonumber(at) < tonumber(first) then
      redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. at)
    end
    return false
  end
  redis.call('ZADD', KEYS[1], 0, member(tonumber(prio), tonumber(seq), id))
  return true
end
local function remove_pending(key, id)
  local f = redis.call('HMGET', key, 'priority', 'seq')
  local m = member(tonumber(f[1]), tonumber(f[2]), id)
  if redis.call('ZREM', KEYS[1], m) == 0 then
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[7], m)
  end
end
-- Moves a record to a terminal state with one more field (result or
-- error); it expires after the retention, if one is set. The caller
-- moves the task from the running set to the done set.
local function finish(key, state, at, retention, field, value)
  redis.call('HSET', key, 'state', state, 'finished_at', at, field, value)
  if tonumber(retention) > 0 then redis.call('EXPIRE', key, retention) end
end
-- A running attempt's member in the running set (module docs).
local function running_member(id, attempt) return id .. ':' .. attempt end
-- A running-set member's id and attempt (nil for a bare-id member).
local function running_task(m)
  local colon = string.find(m, ':', 1, true)
  if not colon then return m, nil end
  return string.sub(m, 1, colon - 1), string.sub(m, colon + 1)
end
-- ZADD / ZREM / SADD with many members, in chunks (Lua's unpack is
-- bounded; 4000 keeps ZADD's score-member pairs together).
local function zbulk(cmd, key, args)
  for i = 1, #args, 4000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 3999, #args)))
  end
end
-- ZMSCORE of many members, in chunks: a score or false per member.
local function zscores(key, members)
  local out = {}
  for i = 1, #members, 4000 do
    local part = redis.call('ZMSCORE', key, unpack(members, i, math.min(i + 3999, #members)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end
-- The list indexes (module docs): pending removals and additions per key,
-- written by `index_flush`.
local index_rem, index_add, index_types = {}, {}, {}
local function index_push(t, key, a, b)
  local l = t[key]
  if not l then
    l = {}
    t[key] = l
  end
  l[#l + 1] = a
  if b then l[#l + 1] = b end
end
-- Index key names, built once per script call (not once per task).
local state_keys, state_type_keys = {}, {}
local function state_key(state)
  local k = state_keys[state]
  if not k then
    k = KEYS[8] .. ':state:' .. state
    state_keys[state] = k
  end
  return k
end
local function state_type_key(state, t)
  local by_type = state_type_keys[state]
  if not by_type then
    by_type = {}
    state_type_keys[state] = by_type
  end
  local k = by_type[t]
  if not k then
    k = state_key(state) .. ':' .. t
    by_type[t] = k
  end
  return k
end
local function type_key(t) return KEYS[8] .. ':type:' .. t end
local TERMINAL = {'FINISHED', 'FAILED', 'CANCELLED'}
-- A task of type `t` created at `created` (µs) moves from state `from` to
-- `to` (either nil: none).
local function index_move(id, t, created, from, to)
  if from and from ~= 'RUNNING' then
    index_push(index_rem, state_key(from), id)
    index_push(index_rem, state_type_key(from, t), id)
  end
  if to and to ~= 'RUNNING' then
    index_push(index_add, state_key(to), created, id)
    index_push(index_add, state_type_key(to, t), created, id)
  end
end
-- A new pending task: creation, type and PENDING indexes.
local function index_new(id, t, created)
  index_push(index_add, KEYS[5], created, id)
  index_push(index_add, type_key(t), created, id)
  index_move(id, t, created, nil, 'PENDING')
  index_types[t] = true
end
-- A task whose record goes (`state` nil: already gone, type unknown).
local function index_drop(id, t, created, state)
  index_push(index_rem, KEYS[5], id)
  if t then
    index_push(index_rem, type_key(t), id)
    index_move(id, t, created, state, nil)
    return
  end
  -- Only ended records expire: look in their indexes of every type.
  for _, known in ipairs(redis.call('SMEMBERS', KEYS[8])) do
    index_push(index_rem, type_key(known), id)
    for _, s in ipairs(TERMINAL) do index_push(index_rem, state_type_key(s, known), id) end
  end
  for _, s in ipairs(TERMINAL) do index_push(index_rem, state_key(s), id) end
end
local function index_flush()
  for key, l in pairs(index_rem) do zbulk('ZREM', key, l) end
  for key, l in pairs(index_add) do zbulk('ZADD', key, l) end
  local types = {}
  for t in pairs(index_types) do types[#types + 1] = t end
  if #types > 0 then zbulk('SADD', KEYS[8], types) end
  index_rem, index_add, index_types = {}, {}, {}
end
-- The earliest due time in the delayed set (µs, an integer reply), or nil.
local function next_due()
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
  return first and tonumber(first) or false
end
"#;

pub(super) fn script(body: &str) -> Script {
    Script::from_lua(format!("{HELPERS}\n{body}"))
}

/// ARGV[4] now, [5] mode; then per task: id, created (µs), priority, seq,
/// scheduled at (µs), task type, field count, fields…. Mode `strict` (a submit)
/// writes every task: the id index (`SET NX`, written first by the caller)
/// already refused ids that exist. Mode `missing` (a schedule's tick tasks)
/// writes the tasks not stored yet and skips the others. Returns 1.
pub(crate) static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local strict = ARGV[5] == 'strict'
local due = false
local i = 6
while i <= #ARGV do
  local id, n = ARGV[i], tonumber(ARGV[i + 6])
  local key = ARGV[1] .. id
  if strict or redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, unpack(ARGV, i + 7, i + 6 + n))
    index_new(id, ARGV[i + 5], ARGV[i + 1])
    if add_pending(id, ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[4]) then due = true end
  end
  i = i + 7 + n
end
index_flush()
if due then wake() end
return 1
"#,
    )
});

/// The record fields a claim returns per task, after its id and new
/// attempt (see `record::from_claim`); the rest of a claimed record is
/// known to the claimer.
pub(crate) const CLAIM_FIELDS: [&str; 11] = [
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
];

/// ARGV[4] now, [5] limit, [6] worker, [7] lease until. Promotes due delayed tasks (a bounded batch
/// per call), then claims in order: two commands per task plus a few per
/// call. Returns the next due time of the delayed set (µs, or nil), then
/// per claimed task its id, new attempt and the `CLAIM_FIELDS` (written
/// into the script, not sent with every call).
///
/// Only pending tasks are in the ready set (every move out of PENDING
/// removes the member), so a popped member needs no state check.
pub(crate) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    // 1-based places in the HMGET reply ('attempt' comes first).
    let place = |name: &str| {
        CLAIM_FIELDS
            .iter()
            .position(|f| *f == name)
            .map(|p| (p + 2).to_string())
            .expect("a claim field")
    };
    let fields: Vec<String> = CLAIM_FIELDS.iter().map(|f| format!("'{f}'")).collect();
    script(
        &r#"
local FIELDS = {@FIELDS@}
if redis.call('EXISTS', KEYS[6]) == 1 then return {next_due()} end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, 1000)
if #due > 0 then
  local promoted, members = {}, {}
  for _, id in ipairs(due) do
    local f = redis.call('HMGET', ARGV[1] .. id, 'priority', 'seq', 'state')
    if f[3] == 'PENDING' then
      local m = member(tonumber(f[1]), tonumber(f[2]), id)
      promoted[#promoted + 1] = 0
      promoted[#promoted + 1] = m
      members[#members + 1] = m
    end
  end
  zbulk('ZREM', KEYS[2], due)
  if #promoted > 0 then
    zbulk('ZADD', KEYS[1], promoted)
    zbulk('ZREM', KEYS[7], members)
  end
end
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[5])
local out = {next_due()}
local running = {}
local fields = #FIELDS
for i = 1, #popped, 2 do
  local id = string.sub(popped[i], 27)
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'attempt', unpack(FIELDS))
  local attempt = int(tonumber(f[1]) + 1)
  redis.call('HSET', key, 'state', 'RUNNING', 'attempt', attempt, 'started_at', ARGV[4],
    'worker_id', ARGV[6])
  -- lifecycle::claim: the last attempt's progress stays until this one.
  redis.call('HDEL', key, 'progress')
  out[#out + 1] = id
  out[#out + 1] = attempt
  for j = 2, fields + 1 do out[#out + 1] = f[j] end
  running[#running + 1] = ARGV[7]
  running[#running + 1] = running_member(id, attempt)
  index_move(id, f[@TYPE@], f[@CREATED@], 'PENDING', 'RUNNING')
end
if #running > 0 then zbulk('ZADD', KEYS[3], running) end
index_flush()
return out
"#
        .replace("@FIELDS@", &fields.join(", "))
        .replace("@TYPE@", &place("task_type"))
        .replace("@CREATED@", &place("created_at")),
    )
});

/// ARGV[4] retention (s, 0 = none); then per settlement: id, attempt,
/// outcome (finished/failed/cancelled/retry), at, payload (result or
/// error JSON), run at, task type and created (µs) — both '' when the
/// caller does not know them. Returns 1 (applied) or 0 (stale) per
/// settlement. The fence is one `ZMSCORE` of the batch's running-set
/// members (module docs); a terminal outcome whose type the caller knows
/// reads nothing else. The running and done sets change once per call.
pub(crate) static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local members = {}
for i = 5, #ARGV, 8 do members[#members + 1] = running_member(ARGV[i], ARGV[i + 1]) end
local held = zscores(KEYS[3], members)
-- A member settled earlier in this batch is no longer running: a repeat
-- is refused, as a settlement one at a time would be.
local settled = {}
local out, unrunning, done = {}, {}, {}
local due = false
local k = 0
for i = 5, #ARGV, 8 do
  k = k + 1
  if held[k] and not settled[members[k]] then
    settled[members[k]] = true
    local id, outcome, at, payload = ARGV[i], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local key = ARGV[1] .. id
    unrunning[#unrunning + 1] = members[k]
    if outcome == 'retry' then
      local run_at = ARGV[i + 5]
      local f = redis.call('HMGET', key, 'priority', 'task_type', 'created_at')
      redis.call('HSET', key, 'state', 'PENDING', 'error', payload,
        'scheduled_at', run_at, 'seq', run_at)
      redis.call('HDEL', key, 'cancel_requested')
      index_move(id, f[2], f[3], 'RUNNING', 'PENDING')
      if add_pending(id, f[1], run_at, run_at, at) then due = true end
    else
      local t, created = ARGV[i + 6], ARGV[i + 7]
      if t == '' then
        local f = redis.call('HMGET', key, 'task_type', 'created_at')
        t, created = f[1], f[2]
      end
      local state, field = 'FINISHED', 'result'
      if outcome == 'failed' then state, field = 'FAILED', 'error'
      elseif outcome == 'cancelled' then state, field = 'CANCELLED', 'error' end
      finish(key, state, at, ARGV[4], field, payload)
      index_move(id, t, created, 'RUNNING', state)
      done[#done + 1] = at
      done[#done + 1] = id
    end
    out[k] = 1
  else
    out[k] = 0
  end
end
if #unrunning > 0 then zbulk('ZREM', KEYS[3], unrunning) end
if #done > 0 then zbulk('ZADD', KEYS[4], done) end
index_flush()
if due then wake() end
return out
"#,
    )
});

/// ARGV[4] worker, [5] lease until; then pairs of id, attempt. Returns per
/// task 0 (lost), 1 (held) or 2 (held, cancel requested).
pub(crate) static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local out = {}
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'attempt', 'worker_id', 'cancel_requested')
  if f[1] == 'RUNNING' and f[2] == ARGV[i + 1] and f[3] == ARGV[4] then
    redis.call('ZADD', KEYS[3], 'XX', ARGV[5], running_member(id, f[2]))
    if f[4] == '1' then out[#out + 1] = 2 else out[#out + 1] = 1 end
  else
    out[#out + 1] = 0
  end
end
return out
"#,
    )
});

/// ARGV[4] worker, [5] now; then pairs of id, attempt. A cancel request
/// stays with the task (its next attempt learns of it at once).
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local due = false
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'attempt', 'worker_id', 'priority', 'seq',
    'scheduled_at', 'task_type', 'created_at')
  if f[1] == 'RUNNING' and f[2] == ARGV[i + 1] and f[3] == ARGV[4] then
    redis.call('HSET', key, 'state', 'PENDING', 'attempt', int(tonumber(f[2]) - 1))
    redis.call('ZREM', KEYS[3], running_member(id, f[2]))
    index_move(id, f[7], f[8], 'RUNNING', 'PENDING')
    if add_pending(id, f[4], f[5], f[6], ARGV[5]) then due = true end
  end
end
index_flush()
if due then wake() end
return 1
"#,
    )
});

/// ARGV[4] id, [5] now, [6] error JSON, [7] retention, [8] the cancel
/// channel (told the id of a running task to stop). Returns
/// `{'ok', fields}`, `{'missing'}` or `{'invalid', state}`.
pub(crate) static CANCEL: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local id = ARGV[4]
local key = ARGV[1] .. id
local state = redis.call('HGET', key, 'state')
if not state then return {'missing'} end
if state == 'PENDING' then
  remove_pending(key, id)
  finish(key, 'CANCELLED', ARGV[5], ARGV[7], 'error', ARGV[6])
  redis.call('ZADD', KEYS[4], ARGV[5], id)
  local f = redis.call('HMGET', key, 'task_type', 'created_at')
  index_move(id, f[1], f[2], 'PENDING', 'CANCELLED')
  index_flush()
elseif state == 'RUNNING' then
  redis.call('HSET', key, 'cancel_requested', '1')
  redis.call('PUBLISH', ARGV[8], id)
else
  return {'invalid', state}
end
local attempt = redis.call('HGET', key, 'attempt') or ''
local lease = redis.call('ZSCORE', KEYS[3], running_member(id, attempt))
return {'ok', redis.call('HGETALL', key), lease}
"#,
    )
});

/// ARGV[4] id, [5] now. Same replies as `CANCEL`.
pub(crate) static RETRY: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local id = ARGV[4]
local key = ARGV[1] .. id
local f = redis.call('HMGET', key, 'state', 'attempt', 'max_retries', 'priority', 'task_type',
  'created_at')
if not f[1] then return {'missing'} end
if f[1] ~= 'FAILED' and f[1] ~= 'CANCELLED' then return {'invalid', f[1]} end
index_move(id, f[5], f[6], f[1], 'PENDING')
index_flush()
redis.call('PERSIST', key)
redis.call('ZREM', KEYS[4], id)
redis.call('HSET', key, 'state', 'PENDING', 'scheduled_at', ARGV[5], 'seq', ARGV[5],
  'max_retries', int(math.max(tonumber(f[2]), tonumber(f[3]))))
redis.call('HDEL', key, 'finished_at', 'result', 'cancel_requested')
if add_pending(id, f[4], ARGV[5], ARGV[5], ARGV[5]) then wake() end
return {'ok', redis.call('HGETALL', key)}
"#,
    )
});

/// ARGV[4] id, [5] front/back/before, [6] target id (implements
/// `lifecycle::reorder`). Among every pending task of the queue, due
/// (ready set) or not (delayed-order set): O(log n), plus one step per
/// task of the target's priority ahead of it when no `seq` is free before
/// the target (they all move 2 earlier). A delayed task keeps its due
/// time: its place counts once due.
/// Replies as `CANCEL`, plus `{'target_missing'}`, `{'target_invalid',
/// state}` and `{'target_self'}`.
pub(crate) static REORDER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local id = ARGV[4]
local key = ARGV[1] .. id
local f = redis.call('HMGET', key, 'state', 'priority', 'seq')
if not f[1] then return {'missing'} end
if f[1] ~= 'PENDING' then return {'invalid', f[1]} end
local prio, seq = tonumber(f[2]), tonumber(f[3])
local target
if ARGV[5] == 'before' then
  target = ARGV[6]
  if target == id then return {'target_self'} end
  local t = redis.call('HMGET', ARGV[1] .. target, 'state', 'priority', 'seq')
  if not t[1] then return {'target_missing'} end
  if t[1] ~= 'PENDING' then return {'target_invalid', t[1]} end
  target = {tonumber(t[2]), tonumber(t[3]), target}
end
-- The set holding the task: ready when due, else the delayed order.
local home = KEYS[1]
if redis.call('ZREM', KEYS[1], member(prio, seq, id)) == 0 then
  home = KEYS[7]
  redis.call('ZREM', KEYS[7], member(prio, seq, id))
end
-- The first (or last) member over both sets.
local function edge(index, better)
  local a = redis.call('ZRANGE', KEYS[1], index, index)[1]
  local b = redis.call('ZRANGE', KEYS[7], index, index)[1]
  if a and b then
    if better(a, b) then return a else return b end
  end
  return a or b
end
-- The member just before `m` over both sets, and its set.
local function before(m)
  local a = redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. m, '-', 'LIMIT', 0, 1)[1]
  local b = redis.call('ZREVRANGEBYLEX', KEYS[7], '(' .. m, '-', 'LIMIT', 0, 1)[1]
  if a and (not b or a > b) then return a, KEYS[1] end
  return b, KEYS[7]
end
if ARGV[5] == 'front' then
  local first = edge(0, function(a, b) return a < b end)
  if first then
    local p, s = decode(first)
    if p >= prio then prio, seq = p, s - 1 end
  end
elseif ARGV[5] == 'back' then
  local last = edge(-1, function(a, b) return a > b end)
  if last then
    local p, s = decode(last)
    if p <= prio then prio, seq = p, s + 1 end
  end
else
  local tp, ts = target[1], target[2]
  prio = tp
  local bound = member(tp, ts, target[3])
  local pred = before(bound)
  local pp, ps
  if pred then pp, ps = decode(pred) end
  seq = ts - 1
  if pred and pp == tp and ts - ps >= 2 then
    seq = ps + math.floor((ts - ps) / 2)
  elseif pred and pp == tp then
    -- No room: every task of the target's priority ahead of it moves 2
    -- earlier, keeping their order and freeing the seq before the target.
    local low = '[' .. string.format('%010d', 2147483647 - tp)
    for _, set in ipairs({KEYS[1], KEYS[7]}) do
      for _, m in ipairs(redis.call('ZRANGEBYLEX', set, low, '(' .. bound)) do
        local cp, cs, cid = decode(m)
        redis.call('ZREM', set, m)
        redis.call('HSET', ARGV[1] .. cid, 'seq', int(cs - 2))
        redis.call('ZADD', set, 0, member(cp, cs - 2, cid))
      end
    end
  end
end
redis.call('HSET', key, 'priority', int(prio), 'seq', int(seq))
redis.call('ZADD', home, 0, member(prio, seq, id))
return {'ok', redis.call('HGETALL', key)}
"#,
    )
});

/// The first half of a rescue: ARGV[4] now (µs), [5] batch size. Returns,
/// per running-set member whose lease ended before now, the member, the
/// task's type, attempt, max retries and cancel flag — what
/// `lifecycle::rescue_retry_at` needs to draw each one's retry time.
pub(crate) static EXPIRED: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[4], 'LIMIT', 0, ARGV[5])
local out = {}
for _, m in ipairs(expired) do
  local id = running_task(m)
  local f = redis.call('HMGET', ARGV[1] .. id, 'task_type', 'attempt', 'max_retries',
    'cancel_requested')
  out[#out + 1] = m
  out[#out + 1] = f[1] or ''
  out[#out + 1] = f[2] or '0'
  out[#out + 1] = f[3] or '0'
  out[#out + 1] = f[4] or '0'
end
return out
"#,
    )
});

/// The second half (implements `lifecycle::rescue_to`): ARGV[4] now (µs),
/// [5] retention, then pairs of a running-set member and its retry time
/// (µs, or `-` for none: cancelled or failed). A member applies only while
/// its lease still ended before now (a heartbeat since the first half
/// keeps it). Returns requeued, failed and cancelled counts.
pub(crate) static RESCUE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local requeued, failed, cancelled = 0, 0, 0
for i = 6, #ARGV, 2 do
  local m, retry_at = ARGV[i], ARGV[i + 1]
  local lease = redis.call('ZSCORE', KEYS[3], m)
  if lease and tonumber(lease) < tonumber(ARGV[4]) then
    redis.call('ZREM', KEYS[3], m)
    local id, attempt = running_task(m)
    local key = ARGV[1] .. id
    local f = redis.call('HMGET', key, 'state', 'attempt', 'max_retries', 'cancel_requested',
      'worker_id', 'priority', 'seq', 'task_type', 'created_at')
    if f[1] == 'RUNNING' and (not attempt or attempt == f[2]) then
      local message = 'worker `' .. (f[5] or '') .. '` stopped renewing its lease'
      if f[4] == '1' then
        finish(key, 'CANCELLED', ARGV[4], ARGV[5], 'error',
          cjson.encode({kind = 'cancelled', message = message}))
        redis.call('ZADD', KEYS[4], ARGV[4], id)
        index_move(id, f[8], f[9], 'RUNNING', 'CANCELLED')
        cancelled = cancelled + 1
      elseif retry_at == '-' then
        finish(key, 'FAILED', ARGV[4], ARGV[5], 'error',
          cjson.encode({kind = 'lease_expired', message = message}))
        redis.call('ZADD', KEYS[4], ARGV[4], id)
        index_move(id, f[8], f[9], 'RUNNING', 'FAILED')
        failed = failed + 1
      else
        redis.call('HSET', key, 'state', 'PENDING', 'scheduled_at', retry_at, 'seq', retry_at,
          'error', cjson.encode({kind = 'lease_expired', message = message}))
        index_move(id, f[8], f[9], 'RUNNING', 'PENDING')
        add_pending(id, f[6], retry_at, retry_at, ARGV[4])
        requeued = requeued + 1
      end
    end
  end
end
index_flush()
if requeued > 0 then wake() end
return {requeued, failed, cancelled}
"#,
    )
});

/// ARGV[4] id, [5] attempt, [6] progress JSON. Returns 1 when applied.
pub(crate) static PROGRESS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local key = ARGV[1] .. ARGV[4]
local f = redis.call('HMGET', key, 'state', 'attempt')
if f[1] == 'RUNNING' and f[2] == ARGV[5] then
  redis.call('HSET', key, 'progress', ARGV[6])
  return 1
end
return 0
"#,
    )
});

/// ARGV[4] finished before (µs, exclusive), [5] offset, [6] batch size,
/// then the states to delete. Returns scanned, skipped and deleted counts,
/// then the ids whose records are gone (deleted or already expired).
pub(crate) static PURGE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local wanted = {}
for i = 7, #ARGV do wanted[ARGV[i]] = true end
local ids = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[4],
  'LIMIT', ARGV[5], ARGV[6])
local skipped, deleted = 0, 0
local gone = {}
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'task_type', 'created_at')
  local state = f[1]
  if state and not wanted[state] and (state == 'FINISHED' or state == 'FAILED'
      or state == 'CANCELLED') then
    skipped = skipped + 1
  else
    redis.call('ZREM', KEYS[4], id)
    if state == 'FINISHED' or state == 'FAILED' or state == 'CANCELLED' then
      redis.call('DEL', key)
      deleted = deleted + 1
    end
    if state ~= 'PENDING' and state ~= 'RUNNING' then
      index_drop(id, f[2], f[3], state)
      gone[#gone + 1] = id
    else
      -- Live again under the same id (pushed anew after it expired): the
      -- ended copy's index entries are stale.
      for _, s in ipairs(TERMINAL) do index_move(id, f[2], f[3], s, nil) end
    end
  end
end
index_flush()
if #gone > 0 then
  -- Types whose last entry went leave the set of indexed types.
  for _, t in ipairs(redis.call('SMEMBERS', KEYS[8])) do
    if redis.call('EXISTS', type_key(t)) == 0 then redis.call('SREM', KEYS[8], t) end
  end
end
local out = {#ids, skipped, deleted}
for _, id in ipairs(gone) do out[#out + 1] = id end
return out
"#,
    )
});

/// ARGV[4] id. Deletes an ended task's record and index entries; replies
/// as `CANCEL` (with the deleted record).
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local id = ARGV[4]
local key = ARGV[1] .. id
local state = redis.call('HGET', key, 'state')
if not state then return {'missing'} end
if state ~= 'FINISHED' and state ~= 'FAILED' and state ~= 'CANCELLED' then
  return {'invalid', state}
end
local fields = redis.call('HGETALL', key)
local f = redis.call('HMGET', key, 'task_type', 'created_at')
redis.call('DEL', key)
redis.call('ZREM', KEYS[4], id)
index_drop(id, f[1], f[2], state)
index_flush()
return {'ok', fields}
"#,
    )
});

/// ARGV[4] now. Returns due pending, scheduled, running, paused (0/1):
/// counts of sorted sets, no scan.
pub(crate) static STATS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local due = redis.call('ZCOUNT', KEYS[2], '-inf', ARGV[4])
return {redis.call('ZCARD', KEYS[1]) + due,
  redis.call('ZCARD', KEYS[2]) - due,
  redis.call('ZCARD', KEYS[3]),
  redis.call('EXISTS', KEYS[6])}
"#,
    )
});

/// ARGV[4] created min (`-inf` or µs), [5] created max (`+inf` or
/// `(µs`), [6] state or '', [7] task type or '', [8] matches to skip, [9]
/// matches to return. Returns the total number of matches, then (created,
/// id) pairs of the asked matches, newest first (ties: greater id first).
/// A page reads one index by rank: O(log n + page); RUNNING scans the
/// running set instead (module docs).
pub(crate) static LIST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local min, max, state, t = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local skip, count = tonumber(ARGV[8]), tonumber(ARGV[9])
local out = {0}
if state == 'RUNNING' then
  local lo, hi = -math.huge, math.huge
  if min ~= '-inf' then lo = tonumber(min) end
  if max ~= '+inf' then hi = tonumber(string.sub(max, 2)) end
  local found = {}
  for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    local id = running_task(m)
    local f = redis.call('HMGET', ARGV[1] .. id, 'created_at', 'task_type')
    local c = tonumber(f[1])
    if c and c >= lo and c < hi and (t == '' or f[2] == t) then
      found[#found + 1] = {c, id, f[1]}
    end
  end
  table.sort(found, function(a, b)
    if a[1] ~= b[1] then return a[1] > b[1] end
    return a[2] > b[2]
  end)
  out[1] = #found
  for i = skip + 1, math.min(#found, skip + count) do
    out[#out + 1] = found[i][3]
    out[#out + 1] = found[i][2]
  end
  return out
end
local key = KEYS[5]
if state ~= '' and t ~= '' then key = state_type_key(state, t)
elseif state ~= '' then key = state_key(state)
elseif t ~= '' then key = type_key(t) end
local total = redis.call('ZCOUNT', key, min, max)
out[1] = total
if count > 0 and skip < total then
  -- Newest first is descending rank; entries newer than the window
  -- come before it.
  local above = 0
  if max ~= '+inf' then above = redis.call('ZCOUNT', key, string.sub(max, 2), '+inf') end
  local first = above + skip
  local last = above + math.min(total, skip + count) - 1
  local page = redis.call('ZREVRANGE', key, int(first), int(last), 'WITHSCORES')
  for i = 1, #page, 2 do
    out[#out + 1] = page[i + 1]
    out[#out + 1] = page[i]
  end
end
return out
"#,
    )
});
