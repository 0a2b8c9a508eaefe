-- ARRIVE: the Lua of `ARRIVE` in redis/scripts.rs, which documents its KEYS and ARGV.
-- `lifecycle::parent_ended`, once per end: the end's token joins the
-- child's arrived set, and only a token new to it counts.
local out, done = {}, {}
local due = false
for i = 6, #ARGV, 5 do
  local child, parent, state, at, err = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local key = ARGV[1] .. child
  local arrived = key .. ':arrived'
  -- O(1) in the child's number of parents: its step JSON (which lists
  -- them) is read only to cancel it.
  local f = redis.call('HMGET', key, 'state', 'waiting', 'runs', 'priority', 'task_type',
    'created_at')
  local code = 0
  if f[1] == 'WAITING' and redis.call('SADD', arrived, parent .. ':' .. at) == 1 then
    local waiting = math.max(tonumber(f[2] or '1') - 1, 0)
    if state ~= 'FINISHED' and f[3] ~= 'completed' then
      finish(key, 'CANCELLED', at, ARGV[5], 'error', err)
      redis.call('HSET', key, 'waiting', int(waiting))
      redis.call('DEL', arrived)
      index_move(child, f[5], f[6], 'WAITING', 'CANCELLED')
      done[#done + 1] = at
      done[#done + 1] = child
      step_ended(child, redis.call('HGET', key, 'step'), 'CANCELLED', at)
      code = 3
    elseif waiting > 0 then
      redis.call('HSET', key, 'waiting', int(waiting))
      code = 1
    else
      redis.call('HSET', key, 'state', 'PENDING', 'waiting', '0', 'scheduled_at', at, 'seq', at)
      redis.call('DEL', arrived)
      index_move(child, f[5], f[6], 'WAITING', 'PENDING')
      if add_pending(child, f[4], at, at, ARGV[4]) then due = true end
      code = 2
    end
  end
  out[#out + 1] = code
end
if #done > 0 then zbulk('ZADD', KEYS[4], done) end
index_flush()
if due then wake() end
return with_ended_steps(out)
