-- RETRY: the Lua of `RETRY` in redis/scripts.rs, which documents its KEYS and ARGV.
local id = ARGV[4]
local key = ARGV[1] .. id
local f = redis.call('HMGET', key, 'state', 'attempt', 'max_retries', 'priority', 'task_type',
  'created_at', 'step')
if not f[1] then return {'missing'} end
if f[1] ~= 'FAILED' and f[1] ~= 'CANCELLED' and f[1] ~= 'EXPIRED' then
  return {'invalid', f[1]}
end
-- A workflow step is planned first (`lifecycle::plan_resume`, in
-- redis/workflow.rs): it may refuse, and resumes its dependents.
if ARGV[6] ~= '1' and f[7] then return {'step'} end
-- lifecycle::retry: afresh, without a deadline (dropped before the move
-- files one) or snoozes counted.
redis.call('HDEL', key, 'expires_at', 'snoozes')
index_move(id, f[5], f[6], f[1], 'PENDING')
index_flush()
redis.call('PERSIST', key)
redis.call('ZREM', KEYS[4], id)
redis.call('HSET', key, 'state', 'PENDING', 'scheduled_at', ARGV[5], 'seq', ARGV[5],
  'max_retries', int(math.max(tonumber(f[2]), tonumber(f[3]))))
redis.call('HDEL', key, 'finished_at', 'result', 'cancel_requested')
if add_pending(id, f[4], ARGV[5], ARGV[5], ARGV[5]) then wake() end
return {'ok', redis.call('HGETALL', key)}
