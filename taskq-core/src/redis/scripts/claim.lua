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
-- ARGV[9] the type filter's flag, then the types it accepts.
local accepts = nil
if ARGV[9] == '1' then
  accepts = {}
  for i = 10, #ARGV do accepts[ARGV[i]] = true end
end
-- lifecycle::TypeCaps: the type limits of the types this claim may take,
-- from the queue's copy (KEYS[12]: field l:<type> the limit, k:<type>
-- the key limit, r:<type> the rate limit and s:<type> the key rate limit
-- as `starts:period`, #v its version). A limited type's running tasks,
-- and a key-limited type's per key, are counted from the running set
-- (each member's record), so a settled or rescued task's slot is free
-- again; a task of a full type or key keeps its place.
local limited, counted = false, false
local left, key_limit, key_running = {}, {}, {}
local type_rate, key_rate = {}, {}
local stored = redis.call('HGETALL', KEYS[12])
for i = 1, #stored, 2 do
  local kind, t = string.sub(stored[i], 1, 2), string.sub(stored[i], 3)
  if (kind == 'l:' or kind == 'k:' or kind == 'r:' or kind == 's:') and (not accepts or accepts[t]) then
    limited = true
    local v = stored[i + 1]
    if kind == 'l:' then left[t] = tonumber(v); counted = true
    elseif kind == 'k:' then key_limit[t] = tonumber(v); counted = true
    else
      local rs, rp = string.match(v, '^(%d+):(%d+)$')
      local limit = {starts = tonumber(rs), period = tonumber(rp)}
      if kind == 'r:' then type_rate[t] = limit else key_rate[t] = limit end
    end
  end
end
if counted then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    local r = redis.call('HMGET', ARGV[1] .. running_task(m), 'task_type', 'concurrency_key')
    local t, k = r[1], r[2]
    if t and left[t] then left[t] = left[t] - 1 end
    if t and k and key_limit[t] then
      local tk = t .. '\0' .. k
      key_running[tk] = (key_running[tk] or 0) + 1
    end
  end
end
-- lifecycle::type_rate: the type and key token buckets, kept beside the
-- copy in the queue's slot (its name and a suffix): `<copy>:tat`, a hash
-- of each type's bucket time, and `<copy>:ktat:<type>`, a sorted set of
-- each key's bucket time (the score) while it is spent. Each bucket is
-- {limit, tat, taken}; lifecycle::RateBucket's rules on it.
local TATS = KEYS[12] .. ':tat'
local function ktats(t) return KEYS[12] .. ':ktat:' .. t end
local function bucket(limit, at) return {starts = limit.starts, period = limit.period, tat = at, taken = 0} end
local function bcost(b, n) return math.ceil(n * b.period / b.starts) end
local function allows_one(b)
  local n = b.taken + 1
  if n > math.floor(9007199254740992 / b.period) then return false end
  local budget = b.period - math.max((b.tat or now) - now, 0)
  if budget < 0 then budget = 0 end
  return bcost(b, n) <= budget
end
local function spent(b) return math.max(b.tat or now, now) + bcost(b, b.taken) end
local function bnext(b)
  local t = spent(b) - b.period + bcost(b, 1)
  if t > now then return t end
  return false
end
local wake = false
local function hold_until(b)
  local t = bnext(b)
  if t and (not wake or t < wake) then wake = t end
end
local tbucket, kbucket = {}, {}
for t, limit in pairs(type_rate) do
  tbucket[t] = bucket(limit, tonumber(redis.call('HGET', TATS, t)))
  if not allows_one(tbucket[t]) then hold_until(tbucket[t]) end
end
local function key_bucket(t, k)
  local tk = t .. '\0' .. k
  if not kbucket[tk] then
    kbucket[tk] = bucket(key_rate[t], tonumber(redis.call('ZSCORE', ktats(t), k)))
    kbucket[tk].t, kbucket[tk].k = t, k
  end
  return kbucket[tk]
end
-- Whether a task of type t with key k (or false) may start; taking its
-- slots and starts is `admitted`'s.
local function admits(t, k)
  if not limited then return true end
  if left[t] and left[t] <= 0 then return false end
  if k and key_limit[t] and (key_running[t .. '\0' .. k] or 0) >= key_limit[t] then return false end
  if tbucket[t] and not allows_one(tbucket[t]) then
    hold_until(tbucket[t])
    return false
  end
  if k and key_rate[t] then
    local b = key_bucket(t, k)
    if not allows_one(b) then
      hold_until(b)
      return false
    end
  end
  return true
end
local function admitted(t, k)
  if not limited then return end
  if left[t] then left[t] = left[t] - 1 end
  if k and key_limit[t] then
    local tk = t .. '\0' .. k
    key_running[tk] = (key_running[tk] or 0) + 1
  end
  if tbucket[t] then tbucket[t].taken = tbucket[t].taken + 1 end
  if k and key_rate[t] then
    local b = key_bucket(t, k)
    b.taken = b.taken + 1
  end
end
local out = {next_due(), false, false}
local out_n = 3
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
if not accepts and not limited then
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
  -- and lifecycle::TypeCaps: a task of a full type or key keeps its place too.
  local taken, offset = {}, 0
  while #taken < want and offset < want + 1000 do
    local batch = redis.call('ZRANGE', KEYS[1], offset, offset + want - #taken - 1)
    if #batch == 0 then break end
    offset = offset + #batch
    for _, m in ipairs(batch) do
      local _, _, id = decode(m)
      local key = ARGV[1] .. id
      local f = redis.call('HMGET', key, 'attempt', unpack(FIELDS))
      local t, k = f[@TYPE@], f[@KEY@]
      if (not accepts or accepts[t]) and admits(t, k) then
        taken[#taken + 1] = m
        if claim(id, key, f) then admitted(t, k) end
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
-- The type and key buckets spent; a key's whose time passed is full and
-- goes (lifecycle::key_bucket_spent).
for t, b in pairs(tbucket) do
  if b.taken > 0 then redis.call('HSET', TATS, t, int(spent(b))) end
end
local pruned = {}
for _, b in pairs(kbucket) do
  if b.taken > 0 then redis.call('ZADD', ktats(b.t), int(spent(b)), b.k) end
  if not pruned[b.t] then
    pruned[b.t] = true
    redis.call('ZREMRANGEBYSCORE', ktats(b.t), '-inf', int(now))
  end
end
out[3] = wake
index_flush()
-- Tasks it expired: the first item becomes {next due, count, outbox
-- entries of the steps that ended…}.
if expired_count > 0 then out[1] = with_ended_steps({out[1], expired_count}) end
return out
