-- TYPE_LIMIT_SET: the Lua of `TYPE_LIMIT_SET` in redis/type_limits.rs, which documents its KEYS and ARGV.
-- The new version: above the last, and at least the server's clock in µs,
-- so a hash lost and written afresh still outranks the queues' old copies.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local version = math.max(tonumber(redis.call('HGET', KEYS[1], '#v') or '0') + 1, now)
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('HSET', KEYS[1], '#v', string.format('%.0f', version))
return redis.call('HGETALL', KEYS[1])
