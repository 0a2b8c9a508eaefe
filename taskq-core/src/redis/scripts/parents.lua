-- PARENTS: the Lua of `PARENTS` in redis/scripts.rs, which documents its KEYS and ARGV.
local out = {}
for i = 4, #ARGV do
  local f = redis.call('HMGET', ARGV[1] .. ARGV[i], 'state', 'task_type', 'result', 'error',
    'step')
  if f[1] then
    -- The step's name; its JSON is decoded only for that (small but for
    -- a step with many parents).
    local name = false
    if f[5] then name = cjson.decode(f[5]).name end
    if type(name) ~= 'string' then name = false end
    out[#out + 1] = {ARGV[i], f[1], f[2], f[3], f[4], name}
  end
end
return out
