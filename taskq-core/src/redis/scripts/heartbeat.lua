-- HEARTBEAT: the Lua of `HEARTBEAT` in redis/scripts.rs, which documents its KEYS and ARGV.
local out = {}
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'attempt', 'worker_id', 'cancel_requested')
  if f[1] == 'RUNNING' and f[2] == ARGV[i + 1] and f[3] == ARGV[4] then
    redis.call('ZADD', KEYS[3], 'XX', ARGV[5], running_member(id, f[2]))
    if f[4] == '1' then out[#out + 1] = 2 else out[#out + 1] = 1 end
  else
    out[#out + 1] = 0
  end
end
return out
