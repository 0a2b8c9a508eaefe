-- LACKING: the Lua of `LACKING` in redis/delivery.rs, which documents its KEYS and ARGV.
local lacking = {}
for i = 4, #ARGV do
  local state = redis.call('HGET', ARGV[1] .. ARGV[i], 'state')
  if state ~= 'PENDING' and state ~= 'RUNNING' then lacking[#lacking + 1] = ARGV[i] end
end
return lacking
