//! The Lua scripts: every change that touches more than one key is one
//! script, so it is atomic.
//!
//! Calling convention (see `keys::QueueKeys`): `KEYS` are the queue's
//! ready, delayed, running, done, created and paused keys; `ARGV[1]` is
//! the queue's record-key prefix, `ARGV[2]` the work channel, `ARGV[3]` the
//! queue name; a script's own arguments follow. Records are hashes with one
//! field per `TaskRecord` field (see `record.rs`); times are microseconds.
//!
//! Lua numbers are doubles: numbers handed back to Redis go through
//! `int()`, never through Lua's default `%.14g` formatting.

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
-- Files a pending record in ready or delayed; true when due now.
local function add_pending(key, id, now)
  local f = redis.call('HMGET', key, 'priority', 'seq', 'scheduled_at')
  if tonumber(f[3]) > tonumber(now) then
    redis.call('ZADD', KEYS[2], f[3], id)
    return false
  end
  redis.call('ZADD', KEYS[1], 0, member(tonumber(f[1]), tonumber(f[2]), id))
  return true
end
local function remove_pending(key, id)
  local f = redis.call('HMGET', key, 'priority', 'seq')
  redis.call('ZREM', KEYS[1], member(tonumber(f[1]), tonumber(f[2]), id))
  redis.call('ZREM', KEYS[2], id)
end
-- Moves a record to a terminal state; it expires after the retention.
local function finish(key, id, state, at, retention)
  redis.call('HSET', key, 'state', state, 'finished_at', at, 'cancel_requested', '0')
  redis.call('HDEL', key, 'lease_until')
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], at, id)
  if tonumber(retention) > 0 then redis.call('EXPIRE', key, retention) end
end
local function wake() redis.call('PUBLISH', ARGV[2], ARGV[3]) end
"#;

pub(super) fn script(body: &str) -> Script {
    Script::from_lua(format!("{HELPERS}\n{body}"))
}

/// ARGV[4] now, [5] mode; then per task: id, created (µs), field count,
/// fields…. Mode `strict` returns `{1}`, or `{0, id}` when an id already
/// exists (nothing written); mode `missing` writes the tasks not stored
/// yet, skips the others, and returns `{1}`.
pub(crate) static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local strict = ARGV[5] == 'strict'
local i = 6
while strict and i <= #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 1 then return {0, ARGV[i]} end
  i = i + 3 + tonumber(ARGV[i + 2])
end
local due = false
i = 6
while i <= #ARGV do
  local id, created, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local key = ARGV[1] .. id
  if strict or redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, unpack(ARGV, i + 3, i + 2 + n))
    redis.call('ZADD', KEYS[5], created, id)
    if add_pending(key, id, ARGV[4]) then due = true end
  end
  i = i + 3 + n
end
if due then wake() end
return {1}
"#,
    )
});

/// ARGV[4] now, [5] limit, [6] worker, [7] lease until. Promotes due
/// delayed tasks (a bounded batch per call), then claims in order.
/// Returns the claimed records' fields.
pub(crate) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if redis.call('EXISTS', KEYS[6]) == 1 then return {} end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[2], id)
  local f = redis.call('HMGET', ARGV[1] .. id, 'priority', 'seq', 'state')
  if f[3] == 'PENDING' then
    redis.call('ZADD', KEYS[1], 0, member(tonumber(f[1]), tonumber(f[2]), id))
  end
end
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[5])
local out = {}
for i = 1, #popped, 2 do
  local id = string.sub(popped[i], 27)
  local key = ARGV[1] .. id
  if redis.call('HGET', key, 'state') == 'PENDING' then
    redis.call('HSET', key, 'state', 'RUNNING', 'started_at', ARGV[4],
      'worker_id', ARGV[6], 'lease_until', ARGV[7])
    redis.call('HINCRBY', key, 'attempt', 1)
    redis.call('HDEL', key, 'progress')
    redis.call('ZADD', KEYS[3], ARGV[7], id)
    out[#out + 1] = redis.call('HGETALL', key)
  end
end
return out
"#,
    )
});

/// ARGV[4] retention (s, 0 = keep); then per settlement: id, attempt,
/// outcome (finished/failed/cancelled/retry), at, payload (result or
/// error JSON), run at. Returns 1 (applied) or 0 (stale) per settlement.
pub(crate) static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local out = {}
local due = false
local i = 5
while i <= #ARGV do
  local id, attempt, outcome, at, payload, run_at =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  i = i + 6
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'attempt')
  if f[1] == 'RUNNING' and f[2] == attempt then
    if outcome == 'finished' then
      redis.call('HSET', key, 'result', payload)
      finish(key, id, 'FINISHED', at, ARGV[4])
    elseif outcome == 'failed' then
      redis.call('HSET', key, 'error', payload)
      finish(key, id, 'FAILED', at, ARGV[4])
    elseif outcome == 'cancelled' then
      redis.call('HSET', key, 'error', payload)
      finish(key, id, 'CANCELLED', at, ARGV[4])
    else
      redis.call('HSET', key, 'state', 'PENDING', 'error', payload,
        'scheduled_at', run_at, 'seq', run_at, 'cancel_requested', '0')
      redis.call('HDEL', key, 'lease_until')
      redis.call('ZREM', KEYS[3], id)
      if add_pending(key, id, at) then due = true end
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
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
    redis.call('HSET', key, 'lease_until', ARGV[5])
    redis.call('ZADD', KEYS[3], ARGV[5], id)
    if f[4] == '1' then out[#out + 1] = 2 else out[#out + 1] = 1 end
  else
    out[#out + 1] = 0
  end
end
return out
"#,
    )
});

/// ARGV[4] worker, [5] now; then pairs of id, attempt.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local due = false
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'attempt', 'worker_id')
  if f[1] == 'RUNNING' and f[2] == ARGV[i + 1] and f[3] == ARGV[4] then
    redis.call('HSET', key, 'state', 'PENDING')
    redis.call('HINCRBY', key, 'attempt', -1)
    redis.call('HDEL', key, 'lease_until')
    redis.call('ZREM', KEYS[3], id)
    if add_pending(key, id, ARGV[5]) then due = true end
  end
end
if due then wake() end
return 1
"#,
    )
});

/// ARGV[4] id, [5] now, [6] error JSON, [7] retention. Returns
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
  redis.call('HSET', key, 'error', ARGV[6])
  finish(key, id, 'CANCELLED', ARGV[5], ARGV[7])
elseif state == 'RUNNING' then
  redis.call('HSET', key, 'cancel_requested', '1')
else
  return {'invalid', state}
end
return {'ok', redis.call('HGETALL', key)}
"#,
    )
});

/// ARGV[4] id, [5] now. Same replies as `CANCEL`.
pub(crate) static RETRY: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local id = ARGV[4]
local key = ARGV[1] .. id
local f = redis.call('HMGET', key, 'state', 'attempt', 'max_retries')
if not f[1] then return {'missing'} end
if f[1] ~= 'FAILED' and f[1] ~= 'CANCELLED' then return {'invalid', f[1]} end
redis.call('PERSIST', key)
redis.call('ZREM', KEYS[4], id)
redis.call('HSET', key, 'state', 'PENDING', 'scheduled_at', ARGV[5], 'seq', ARGV[5],
  'cancel_requested', '0',
  'max_retries', int(math.max(tonumber(f[2]), tonumber(f[3]))))
redis.call('HDEL', key, 'finished_at', 'result')
if add_pending(key, id, ARGV[5]) then wake() end
return {'ok', redis.call('HGETALL', key)}
"#,
    )
});

/// ARGV[4] id, [5] front/back/before, [6] target id. Among due tasks:
/// O(log n), plus one step per neighbour shifted when no `seq` is free
/// before the target. Replies as `CANCEL`, plus `{'target_missing'}`,
/// `{'target_invalid', state}` and `{'target_self'}`.
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
local in_ready = redis.call('ZREM', KEYS[1], member(prio, seq, id)) == 1
if ARGV[5] == 'front' then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if first then
    local p, s = decode(first)
    if p >= prio then prio, seq = p, s - 1 end
  end
elseif ARGV[5] == 'back' then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1)[1]
  if last then
    local p, s = decode(last)
    if p <= prio then prio, seq = p, s + 1 end
  end
else
  local tp, ts = target[1], target[2]
  prio = tp
  local pred = redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. member(tp, ts, target[3]), '-',
    'LIMIT', 0, 1)[1]
  local pp, ps
  if pred then pp, ps = decode(pred) end
  if pred and pp == tp and ts - ps >= 2 then
    seq = ps + math.floor((ts - ps) / 2)
  else
    seq = ts - 1
    -- No room: shift the tightly packed run ahead of the target back.
    local bound = seq
    while pred do
      local cp, cs, cid = decode(pred)
      if cp ~= tp or cs < bound then break end
      local ns = bound - 1
      redis.call('ZREM', KEYS[1], pred)
      redis.call('HSET', ARGV[1] .. cid, 'seq', int(ns))
      local moved = member(cp, ns, cid)
      redis.call('ZADD', KEYS[1], 0, moved)
      bound = ns
      pred = redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. moved, '-', 'LIMIT', 0, 1)[1]
    end
  end
end
redis.call('HSET', key, 'priority', int(prio), 'seq', int(seq))
if in_ready then redis.call('ZADD', KEYS[1], 0, member(prio, seq, id)) end
return {'ok', redis.call('HGETALL', key)}
"#,
    )
});

/// ARGV[4] now (µs), [5] retention, [6] batch size. Returns requeued,
/// failed, cancelled and scanned counts.
pub(crate) static RESCUE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[4], 'LIMIT', 0, ARGV[6])
local requeued, failed, cancelled = 0, 0, 0
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[3], id)
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'attempt', 'max_retries', 'cancel_requested',
    'worker_id', 'lease_until')
  if f[1] == 'RUNNING' then
    local message = 'worker `' .. (f[5] or '') .. '` stopped renewing its lease'
    if f[4] == '1' then
      redis.call('HSET', key, 'error', cjson.encode({kind = 'cancelled', message = message}))
      finish(key, id, 'CANCELLED', ARGV[4], ARGV[5])
      cancelled = cancelled + 1
    elseif tonumber(f[2]) > tonumber(f[3]) then
      redis.call('HSET', key, 'error', cjson.encode({kind = 'lease_expired', message = message}))
      finish(key, id, 'FAILED', ARGV[4], ARGV[5])
      failed = failed + 1
    else
      redis.call('HSET', key, 'state', 'PENDING', 'scheduled_at', ARGV[4],
        'error', cjson.encode({kind = 'lease_expired', message = message}))
      redis.call('HDEL', key, 'lease_until')
      add_pending(key, id, ARGV[4])
      requeued = requeued + 1
    end
  end
end
if requeued > 0 then wake() end
return {requeued, failed, cancelled, #expired}
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
  local state = redis.call('HGET', key, 'state')
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
      redis.call('ZREM', KEYS[5], id)
      gone[#gone + 1] = id
    end
  end
end
local out = {#ids, skipped, deleted}
for _, id in ipairs(gone) do out[#out + 1] = id end
return out
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

/// ARGV[4] created min, [5] created max (ZRANGEBYSCORE bounds), [6] state
/// or '', [7] task type or '', [8] how many to return. Returns the total
/// number of matches, then (created, id) pairs of the newest `[8]`
/// matches, newest first. Without a state or type filter this only
/// counts; with one it reads every record in the range.
pub(crate) static LIST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local limit = tonumber(ARGV[8])
if ARGV[6] == '' and ARGV[7] == '' then
  local out = {redis.call('ZCOUNT', KEYS[5], ARGV[4], ARGV[5])}
  if limit > 0 then
    local page = redis.call('ZREVRANGEBYSCORE', KEYS[5], ARGV[5], ARGV[4], 'WITHSCORES',
      'LIMIT', 0, limit)
    for i = 1, #page, 2 do
      out[#out + 1] = page[i + 1]
      out[#out + 1] = page[i]
    end
  end
  return out
end
local all = redis.call('ZREVRANGEBYSCORE', KEYS[5], ARGV[5], ARGV[4], 'WITHSCORES')
local out = {0}
local total = 0
for i = 1, #all, 2 do
  local f = redis.call('HMGET', ARGV[1] .. all[i], 'state', 'task_type')
  if f[1] and (ARGV[6] == '' or f[1] == ARGV[6]) and (ARGV[7] == '' or f[2] == ARGV[7]) then
    total = total + 1
    if total <= limit then
      out[#out + 1] = all[i + 1]
      out[#out + 1] = all[i]
    end
  end
end
out[1] = total
return out
"#,
    )
});
