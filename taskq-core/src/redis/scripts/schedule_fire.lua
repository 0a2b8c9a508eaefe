-- FIRE: the Lua of `FIRE` in redis/schedules.rs, which documents its KEYS and ARGV.
if not current() then return 0 end
redis.call('HSET', KEYS[1], 'next', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'run_count', ARGV[6])
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'last_run', ARGV[7], 'last_task', ARGV[8])
end
if ARGV[4] == '' or redis.call('HGET', KEYS[1], 'enabled') ~= '1' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
end
return 1
