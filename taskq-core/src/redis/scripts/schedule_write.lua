-- WRITE: the Lua of `WRITE` in redis/schedules.rs, which documents its KEYS and ARGV.
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[8] == 'create' and exists then return 0 end
if ARGV[8] == 'update' and not exists then return 0 end
redis.call('HSET', KEYS[1], 'def', ARGV[2], 'updated_at', ARGV[4], 'next', ARGV[5], 'enabled', ARGV[6])
if ARGV[8] == 'create' then
  redis.call('HSET', KEYS[1], 'created_at', ARGV[3], 'last_run', '', 'run_count', '0', 'last_task', '', 'revision', '0')
  redis.call('ZADD', KEYS[3], 0, ARGV[1])
else
  redis.call('HINCRBY', KEYS[1], 'revision', 1)
end
if ARGV[6] == '1' and ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
