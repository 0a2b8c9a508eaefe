-- PERMIT_GRANT: the Lua of `PERMIT_GRANT` in redis/permits.rs, which documents its KEYS and ARGV.
local now, lease, freed, most = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local limit, key_limit = tonumber(ARGV[5]), tonumber(ARGV[6])
-- The permits were never rebuilt from the queues' running sets (an
-- upgrade, or a limit set anew): grant nothing; the caller seeds them
-- (`PERMIT_SEED`) and asks again.
if (limit or key_limit) and redis.call('EXISTS', KEYS[4]) == 0 then return -1 end
-- A permit whose lease ended a grace ago (`freed`) is free again: the
-- rescue of its task returns it sooner, unless the rescuer died between.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. freed)
local held = redis.call('ZCARD', KEYS[1])
local key_held = {}
local function key_set(k) return KEYS[1] .. ':key:' .. k end
local function key_count(k)
  if not key_held[k] then
    redis.call('ZREMRANGEBYSCORE', key_set(k), '-inf', '(' .. freed)
    key_held[k] = redis.call('ZCARD', key_set(k))
  end
  return key_held[k]
end
-- lifecycle::RateBucket: {starts, period, tat, taken}.
local function bucket(starts, period, at)
  if not starts then return nil end
  return {starts = tonumber(starts), period = tonumber(period), tat = at, taken = 0}
end
local function cost(b, n) return math.ceil(n * b.period / b.starts) end
local function allows_one(b)
  local n = b.taken + 1
  if n > math.floor(9007199254740992 / b.period) then return false end
  local budget = b.period - math.max((b.tat or now) - now, 0)
  if budget < 0 then budget = 0 end
  return cost(b, n) <= budget
end
local function spent(b) return math.max(b.tat or now, now) + cost(b, b.taken) end
local wake = false
local function hold_until(b)
  local t = spent(b) - b.period + cost(b, 1)
  if t > now and (not wake or t < wake) then wake = t end
end
local tbucket = nil
if ARGV[7] ~= '' then tbucket = bucket(ARGV[7], ARGV[8], tonumber(redis.call('GET', KEYS[2]))) end
local kbucket = {}
local function key_bucket(k)
  if not kbucket[k] then kbucket[k] = bucket(ARGV[9], ARGV[10], tonumber(redis.call('ZSCORE', KEYS[3], k))) end
  return kbucket[k]
end
local out = {false}
local latest = {}
for i = 11, #ARGV, 2 do
  -- At most `most` grants; none once the type is full.
  if #out - 1 >= most or (limit and held >= limit) then break end
  local member, k = ARGV[i], ARGV[i + 1]
  if k == '' then k = nil end
  -- lifecycle::TypeCaps::admit: the type's limit, its key's limit, the
  -- type's bucket, the key's bucket; one that fails holds the task back.
  local ok = not limit or held < limit
  -- Another claimer's grant of the same task and attempt (both listed it
  -- before either claimed it): that permit is its, not this one's.
  if ok and (limit or key_limit) and redis.call('ZSCORE', KEYS[1], member) then ok = false end
  if ok and k and key_limit then ok = key_count(k) < key_limit end
  if ok and tbucket and not allows_one(tbucket) then hold_until(tbucket); ok = false end
  if ok and k and ARGV[9] ~= '' then
    local b = key_bucket(k)
    if not allows_one(b) then hold_until(b); ok = false end
  end
  if ok then
    if limit or key_limit then
      redis.call('ZADD', KEYS[1], lease, member)
      held = held + 1
    end
    if k and key_limit then
      redis.call('ZADD', key_set(k), lease, member)
      key_held[k] = key_held[k] + 1
      latest[k] = true
    end
    if tbucket then tbucket.taken = tbucket.taken + 1 end
    if k and ARGV[9] ~= '' then
      local b = key_bucket(k)
      b.taken = b.taken + 1
    end
    out[#out + 1] = member
  end
end
-- A key's set goes by itself once every permit in it could have ended.
for k in pairs(latest) do expire_with_leases(key_set(k)) end
if tbucket and tbucket.taken > 0 then redis.call('SET', KEYS[2], int(spent(tbucket))) end
-- lifecycle::key_bucket_spent: a key's bucket whose time passed is full.
if ARGV[9] ~= '' then
  for k, b in pairs(kbucket) do
    if b.taken > 0 then redis.call('ZADD', KEYS[3], int(spent(b)), k) end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', int(now))
end
out[1] = wake
return out
