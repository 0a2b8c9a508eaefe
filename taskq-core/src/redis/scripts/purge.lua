-- PURGE: the Lua of `PURGE` in redis/scripts.rs, which documents its KEYS and ARGV.
local wanted = {}
for i = 7, #ARGV do wanted[ARGV[i]] = true end
local ids = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[4],
  'LIMIT', ARGV[5], ARGV[6])
local skipped, deleted = 0, 0
local gone = {}
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'state', 'task_type', 'created_at')
  local state = f[1]
  if state and not wanted[state] and is_terminal(state) then
    skipped = skipped + 1
  else
    redis.call('ZREM', KEYS[4], id)
    if is_terminal(state) then
      redis.call('DEL', key)
      deleted = deleted + 1
    end
    if state ~= 'PENDING' and state ~= 'RUNNING' and state ~= 'WAITING' then
      index_drop(id, f[2], f[3], state)
      gone[#gone + 1] = id
    else
      -- Live again under the same id (pushed anew after it expired): the
      -- ended copy's index entries are stale.
      for _, s in ipairs(TERMINAL) do index_move(id, f[2], f[3], s, nil) end
    end
  end
end
index_flush()
if #gone > 0 then
  -- Types whose last entry went leave the set of indexed types.
  for _, t in ipairs(redis.call('SMEMBERS', KEYS[8])) do
    if redis.call('EXISTS', type_key(t)) == 0 then redis.call('SREM', KEYS[8], t) end
  end
end
local out = {#ids, skipped, deleted}
for _, id in ipairs(gone) do out[#out + 1] = id end
return out
