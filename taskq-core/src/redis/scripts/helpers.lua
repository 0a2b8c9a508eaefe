-- HELPERS: the functions every script of redis/scripts.rs (and of delivery.rs) starts with.
local OFFSET = 4503599627370496
local function int(x) return string.format('%d', x) end
-- A ready (or delayed-order) member: priority, then the fair round
-- (lifecycle::claim_order), then seq, then id, in one byte-ordered string.
-- Round 0 (not fair) keeps the plain form, 26 characters then the id;
-- a round r >= 1 adds 'r' and r in 10 digits after the priority, and 'r'
-- sorts after every digit: at one priority, the tasks without a round
-- (submitted before the queue was fair) go first, then round by round.
local function member(prio, seq, id, round)
  round = tonumber(round) or 0
  if round > 0 then
    return string.format('%010dr%010d%016d', 2147483647 - prio, round, seq + OFFSET) .. id
  end
  return string.format('%010d%016d', 2147483647 - prio, seq + OFFSET) .. id
end
-- A member's priority, seq, id and round.
local function decode(m)
  local prio = 2147483647 - tonumber(string.sub(m, 1, 10))
  if string.sub(m, 11, 11) == 'r' then
    return prio, tonumber(string.sub(m, 22, 37)) - OFFSET, string.sub(m, 38),
      tonumber(string.sub(m, 12, 21))
  end
  return prio, tonumber(string.sub(m, 11, 26)) - OFFSET, string.sub(m, 27), 0
end
-- A member's id alone (decode's fourth, without its numbers).
local function member_id(m)
  if string.byte(m, 11) == 114 then return string.sub(m, 38) end -- 'r'
  return string.sub(m, 27)
end
-- The start of the members of one priority and round ('[' for a lex range).
local function group_prefix(prio, round)
  if round > 0 then return string.format('%010dr%010d', 2147483647 - prio, round) end
  return string.format('%010d', 2147483647 - prio)
end
local function wake() redis.call('PUBLISH', ARGV[2], ARGV[3]) end
-- Files a pending task in ready or delayed; true when due now. A delayed
-- task that becomes the queue's earliest announces its due time
-- ('<queue> <µs>'), so sleeping workers set their timers. The fair round
-- is read from the record (ARGV[1] .. id): a retry, snooze, release or
-- rescue keeps it (lifecycle::fair_round). A caller that knows the round
-- passes it as `round` (false or '': none), sparing the read.
local function add_pending(id, prio, seq, at, now, round)
  if round == nil then round = redis.call('HGET', ARGV[1] .. id, 'fair_round') end
  local m = member(tonumber(prio), tonumber(seq), id, round)
  if tonumber(at) > tonumber(now) then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
    redis.call('ZADD', KEYS[2], at, id)
    redis.call('ZADD', KEYS[7], 0, m)
    if not first or tonumber(at) < tonumber(first) then
      redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. at)
    end
    return false
  end
  redis.call('ZADD', KEYS[1], 0, m)
  return true
end
-- lifecycle::HeldRounds: the rounds a fair queue's PENDING and WAITING
-- tasks hold, in one sorted set beside the fair hash (KEYS[13] .. ':held',
-- score 0), member '<lane's length, 8 digits><lane><round, 16 digits><id>':
-- a lane's members are one lex range, by round. `index_move` keeps it as
-- tasks enter and leave those states (while the queue is fair); the
-- enqueue script reads a lane's latest.
local function held_key() return KEYS[13] .. ':held' end
local function held_prefix(lane) return string.format('%08d', #lane) .. lane end
local function held_member(lane, round, id)
  return held_prefix(lane) .. string.format('%016d', round) .. id
end
-- Whether the queue is fair (KEYS[13] exists), read once per call; false
-- for a script without the queue's keys.
local fair_queue = nil
local function is_fair_queue()
  if fair_queue == nil then
    fair_queue = KEYS[13] ~= nil and redis.call('EXISTS', KEYS[13]) == 1
  end
  return fair_queue
end
local HOLDS = { PENDING = true, WAITING = true }
-- Task `id` moves from state `from` to `to` (either nil: none): its round,
-- if it has one, is held or left.
local function held_move(id, from, to)
  local was, is = HOLDS[from] == true, HOLDS[to] == true
  if was == is or not is_fair_queue() then return end
  local f = redis.call('HMGET', ARGV[1] .. id, 'concurrency_key', 'fair_round')
  local round = tonumber(f[2]) or 0
  if round <= 0 then return end
  local m = held_member(f[1] or '', round, id)
  if is then redis.call('ZADD', held_key(), 0, m) else redis.call('ZREM', held_key(), m) end
end
local function remove_pending(key, id)
  local f = redis.call('HMGET', key, 'priority', 'seq', 'fair_round')
  local m = member(tonumber(f[1]), tonumber(f[2]), id, f[3])
  if redis.call('ZREM', KEYS[1], m) == 0 then
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[7], m)
  end
end
-- Moves a record to a terminal state with one more field (result or
-- error); it expires after the retention, if one is set. The caller
-- moves the task from the running set to the done set.
local function finish(key, state, at, retention, field, value, ...)
  redis.call('HSET', key, 'state', state, 'finished_at', at, field, value, ...)
  if tonumber(retention) > 0 then redis.call('EXPIRE', key, retention) end
end
-- `s` cut to at most `max` UTF-8 characters (Lua 5.1 counts bytes).
local function cut_chars(s, max)
  if #s <= max then return s end
  local n = 0
  for i = 1, #s do
    local b = string.byte(s, i)
    if b < 128 or b >= 192 then
      n = n + 1
      if n > max then return string.sub(s, 1, i - 1) end
    end
  end
  return s
end
-- A JSON string or null, for an attempt's entry: digits (the times this
-- crate writes) as they are, anything else through cjson, a worker's id
-- once per script call.
local json_strings = {}
local function json_string(v)
  if not v then return 'null' end
  if string.find(v, '^%-?%d+$') then return '"' .. v .. '"' end
  local j = json_strings[v]
  if not j then
    j = cjson.encode(v)
    json_strings[v] = j
  end
  return j
end
-- lifecycle::end_attempt: the record's `history` (a JSON array) with the
-- ended attempt's entry appended, keeping the last @HISTORY_MAX@; the
-- worker and start are the record's. `outcome` is
-- `AttemptOutcome::as_str`, `err` the error's JSON or nil. Returns the
-- field's name and new value, for the caller's own HSET of the end. The
-- array is decoded only to drop its oldest entry (`history_n` counts);
-- the entry is written as text (an AttemptRecord's JSON; its order of
-- keys is no reader's concern), cheaper than a table through cjson.
-- A caller that knows the record has no history yet passes the attempt's
-- `started_at` and `worker_id` as `first` ({started_at, worker_id}): then
-- nothing is read.
local function end_attempt(key, attempt, outcome, at, err, first)
  local f
  if first then
    f = {false, first[2], first[1], false}
  else
    f = redis.call('HMGET', key, 'history', 'worker_id', 'started_at', 'history_n')
  end
  local head = '{"attempt":' .. int(tonumber(attempt)) .. ',"worker_id":' .. json_string(f[2])
    .. ',"started_at":' .. json_string(f[3]) .. ',"ended_at":' .. json_string(at)
    .. ',"outcome":"' .. outcome .. '"'
  if err then
    local e = cjson.decode(err)
    head = head .. ',"error":'
      .. cjson.encode({kind = e.kind, message = cut_chars(e.message or '', @HISTORY_MESSAGE_MAX@)})
  end
  local function entry(ordinal) return head .. ',"ordinal":' .. int(ordinal) .. '}' end
  local n = tonumber(f[4]) or 0
  -- lifecycle::next_ordinal. Below the bound nothing was ever dropped
  -- (the array never shrinks), so the entry is the (n + 1)th.
  if not f[1] then
    return 'history', '[' .. entry(1) .. ']', 'history_n', 1
  elseif n > 0 and n < @HISTORY_MAX@ then
    return 'history', string.sub(f[1], 1, -2) .. ',' .. entry(n + 1) .. ']', 'history_n', n + 1
  end
  local history = cjson.decode(f[1])
  local last = history[#history]
  local ordinal = math.max(tonumber(last and last.ordinal) or 0, #history) + 1
  while #history > @HISTORY_MAX@ - 1 do table.remove(history, 1) end
  local kept = ''
  if #history > 0 then kept = string.sub(cjson.encode(history), 2, -2) .. ',' end
  return 'history', '[' .. kept .. entry(ordinal) .. ']', 'history_n', #history + 1
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
local function zbulk(cmd, key, args, n)
  n = n or #args
  for i = 1, n, 4000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 3999, n)))
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
-- written by `index_flush`. Each list keeps its length in `n` (Lua 5.1's
-- # searches for the border on every append).
local index_rem, index_add, index_types = {}, {}, {}
local function index_push(t, key, a, b)
  local l = t[key]
  if not l then
    l = {n = 0}
    t[key] = l
  end
  local n = l.n + 1
  l[n] = a
  if b then
    n = n + 1
    l[n] = b
  end
  l.n = n
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
local TERMINAL = {'FINISHED', 'FAILED', 'CANCELLED', 'EXPIRED'}
local function is_terminal(s)
  return s == 'FINISHED' or s == 'FAILED' or s == 'CANCELLED' or s == 'EXPIRED'
end
-- The queue's pending tasks with a deadline to start, scored by it (µs):
-- what the expiry sweep reads (`lifecycle::expire`).
local function deadline_key() return KEYS[8] .. ':deadlines' end
-- A task of type `t` created at `created` (µs) moves from state `from` to
-- `to` (either nil: none). A caller that knows the record's `expires_at`
-- passes it as `deadline` (false: none), sparing a read entering PENDING
-- and a removal of nothing leaving it; nil: unknown.
local function index_move(id, t, created, from, to, deadline)
  held_move(id, from, to)
  if from and from ~= 'RUNNING' then
    index_push(index_rem, state_key(from), id)
    index_push(index_rem, state_type_key(from, t), id)
  end
  if to and to ~= 'RUNNING' then
    index_push(index_add, state_key(to), created, id)
    index_push(index_add, state_type_key(to, t), created, id)
  end
  -- Entering PENDING files the deadline, if the record has one (written
  -- before this call); leaving PENDING drops it.
  if from == 'PENDING' and deadline ~= false then index_push(index_rem, deadline_key(), id) end
  if to == 'PENDING' then
    if deadline == nil then deadline = redis.call('HGET', ARGV[1] .. id, 'expires_at') end
    if deadline then index_push(index_add, deadline_key(), deadline, id) end
  end
end
-- A new task (PENDING, or WAITING: a workflow step with parents):
-- creation, type and state indexes.
-- `deadline` as `index_move`'s.
local function index_new(id, t, created, state, deadline)
  index_push(index_add, KEYS[5], created, id)
  index_push(index_add, type_key(t), created, id)
  index_move(id, t, created, nil, state or 'PENDING', deadline)
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
  for key, l in pairs(index_rem) do zbulk('ZREM', key, l, l.n) end
  for key, l in pairs(index_add) do zbulk('ZADD', key, l, l.n) end
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
-- `lifecycle::ended_edges`: a workflow step (`step`, its JSON; false or
-- nil for a plain task) that ended in `state` at `at` (µs) records the
-- end in the queue's outbox (KEYS[9]) in the script that ends it, field
-- `<id>:<at>` (the end's token), value `<STATE> <child>…`; the caller
-- carries it to the children, which may live in other slots
-- (redis/workflow.rs). The entries go in `ended_steps`, as field, value
-- pairs, for the script's reply.
local ended_steps = {}
local function step_ended(id, step, state, at)
  if not step then return end
  local children = cjson.decode(step).children
  if type(children) ~= 'table' or #children == 0 then return end
  local field = id .. ':' .. at
  local value = state .. ' ' .. table.concat(children, ' ')
  redis.call('HSET', KEYS[9], field, value)
  ended_steps[#ended_steps + 1] = field
  ended_steps[#ended_steps + 1] = value
end
-- `lifecycle::expire`: a pending task past its deadline (taken out of
-- ready and delayed by the caller) ends EXPIRED at `now` (µs), with
-- `lifecycle::expired_failure`'s error; a step's end goes to the outbox.
local EXPIRED_ERROR = cjson.encode({kind = 'expired', message = 'not started before its deadline'})
local function expire_pending(id, key, t, created, step, now, retention)
  finish(key, 'EXPIRED', now, retention, 'error', EXPIRED_ERROR)
  redis.call('ZADD', KEYS[4], now, id)
  index_move(id, t, created, 'PENDING', 'EXPIRED')
  step_ended(id, step, 'EXPIRED', now)
end
-- Appends the outbox entries this call wrote to a reply table.
local function with_ended_steps(out)
  for _, v in ipairs(ended_steps) do out[#out + 1] = v end
  return out
end
