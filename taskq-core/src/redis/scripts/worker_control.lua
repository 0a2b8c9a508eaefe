-- CONTROL: the Lua of `CONTROL` in redis/workers.rs, which documents its KEYS and ARGV.
local f = redis.call('HMGET', KEYS[1], 'state', 'requested')
if not f[1] then return -1 end
if f[1] ~= ARGV[1] or (f[2] or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'requested', ARGV[3])
return 1
