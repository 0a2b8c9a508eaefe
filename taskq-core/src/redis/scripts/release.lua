-- RELEASE: the Lua of `RELEASE` in redis/scripts.rs, which documents its KEYS and ARGV.
local due = false
for i = 8, #ARGV, 2 do
  local id = ARGV[i]
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'attempt', 'worker_id', 'priority', 'seq',
    'scheduled_at', 'task_type', 'created_at', 'cancel_requested', 'step')
  if f[1] == 'RUNNING' and f[2] == ARGV[i + 1] and f[3] == ARGV[4] then
    redis.call('ZREM', KEYS[3], running_member(id, f[2]))
    if f[9] == '1' then
      finish(key, 'CANCELLED', ARGV[5], ARGV[6], 'error', ARGV[7],
        end_attempt(key, f[2], 'cancelled', ARGV[5], ARGV[7]))
      redis.call('HDEL', key, 'cancel_requested')
      redis.call('ZADD', KEYS[4], ARGV[5], id)
      index_move(id, f[7], f[8], 'RUNNING', 'CANCELLED')
      step_ended(id, f[10], 'CANCELLED', ARGV[5])
    else
      local h, hv, hn, hnv = end_attempt(key, f[2], 'released', ARGV[5], nil)
      redis.call('HSET', key, 'state', 'PENDING', 'attempt', int(tonumber(f[2]) - 1),
        h, hv, hn, hnv)
      index_move(id, f[7], f[8], 'RUNNING', 'PENDING')
      if add_pending(id, f[4], f[5], f[6], ARGV[5]) then due = true end
    end
  end
end
index_flush()
if due then wake() end
return ended_steps
