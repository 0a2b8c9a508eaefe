-- PROGRESS: the Lua of `PROGRESS` in redis/scripts.rs, which documents its KEYS and ARGV.
local key = ARGV[1] .. ARGV[4]
local f = redis.call('HMGET', key, 'state', 'attempt')
if f[1] == 'RUNNING' and f[2] == ARGV[5] then
  redis.call('HSET', key, 'progress', ARGV[6])
  return 1
end
return 0
