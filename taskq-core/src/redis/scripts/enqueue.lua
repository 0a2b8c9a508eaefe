-- ENQUEUE: the Lua of `ENQUEUE` in redis/scripts.rs, which documents its KEYS and ARGV.
local strict = ARGV[5] == 'strict'
local now = tonumber(ARGV[4])
local STATE_BITS = { PENDING = 1, RUNNING = 2, FINISHED = 4, FAILED = 8, CANCELLED = 16,
  WAITING = 32, EXPIRED = 64 }
-- `lifecycle::holds_unique`: the holder is in one of its unique states
-- and within its period. A gone (deleted, purged, expired) holder holds
-- nothing.
local function holds(record)
  local f = redis.call('HMGET', record, 'state', 'unique_states', 'unique_until')
  if not f[1] or not f[2] then return false end
  if bit.band(tonumber(f[2]), STATE_BITS[f[1]] or 0) == 0 then return false end
  return not f[3] or tonumber(f[3]) > now
end
-- lifecycle::fair_round: in a fair queue (KEYS[13] exists) each task
-- takes the later of its lane's next round and the queue's current one.
local fair = redis.call('HGET', KEYS[13], 'round')
-- The fair hash has its round whenever it exists: `index_move` need not look.
fair_queue = fair ~= false
-- lifecycle::HeldRounds::latest: the latest round a task of `lane` holds,
-- if not behind `current`, dropping the holds behind it.
local function held_latest(lane, current)
  local key, prefix = held_key(), held_prefix(lane)
  redis.call('ZREMRANGEBYLEX', key, '[' .. prefix, '(' .. prefix .. string.format('%016d', current))
  local top = redis.call('ZREVRANGEBYLEX', key, '(' .. prefix .. ':', '[' .. prefix,
    'LIMIT', 0, 1)[1]
  if not top then return nil end
  return tonumber(string.sub(top, #prefix + 1, #prefix + 16))
end
-- Lanes whose stored next round was checked by this call: the tasks
-- after the first of a lane take the rounds after it.
local owed = {}
-- The fair hash's fields per lane: 'l:<lane>' its next round, 's:<lane>'
-- how many of its tasks took its last round (lifecycle::fair_turn; 1
-- where missing); the weights are in the sibling hash KEYS[13]:weights,
-- field the lane (Broker::set_fair_weight), which outlives the fair hash.
local function take_round(key)
  local ck = redis.call('HGET', key, 'concurrency_key') or ''
  local lane = 'l:' .. ck
  local current = tonumber(fair)
  local f = redis.call('HMGET', KEYS[13], lane, 's:' .. ck)
  local next, shared = tonumber(f[1] or '0'), tonumber(f[2] or '1')
  if next > current and not owed[ck] then
    -- lifecycle::owed_next (and FairRounds::owe: a round held by fewer
    -- tasks than took it is not shared further)
    local latest = held_latest(ck, current)
    local owed_round = 0
    if latest then owed_round = math.min(next, latest + 1) end
    if owed_round ~= next then shared = 4294967295 end
    next = owed_round
  end
  owed[ck] = true
  local weight = tonumber(redis.call('HGET', KEYS[13] .. ':weights', ck) or '1')
  -- lifecycle::fair_turn
  local round
  if next > 0 and next - 1 >= math.max(current, 1) and shared < weight then
    round, shared = next - 1, shared + 1
  else
    round, shared = math.max(current, next, 1), 1
  end
  redis.call('HSET', KEYS[13], lane, int(round + 1), 's:' .. ck, int(shared))
  redis.call('HSET', key, 'fair_round', int(round))
  return int(round)
end
local due = false
local duplicates = {}
local position = 0
local i = 6
while i <= #ARGV do
  local lock, n = ARGV[i], tonumber(ARGV[i + 3])
  -- The record's expires_at and fair_round, as written ('': none).
  local deadline, round = ARGV[i + 1], ARGV[i + 2]
  if deadline == '' then deadline = false end
  -- The fields start with record::LEADING_FIELDS, whose values the
  -- script reads in place (@…@: their offsets from i).
  local id, t, state = ARGV[i + @ID@], ARGV[i + @TYPE@], ARGV[i + @STATE@]
  local created, at = ARGV[i + @CREATED@], ARGV[i + @SCHEDULED@]
  local key = ARGV[1] .. id
  local holder = false
  if lock ~= '' then
    -- A repeat of the key within this batch finds the first one's record,
    -- written just before.
    holder = redis.call('GET', lock)
    if holder and (holder == id or not holds(ARGV[1] .. holder)) then holder = false end
  end
  if holder then
    duplicates[#duplicates + 1] = position
    duplicates[#duplicates + 1] = holder
  elseif strict or redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, unpack(ARGV, i + 4, i + 3 + n))
    if fair then round = take_round(key) end
    if lock ~= '' then
      redis.call('SET', lock, id)
      -- Past its period the key is free whatever the holder's state.
      local until_us = redis.call('HGET', key, 'unique_until')
      if until_us then redis.call('PEXPIREAT', lock, int(math.ceil(tonumber(until_us) / 1000))) end
    end
    if state == 'WAITING' then
      -- A step waiting for its parents: indexed, not in ready or delayed.
      index_new(id, t, created, state, deadline)
    else
      index_new(id, t, created, 'PENDING', deadline)
      local prio, seq = ARGV[i + @PRIORITY@], ARGV[i + @SEQ@]
      if tonumber(at) > now then
        add_pending(id, prio, seq, at, ARGV[4], round)
      else
        -- Due now: into the ready set with the indexes, one ZADD a call
        -- (nothing in this script takes a member out of it).
        index_push(index_add, KEYS[1], 0, member(tonumber(prio), tonumber(seq), id, round))
        due = true
      end
    end
  end
  position = position + 1
  i = i + 4 + n
end
index_flush()
if due then wake() end
return duplicates
