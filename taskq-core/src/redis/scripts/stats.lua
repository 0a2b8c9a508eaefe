-- STATS: the Lua of `STATS` in redis/scripts.rs, which documents its KEYS and ARGV.
local due = redis.call('ZCOUNT', KEYS[2], '-inf', ARGV[4])
return {redis.call('ZCARD', KEYS[1]) + due,
  redis.call('ZCARD', KEYS[2]) - due,
  redis.call('ZCARD', KEYS[3]),
  redis.call('EXISTS', KEYS[6]),
  tonumber(redis.call('GET', KEYS[10]) or '0'),
  redis.call('EXISTS', KEYS[13]),
  unpack(redis.call('HMGET', KEYS[11], 'starts', 'period', 'tat'))}
