-- PUSH: the Lua of `PUSH` in redis/delivery.rs, which documents its KEYS and ARGV.
local pushed, due = 0, false
local i = 5
while i <= #ARGV do
  local id, n = ARGV[i], tonumber(ARGV[i + 6])
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'task_type', 'created_at')
  local state = f[1]
  if state ~= 'PENDING' and state ~= 'RUNNING' then
    if state then
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[4], id)
      index_drop(id, f[2], f[3], state)
    end
    redis.call('HSET', key, unpack(ARGV, i + 7, i + 6 + n))
    index_new(id, ARGV[i + 5], ARGV[i + 1])
    if add_pending(id, ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[4]) then due = true end
    pushed = pushed + 1
  end
  i = i + 7 + n
end
index_flush()
if due then wake() end
return pushed
