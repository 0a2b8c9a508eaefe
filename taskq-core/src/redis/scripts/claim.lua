-- CLAIM: the Lua of `CLAIM` in redis/scripts.rs, which documents its KEYS and ARGV.
local FIELDS = {@FIELDS@}
if redis.call('EXISTS', KEYS[6]) == 1 then return {next_due(), false, false} end
-- The queue's copy of the type limits was never synced (a new queue, or
-- lost): nothing is claimed; the caller syncs it and claims again.
if redis.call('EXISTS', KEYS[12]) == 0 then return -1 end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, 1000)
if #due > 0 then
  local promoted, members = {}, {}
  for _, id in ipairs(due) do
    local f = redis.call('HMGET', ARGV[1] .. id, 'priority', 'seq', 'state', 'fair_round')
    if f[3] == 'PENDING' then
      local m = member(tonumber(f[1]), tonumber(f[2]), id, f[4])
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
local want = tonumber(ARGV[5])
-- lifecycle::claim_capacity: the running set holds exactly the queue's
-- RUNNING tasks, so a rescued or settled task's slot is free again.
local limit = redis.call('GET', KEYS[10])
if limit then
  local free = tonumber(limit) - redis.call('ZCARD', KEYS[3])
  if free < want then want = free end
  if want <= 0 then return {next_due(), false, false} end
end
-- lifecycle::rate_capacity: the queue's token bucket (KEYS[11]: starts,
-- period and tat, the bucket's time, in µs), read here and moved below.
local rate = redis.call('HMGET', KEYS[11], 'starts', 'period', 'tat')
local starts, period = tonumber(rate[1]), tonumber(rate[2])
local now = tonumber(ARGV[4])
local tat = tonumber(rate[3])
-- lifecycle::rate_cost: exact, as n * period < 2^53 (lifecycle::rate_claim_cap).
local function cost(n) return math.ceil(n * period / starts) end
-- lifecycle::rate_next_start: false when a start is allowed now.
local function next_start(at)
  if not at then return false end
  local t = at - period + cost(1)
  if t > now then return t end
  return false
end
if starts then
  local cap = math.floor(9007199254740992 / period)
  if cap < want then want = cap end
  local budget = period - math.max((tat or now) - now, 0)
  if budget < 0 then budget = 0 end
  -- The most whose cost the budget covers: a close guess, made exact.
  local k = math.min(want, math.floor(budget / period * starts))
  while k > 0 and cost(k) > budget do k = k - 1 end
  while k < want and cost(k + 1) <= budget do k = k + 1 end
  want = k
  if want <= 0 then return {next_due(), next_start(tat), false} end
end
-- ARGV[9] how many types follow whose last grant (by this process)
-- refused a candidate; then the type filter's flag and the types it
-- accepts, or `g` and the (id, attempt) pairs of granted candidates.
local refused = {}
local at = 10 + tonumber(ARGV[9])
for i = 10, at - 1 do refused[ARGV[i]] = true end
local accepts, grants = nil, nil
if ARGV[at] == '1' then
  accepts = {}
  for i = at + 1, #ARGV do accepts[ARGV[i]] = true end
elseif ARGV[at] == 'g' then
  grants = {}
  for i = at + 1, #ARGV, 2 do grants[#grants + 1] = {ARGV[i], ARGV[i + 1]} end
end
-- lifecycle::TypeCaps: the type limits of the types this claim may take,
-- from the queue's copy (KEYS[12]: field l:<type> the limit, k:<type>
-- the key limit, r:<type> the rate limit and s:<type> the key rate limit
-- as `starts:period`, #v its version). They hold over every queue, so
-- they are counted in each type's own slot (redis/permits.rs), which
-- this script cannot reach: a task of a limited type is not claimed
-- here but returned as a candidate, with its type's limits; the caller
-- asks the type's slot for permits, then claims the granted ones (mode
-- `g`). A candidate keeps its place meanwhile.
local limits = nil
local stored = redis.call('HGETALL', KEYS[12])
for i = 1, #stored, 2 do
  local kind, t = string.sub(stored[i], 1, 2), string.sub(stored[i], 3)
  if (kind == 'l:' or kind == 'k:' or kind == 'r:' or kind == 's:') and (not accepts or accepts[t]) then
    limits = limits or {}
    limits[t] = limits[t] or {}
    limits[t][kind] = stored[i + 1]
  end
end
local limited = limits ~= nil and not grants
local candidates, limits_out, listed = {}, {}, {}
local function candidate(id, attempt, t, k)
  candidates[#candidates + 1] = id
  candidates[#candidates + 1] = attempt
  candidates[#candidates + 1] = t
  candidates[#candidates + 1] = k or ''
  if limits[t] and not listed[t] then
    listed[t] = true
    local l = limits[t]
    limits_out[#limits_out + 1] = t
    limits_out[#limits_out + 1] = l['l:'] or ''
    limits_out[#limits_out + 1] = l['k:'] or ''
    limits_out[#limits_out + 1] = l['r:'] or ''
    limits_out[#limits_out + 1] = l['s:'] or ''
  end
end
local out = {next_due(), false, false, false, false}
local out_n = 5
local running = {}
-- The last of FIELDS, 'progress', is read to skip deleting it when absent,
-- not returned.
local fields = #FIELDS - 1
-- A popped task past its deadline is never started: it expires here.
local expired_count = 0
local function expired(id, key, f)
  local deadline = f[@EXPIRES@]
  if not deadline or tonumber(deadline) > tonumber(ARGV[4]) then return false end
  expire_pending(id, key, f[@TYPE@], f[@CREATED@], f[@STEP@], ARGV[4], ARGV[8])
  expired_count = expired_count + 1
  return true
end
-- lifecycle::fair_claimed: the highest round this claim took.
local top_round = 0
local function claim(id, key, f)
  if expired(id, key, f) then return false end
  local round = tonumber(f[@ROUND@])
  if round and round > top_round then top_round = round end
  local attempt = int(tonumber(f[1]) + 1)
  redis.call('HSET', key, 'state', 'RUNNING', 'attempt', attempt, 'started_at', ARGV[4],
    'worker_id', ARGV[6])
  -- lifecycle::claim: the last attempt's progress stays until this one.
  if f[@PROGRESS@] then redis.call('HDEL', key, 'progress') end
  -- Appended by count: Lua 5.1's # searches for the border each time.
  local n = out_n
  out[n + 1] = id
  out[n + 2] = attempt
  n = n + 2
  for j = 2, fields + 1 do
    n = n + 1
    out[n] = f[j]
  end
  out_n = n
  running[#running + 1] = ARGV[7]
  running[#running + 1] = running_member(id, attempt)
  index_move(id, f[@TYPE@], f[@CREATED@], 'PENDING', 'RUNNING', f[@EXPIRES@])
  return true
end
if grants then
  -- The granted candidates, each while still due and pending at the
  -- attempt its permit names (else the caller returns the permit).
  local taken = {}
  for _, g in ipairs(grants) do
    if #taken >= want then break end
    local id = g[1]
    local key = ARGV[1] .. id
    local f = redis.call('HMGET', key, 'attempt', unpack(FIELDS))
    if f[1] and int(tonumber(f[1]) + 1) == g[2] then
      local m = member(tonumber(f[@PRIORITY@]), tonumber(f[@SEQ@]), id, f[@ROUND@])
      if redis.call('ZSCORE', KEYS[1], m) then
        taken[#taken + 1] = m
        claim(id, key, f)
      end
    end
  end
  if #taken > 0 then zbulk('ZREM', KEYS[1], taken) end
elseif not accepts and not limited then
  for i, m in ipairs(redis.call('ZPOPMIN', KEYS[1], want)) do
    if i % 2 == 1 then
      local id = member_id(m)
      local key = ARGV[1] .. id
      claim(id, key, redis.call('HMGET', key, 'attempt', unpack(FIELDS)))
    end
  end
else
  -- lifecycle::accepts_type: walk the ready set in claim order; a task of
  -- another type keeps its place. At most `want + 1000` members a call.
  -- From the first candidate of a limited type on, nothing is claimed
  -- here: the walk lists every task it would take (as a free candidate)
  -- and the limited types' tasks among them, so the caller's `g` call
  -- takes them in claim order. A candidate counts toward `want` as a
  -- free one does, unless its type's last grant refused one (a full
  -- type, key or bucket, likely still): then the walk lists the type's
  -- tasks past it too (at most `want + 1000` members read), for the
  -- grant to find those it admits (other keys) and the walk to reach the
  -- other types' tasks behind them.
  local taken, offset, listing, free = {}, 0, false, 0
  local function room() return want - #taken - free end
  while room() > 0 and offset < want + 1000 do
    local batch = redis.call('ZRANGE', KEYS[1], offset, offset + math.max(room(), 100) - 1)
    if #batch == 0 then break end
    offset = offset + #batch
    for _, m in ipairs(batch) do
      if room() <= 0 then break end
      local _, _, id = decode(m)
      local key = ARGV[1] .. id
      local f = redis.call('HMGET', key, 'attempt', unpack(FIELDS))
      local t = f[@TYPE@]
      if not accepts or accepts[t] then
        if limited and limits[t] then
          listing = true
          if not refused[t] then free = free + 1 end
          candidate(id, int(tonumber(f[1]) + 1), t, f[@KEY@])
        elseif listing then
          free = free + 1
          candidate(id, int(tonumber(f[1]) + 1), t, f[@KEY@])
        else
          taken[#taken + 1] = m
          claim(id, key, f)
        end
      end
    end
  end
  if #taken > 0 then zbulk('ZREM', KEYS[1], taken) end
end
if #running > 0 then zbulk('ZADD', KEYS[3], running) end
if top_round > 0 then
  local current = redis.call('HGET', KEYS[13], 'round')
  if current and tonumber(current) < top_round then
    redis.call('HSET', KEYS[13], 'round', int(top_round))
  end
end
if starts and #running > 0 then
  -- lifecycle::rate_spend
  tat = math.max(tat or now, now) + cost(#running / 2)
  redis.call('HSET', KEYS[11], 'tat', int(tat))
  out[2] = next_start(tat)
end
if #candidates > 0 then
  out[4] = candidates
  out[5] = limits_out
end
index_flush()
-- Tasks it expired: the first item becomes {next due, count, outbox
-- entries of the steps that ended…}.
if expired_count > 0 then out[1] = with_ended_steps({out[1], expired_count}) end
return out
