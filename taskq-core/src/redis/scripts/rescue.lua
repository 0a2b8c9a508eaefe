-- RESCUE: the Lua of `RESCUE` in redis/scripts.rs, which documents its KEYS and ARGV.
local requeued, failed, cancelled = 0, 0, 0
for i = 6, #ARGV, 2 do
  local m, retry_at = ARGV[i], ARGV[i + 1]
  local lease = redis.call('ZSCORE', KEYS[3], m)
  if lease and tonumber(lease) < tonumber(ARGV[4]) then
    redis.call('ZREM', KEYS[3], m)
    local id, attempt = running_task(m)
    local key = ARGV[1] .. id
    local f = redis.call('HMGET', key, 'state', 'attempt', 'max_retries', 'cancel_requested',
      'worker_id', 'priority', 'seq', 'task_type', 'created_at', 'step')
    if f[1] == 'RUNNING' and (not attempt or attempt == f[2]) then
      local message = 'worker `' .. (f[5] or '') .. '` stopped renewing its lease'
      if f[4] == '1' then
        local err = cjson.encode({kind = 'cancelled', message = message})
        finish(key, 'CANCELLED', ARGV[4], ARGV[5], 'error', err,
          end_attempt(key, f[2], 'cancelled', ARGV[4], err))
        redis.call('ZADD', KEYS[4], ARGV[4], id)
        index_move(id, f[8], f[9], 'RUNNING', 'CANCELLED')
        step_ended(id, f[10], 'CANCELLED', ARGV[4])
        cancelled = cancelled + 1
      elseif retry_at == '-' then
        local err = cjson.encode({kind = 'lease_expired', message = message})
        finish(key, 'FAILED', ARGV[4], ARGV[5], 'error', err,
          end_attempt(key, f[2], 'failed', ARGV[4], err))
        redis.call('ZADD', KEYS[4], ARGV[4], id)
        index_move(id, f[8], f[9], 'RUNNING', 'FAILED')
        step_ended(id, f[10], 'FAILED', ARGV[4])
        failed = failed + 1
      else
        local err = cjson.encode({kind = 'lease_expired', message = message})
        local h, hv, hn, hnv = end_attempt(key, f[2], 'retried', ARGV[4], err)
        redis.call('HSET', key, 'state', 'PENDING', 'scheduled_at', retry_at, 'seq', retry_at,
          'error', err, h, hv, hn, hnv)
        index_move(id, f[8], f[9], 'RUNNING', 'PENDING')
        add_pending(id, f[6], retry_at, retry_at, ARGV[4])
        requeued = requeued + 1
      end
    end
  end
end
index_flush()
if requeued > 0 then wake() end
return with_ended_steps({requeued, failed, cancelled})
