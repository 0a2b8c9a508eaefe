-- Shared by the permit scripts (redis/permits.rs), which run in a task
-- type's slot: KEYS[1] its permits, [2] its rate bucket time, [3] its
-- key rate buckets, [4] the seeded flag.
local function int(x) return string.format('%d', x) end
-- A key's permit set expires a second after its latest lease (µs
-- scores) and the grace that follows it (when a grant would drop its
-- permits anyway), so a key that never comes back leaves nothing behind.
local function expire_with_leases(set)
  local last = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIREAT', set, math.floor((tonumber(last[2]) + @GRACE_US@) / 1000) + 1000)
  end
end
