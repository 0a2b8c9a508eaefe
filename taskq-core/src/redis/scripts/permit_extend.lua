-- PERMIT_EXTEND: the Lua of `PERMIT_EXTEND` in redis/permits.rs, which documents its KEYS and ARGV.
-- A permit a grant freed once its lease ended is not taken back: its slot
-- may be another task's now. Its task is lost (0); the caller leaves the
-- queue's lease alone, so the rescue moves the task on.
local out, keyed = {}, {}
for i = 2, #ARGV, 2 do
  local member, k = ARGV[i], ARGV[i + 1]
  local set = k ~= '' and (KEYS[1] .. ':key:' .. k) or nil
  -- Every permit is in the type's set; only a key limit's grant (or a
  -- rebuild under one) put it in its key's set too, so that one is
  -- extended where it is, not required.
  if redis.call('ZSCORE', KEYS[1], member) then
    redis.call('ZADD', KEYS[1], ARGV[1], member)
    if set and redis.call('ZADD', set, 'XX', 'CH', ARGV[1], member) == 1 then
      keyed[set] = true
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
for set in pairs(keyed) do expire_with_leases(set) end
return out
