-- EXPIRE: the Lua of `EXPIRE` in redis/scripts.rs, which documents its KEYS and ARGV.
local now = ARGV[4]
local ids = redis.call('ZRANGEBYSCORE', deadline_key(), '-inf', now, 'LIMIT', 0, ARGV[6])
local expired = 0
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'task_type', 'created_at', 'step', 'expires_at')
  if f[1] == 'PENDING' and f[5] and tonumber(f[5]) <= tonumber(now) then
    remove_pending(key, id)
    expire_pending(id, key, f[2], f[3], f[4], now, ARGV[5])
    expired = expired + 1
  else
    -- Stale: the task left PENDING, or its record is gone.
    redis.call('ZREM', deadline_key(), id)
  end
end
index_flush()
return with_ended_steps({expired})
