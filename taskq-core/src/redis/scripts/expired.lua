-- EXPIRED: the Lua of `EXPIRED` in redis/scripts.rs, which documents its KEYS and ARGV.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[4], 'LIMIT', 0, ARGV[5])
local out = {}
for _, m in ipairs(expired) do
  local id = running_task(m)
  local f = redis.call('HMGET', ARGV[1] .. id, 'task_type', 'attempt', 'max_retries',
    'cancel_requested', 'concurrency_key')
  out[#out + 1] = m
  out[#out + 1] = f[1] or ''
  out[#out + 1] = f[2] or '0'
  out[#out + 1] = f[3] or '0'
  out[#out + 1] = f[4] or '0'
  out[#out + 1] = f[5] or ''
end
return out
