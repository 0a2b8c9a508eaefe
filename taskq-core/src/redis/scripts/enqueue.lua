-- ENQUEUE: the Lua of `ENQUEUE` in redis/scripts.rs, which documents its KEYS and ARGV.
local strict = ARGV[5] == 'strict'
local due = false
local i = 6
while i <= #ARGV do
  local id, n = ARGV[i], tonumber(ARGV[i + 6])
  local key = ARGV[1] .. id
  if strict or redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, unpack(ARGV, i + 7, i + 6 + n))
    index_new(id, ARGV[i + 5], ARGV[i + 1])
    if add_pending(id, ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[4]) then due = true end
  end
  i = i + 7 + n
end
index_flush()
if due then wake() end
return 1
