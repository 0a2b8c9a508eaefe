-- TYPE_LIMIT_SYNC: the Lua of `TYPE_LIMIT_SYNC` in redis/scripts.rs, which documents its ARGV.
-- Versions only grow, so of two syncs racing with different versions the
-- later version stays, whichever runs last.
local stored = tonumber(redis.call('HGET', KEYS[12], '#v') or '-1')
if stored >= tonumber(ARGV[4]) then return 0 end
redis.call('DEL', KEYS[12])
local fields = {'#v', ARGV[4]}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[12], unpack(fields))
return 1
