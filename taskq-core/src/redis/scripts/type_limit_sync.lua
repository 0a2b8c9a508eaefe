-- TYPE_LIMIT_SYNC: the Lua of `TYPE_LIMIT_SYNC` in redis/scripts.rs, which documents its ARGV.
-- Versions only grow, so of two syncs racing with different versions the
-- later version stays, whichever runs last.
local stored = tonumber(redis.call('HGET', KEYS[12], '#v') or '-1')
if stored >= tonumber(ARGV[4]) then return 0 end
-- The rate buckets live in each type's slot now (redis/permits.rs): a
-- copy's per-queue buckets of an older version (`<copy>:tat`,
-- `<copy>:ktat:<type>`) go.
redis.call('DEL', KEYS[12] .. ':tat')
local old = redis.call('HKEYS', KEYS[12])
for _, field in ipairs(old) do
  if string.sub(field, 1, 2) == 's:' then redis.call('DEL', KEYS[12] .. ':ktat:' .. string.sub(field, 3)) end
end
redis.call('DEL', KEYS[12])
local fields = {'#v', ARGV[4]}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[12], unpack(fields))
return 1
