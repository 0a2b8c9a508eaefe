-- CANCEL: the Lua of `CANCEL` in redis/scripts.rs, which documents its KEYS and ARGV.
local id = ARGV[4]
local key = ARGV[1] .. id
local state = redis.call('HGET', key, 'state')
if not state then return {'missing'} end
if state == 'PENDING' or state == 'WAITING' then
  -- A waiting step is in neither ready nor delayed set.
  if state == 'PENDING' then remove_pending(key, id) end
  finish(key, 'CANCELLED', ARGV[5], ARGV[7], 'error', ARGV[6])
  redis.call('ZADD', KEYS[4], ARGV[5], id)
  local f = redis.call('HMGET', key, 'task_type', 'created_at', 'step')
  index_move(id, f[1], f[2], state, 'CANCELLED')
  index_flush()
  -- The ends it counted matter only while it waits (redis/workflow.rs).
  if f[3] then redis.call('DEL', key .. ':arrived') end
  step_ended(id, f[3], 'CANCELLED', ARGV[5])
elseif state == 'RUNNING' then
  redis.call('HSET', key, 'cancel_requested', '1')
  redis.call('PUBLISH', ARGV[8], id)
else
  return {'invalid', state}
end
local attempt = redis.call('HGET', key, 'attempt') or ''
local lease = redis.call('ZSCORE', KEYS[3], running_member(id, attempt))
return with_ended_steps({'ok', redis.call('HGETALL', key), lease})
