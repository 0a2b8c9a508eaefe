-- CURRENT: the compare-and-set check the firing scripts of redis/schedules.rs start with.
local function current()
  if redis.call('EXISTS', KEYS[1]) == 0 then return false end
  local f = redis.call('HMGET', KEYS[1], 'next', 'revision')
  return (f[1] or '') == ARGV[2] and (f[2] or '0') == ARGV[3]
end
