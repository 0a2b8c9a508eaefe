-- DELETE: the Lua of `DELETE` in redis/scripts.rs, which documents its KEYS and ARGV.
local id = ARGV[4]
local key = ARGV[1] .. id
local state = redis.call('HGET', key, 'state')
if not state then return {'missing'} end
if not is_terminal(state) then
  return {'invalid', state}
end
local fields = redis.call('HGETALL', key)
local f = redis.call('HMGET', key, 'task_type', 'created_at')
redis.call('DEL', key)
redis.call('ZREM', KEYS[4], id)
index_drop(id, f[1], f[2], state)
index_flush()
return {'ok', fields}
