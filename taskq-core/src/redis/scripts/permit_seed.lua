-- PERMIT_SEED: the Lua of `PERMIT_SEED` in redis/permits.rs, which documents its KEYS and ARGV.
local keyed = {}
for i = 1, #ARGV, 3 do
  local member, lease, k = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  -- A permit already there (a grant, or a racing seed) keeps its lease.
  if not redis.call('ZSCORE', KEYS[1], member) then redis.call('ZADD', KEYS[1], lease, member) end
  if k ~= '' then
    local set = KEYS[1] .. ':key:' .. k
    if not redis.call('ZSCORE', set, member) then redis.call('ZADD', set, lease, member) end
    keyed[set] = true
  end
end
for set in pairs(keyed) do expire_with_leases(set) end
redis.call('SET', KEYS[4], '1')
return 1
