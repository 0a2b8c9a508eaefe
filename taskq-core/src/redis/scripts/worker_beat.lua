-- BEAT: the Lua of `BEAT` in redis/workers.rs, which documents its KEYS and ARGV.
if ARGV[5] == 'register' then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'info', ARGV[2], 'state', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return redis.call('HGET', KEYS[1], 'requested')
