-- RUNNING_TYPES: the Lua of `RUNNING_TYPES` in redis/scripts.rs, which documents its KEYS and ARGV.
local counts, keyed, types, keys = {}, {}, {}, {}
local n = tonumber(ARGV[4])
for i = 5, 4 + n do keyed[ARGV[i]] = true end
for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local r = redis.call('HMGET', ARGV[1] .. running_task(m), 'task_type', 'concurrency_key')
  local t, k = r[1], r[2]
  if t then counts[t] = (counts[t] or 0) + 1 end
  if t and k and keyed[t] then
    local tk = t .. '\0' .. k
    keys[tk] = (keys[tk] or 0) + 1
  end
end
for t, n in pairs(counts) do
  types[#types + 1] = t
  types[#types + 1] = n
end
local per_key = {}
for tk, n in pairs(keys) do
  local at = string.find(tk, '\0', 1, true)
  per_key[#per_key + 1] = string.sub(tk, 1, at - 1)
  per_key[#per_key + 1] = string.sub(tk, at + 1)
  per_key[#per_key + 1] = n
end
return {types, per_key}
