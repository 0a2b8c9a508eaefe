-- RESUME: the Lua of `RESUME` in redis/scripts.rs, which documents its KEYS and ARGV.
-- `lifecycle::apply_resume`, each change checked against the state it
-- expects, so applying a plan twice changes nothing the second time.
local out = {}
local i = 4
while i <= #ARGV do
  local kind, id = ARGV[i], ARGV[i + 1]
  local key = ARGV[1] .. id
  local arrived = key .. ':arrived'
  local f = redis.call('HMGET', key, 'state', 'error', 'task_type', 'created_at')
  local applied = 0
  if kind == 'rewait' then
    local waiting, n = ARGV[i + 2], tonumber(ARGV[i + 3])
    if f[1] == 'CANCELLED' and f[2] and cjson.decode(f[2]).kind == 'parent_failed' then
      redis.call('PERSIST', key)
      redis.call('ZREM', KEYS[4], id)
      redis.call('HSET', key, 'state', 'WAITING', 'waiting', waiting)
      redis.call('HDEL', key, 'finished_at', 'error')
      index_move(id, f[3], f[4], 'CANCELLED', 'WAITING')
      -- The parents' ends the count already reflects: hearing of one
      -- of them again changes nothing.
      redis.call('DEL', arrived)
      local tokens = {}
      for j = i + 4, i + 3 + n do tokens[#tokens + 1] = ARGV[j] end
      if n > 0 then zbulk('SADD', arrived, tokens) end
      applied = 1
    end
    i = i + 4 + n
  else
    -- 'count': the retried step's end (its token) counts again.
    if f[1] == 'WAITING' and redis.call('SREM', arrived, ARGV[i + 2]) == 1 then
      redis.call('HINCRBY', key, 'waiting', 1)
      applied = 1
    end
    i = i + 3
  end
  out[#out + 1] = applied
end
index_flush()
return out
