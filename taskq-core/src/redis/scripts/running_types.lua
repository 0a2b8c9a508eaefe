-- RUNNING_TYPES: the Lua of `RUNNING_TYPES` in redis/scripts.rs, which documents its KEYS and ARGV.
local counts, out = {}, {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local t = redis.call('HGET', ARGV[1] .. running_task(m), 'task_type')
  if t then counts[t] = (counts[t] or 0) + 1 end
end
for t, n in pairs(counts) do
  out[#out + 1] = t
  out[#out + 1] = n
end
return out
