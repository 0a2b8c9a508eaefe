-- REORDER: the Lua of `REORDER` in redis/scripts.rs, which documents its KEYS and ARGV.
local id = ARGV[4]
local key = ARGV[1] .. id
local f = redis.call('HMGET', key, 'state', 'priority', 'seq', 'fair_round')
if not f[1] then return {'missing'} end
if f[1] ~= 'PENDING' then return {'invalid', f[1]} end
local prio, seq, round = tonumber(f[2]), tonumber(f[3]), tonumber(f[4]) or 0
local target
if ARGV[5] == 'before' then
  target = ARGV[6]
  if target == id then return {'target_self'} end
  local t = redis.call('HMGET', ARGV[1] .. target, 'state', 'priority', 'seq', 'fair_round')
  if not t[1] then return {'target_missing'} end
  if t[1] ~= 'PENDING' then return {'target_invalid', t[1]} end
  target = {tonumber(t[2]), tonumber(t[3]), target, tonumber(t[4]) or 0}
end
-- The set holding the task: ready when due, else the delayed order.
local home = KEYS[1]
if redis.call('ZREM', KEYS[1], member(prio, seq, id, round)) == 0 then
  home = KEYS[7]
  redis.call('ZREM', KEYS[7], member(prio, seq, id, round))
end
-- The first (or last) member over both sets.
local function edge(index, better)
  local a = redis.call('ZRANGE', KEYS[1], index, index)[1]
  local b = redis.call('ZRANGE', KEYS[7], index, index)[1]
  if a and b then
    if better(a, b) then return a else return b end
  end
  return a or b
end
-- The member just before `m` over both sets, and its set.
local function before(m)
  local a = redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. m, '-', 'LIMIT', 0, 1)[1]
  local b = redis.call('ZREVRANGEBYLEX', KEYS[7], '(' .. m, '-', 'LIMIT', 0, 1)[1]
  if a and (not b or a > b) then return a, KEYS[1] end
  return b, KEYS[7]
end
if ARGV[5] == 'front' then
  local first = edge(0, function(a, b) return a < b end)
  if first then
    -- lifecycle::reorder: the first group (priority and round) of the top.
    local p, s, _, r = decode(first)
    if p >= prio then prio, seq, round = p, s - 1, r end
  end
elseif ARGV[5] == 'back' then
  local last = edge(-1, function(a, b) return a > b end)
  if last then
    local p, s, _, r = decode(last)
    if p <= prio then prio, seq, round = p, s + 1, r end
  end
else
  local tp, ts, tr = target[1], target[2], target[4]
  prio, round = tp, tr
  local bound = member(tp, ts, target[3], tr)
  local pred = before(bound)
  local pp, ps, pid, pr
  if pred then pp, ps, pid, pr = decode(pred) end
  seq = ts - 1
  if pred and pp == tp and pr == tr and ts - ps >= 2 then
    seq = ps + math.floor((ts - ps) / 2)
  elseif pred and pp == tp and pr == tr then
    -- No room: every task of the target's group (priority and round)
    -- ahead of it moves 2 earlier, keeping their order and freeing the
    -- seq before the target.
    local low = '[' .. group_prefix(tp, tr)
    for _, set in ipairs({KEYS[1], KEYS[7]}) do
      for _, m in ipairs(redis.call('ZRANGEBYLEX', set, low, '(' .. bound)) do
        local cp, cs, cid, cr = decode(m)
        redis.call('ZREM', set, m)
        redis.call('HSET', ARGV[1] .. cid, 'seq', int(cs - 2))
        redis.call('ZADD', set, 0, member(cp, cs - 2, cid, cr))
      end
    end
  end
end
-- The task's hold (lifecycle::HeldRounds) moves with its round.
held_move(id, 'PENDING', nil)
redis.call('HSET', key, 'priority', int(prio), 'seq', int(seq))
if round > 0 then
  redis.call('HSET', key, 'fair_round', int(round))
else
  redis.call('HDEL', key, 'fair_round')
end
redis.call('ZADD', home, 0, member(prio, seq, id, round))
held_move(id, nil, 'PENDING')
return {'ok', redis.call('HGETALL', key)}
