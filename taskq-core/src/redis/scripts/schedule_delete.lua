-- DELETE: the Lua of `DELETE` in redis/schedules.rs, which documents its KEYS and ARGV.
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
