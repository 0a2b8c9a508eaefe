-- PENDING_TYPES: the Lua of `PENDING_TYPES` in redis/scripts.rs, which documents its KEYS and ARGV.
local out = {}
for _, t in ipairs(redis.call('SMEMBERS', KEYS[8])) do
  local n = redis.call('ZCARD', state_type_key('PENDING', t))
  if n > 0 then
    out[#out + 1] = t
    out[#out + 1] = n
  end
end
return out
