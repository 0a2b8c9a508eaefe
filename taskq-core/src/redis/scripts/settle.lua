-- SETTLE: the Lua of `SETTLE` in redis/scripts.rs, which documents its KEYS and ARGV.
local members = {}
for i = 5, #ARGV, 11 do members[#members + 1] = running_member(ARGV[i], ARGV[i + 1]) end
local held = zscores(KEYS[3], members)
-- A member settled earlier in this batch is no longer running: a repeat
-- is refused, as a settlement one at a time would be.
local settled = {}
local out, unrunning, done = {}, {}, {}
local due = false
local k = 0
for i = 5, #ARGV, 11 do
  k = k + 1
  if held[k] and not settled[members[k]] then
    settled[members[k]] = true
    local id, outcome, at, payload = ARGV[i], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local key = ARGV[1] .. id
    unrunning[#unrunning + 1] = members[k]
    local history_outcome = outcome
    if outcome == 'retry' then history_outcome = 'retried'
    elseif outcome == 'snooze' then history_outcome = 'snoozed' end
    local err = nil
    if outcome ~= 'finished' and outcome ~= 'snooze' then err = payload end
    local first = nil
    if ARGV[i + 9] ~= '' then first = {ARGV[i + 9], ARGV[i + 10]} end
    local h, hv, hn, hnv = end_attempt(key, ARGV[i + 1], history_outcome, at, err, first)
    if outcome == 'retry' or outcome == 'snooze' then
      local run_at = ARGV[i + 5]
      local f = redis.call('HMGET', key, 'priority', 'task_type', 'created_at')
      if outcome == 'retry' then
        redis.call('HSET', key, 'state', 'PENDING', 'error', payload,
          'scheduled_at', run_at, 'seq', run_at, h, hv, hn, hnv)
      else
        -- lifecycle::settle, Snooze: the attempt given back, one more snooze.
        redis.call('HSET', key, 'state', 'PENDING', 'scheduled_at', run_at, 'seq', run_at,
          h, hv, hn, hnv)
        redis.call('HINCRBY', key, 'attempt', -1)
        redis.call('HINCRBY', key, 'snoozes', 1)
      end
      redis.call('HDEL', key, 'cancel_requested')
      index_move(id, f[2], f[3], 'RUNNING', 'PENDING')
      if add_pending(id, f[1], run_at, run_at, at) then due = true end
    else
      local t, created, children = ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
      local step = false
      if t == '' then
        local f = redis.call('HMGET', key, 'task_type', 'created_at', 'step')
        t, created, step = f[1], f[2], f[3]
      elseif children == '1' then
        step = redis.call('HGET', key, 'step')
      end
      local state, field = 'FINISHED', 'result'
      if outcome == 'failed' then state, field = 'FAILED', 'error'
      elseif outcome == 'cancelled' then state, field = 'CANCELLED', 'error' end
      finish(key, state, at, ARGV[4], field, payload, h, hv, hn, hnv)
      index_move(id, t, created, 'RUNNING', state)
      steps_ended_here(id, step, state, at, at, ARGV[4])
      done[#done + 1] = at
      done[#done + 1] = id
    end
    out[k] = 1
  else
    out[k] = 0
  end
end
if #unrunning > 0 then zbulk('ZREM', KEYS[3], unrunning) end
if #done > 0 then zbulk('ZADD', KEYS[4], done) end
if arrivals_flush() then due = true end
index_flush()
if due then wake() end
return with_ended_steps(out)
