-- DEREGISTER: the Lua of `DEREGISTER` in redis/workers.rs, which documents its KEYS and ARGV.
local removed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return removed
