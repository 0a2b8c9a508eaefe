-- RUNNING_PERMITS: the Lua of `RUNNING_PERMITS` in redis/permits.rs, which documents its KEYS and ARGV.
local out = {}
local members = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  local id, attempt = running_task(members[i])
  local r = redis.call('HMGET', ARGV[1] .. id, 'task_type', 'concurrency_key', 'attempt')
  if r[1] == ARGV[4] then
    out[#out + 1] = running_member(id, attempt or r[3])
    out[#out + 1] = members[i + 1]
    out[#out + 1] = r[2] or ''
  end
end
return out
