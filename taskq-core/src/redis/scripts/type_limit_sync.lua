-- TYPE_LIMIT_SYNC: the Lua of `TYPE_LIMIT_SYNC` in redis/scripts.rs, which documents its ARGV.
-- Versions only grow, so of two syncs racing with different versions the
-- later version stays, whichever runs last.
local stored = tonumber(redis.call('HGET', KEYS[12], '#v') or '-1')
if stored >= tonumber(ARGV[4]) then return 0 end
local kept = {}
for i = 5, #ARGV, 2 do kept[ARGV[i]] = true end
-- A rate limit cleared forgets its buckets (beside the copy, in the
-- queue's slot: claim.lua's `<copy>:tat` and `<copy>:ktat:<type>`).
local old = redis.call('HKEYS', KEYS[12])
for _, field in ipairs(old) do
  local kind, t = string.sub(field, 1, 2), string.sub(field, 3)
  if kind == 'r:' and not kept[field] then redis.call('HDEL', KEYS[12] .. ':tat', t) end
  if kind == 's:' and not kept[field] then redis.call('DEL', KEYS[12] .. ':ktat:' .. t) end
end
redis.call('DEL', KEYS[12])
local fields = {'#v', ARGV[4]}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[12], unpack(fields))
return 1
