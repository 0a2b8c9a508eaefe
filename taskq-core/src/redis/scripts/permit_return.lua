-- PERMIT_RETURN: the Lua of `PERMIT_RETURN` in redis/permits.rs, which documents its KEYS and ARGV.
-- ARGV[1]: '' returns every permit named; a time (µs) only those whose
-- lease ended before it (a rescued task's: a heartbeat that renewed the
-- lease moved its permit first, so it stays).
local before = tonumber(ARGV[1])
local function take(set, member)
  if before then
    local score = redis.call('ZSCORE', set, member)
    if not score or tonumber(score) >= before then return end
  end
  redis.call('ZREM', set, member)
end
for i = 2, #ARGV, 2 do
  take(KEYS[1], ARGV[i])
  if ARGV[i + 1] ~= '' then take(KEYS[1] .. ':key:' .. ARGV[i + 1], ARGV[i]) end
end
return 1
