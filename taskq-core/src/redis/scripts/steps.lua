-- STEPS: `lifecycle::parent_ended` inside a queue's slot, for the scripts
-- that carry a step's end (`SETTLE`, `ARRIVE`; see "Workflow steps" in
-- redis/scripts.rs). Follows helpers.lua.
--
-- `lifecycle::parent_failure`'s error JSON (its text filled in from Rust).
local function parent_failure(parent, state)
  return @PARENT_FAILURE_HEAD@ .. parent .. @PARENT_FAILURE_MID@ .. state
    .. @PARENT_FAILURE_TAIL@
end
-- Cancelled children for the done set (score, id pairs), and whether a
-- released child is due now: the caller writes them (`arrivals_flush`).
local arrived_done, arrived_due = {}, false
-- One parent's end at one child of this queue: the end's token joins the
-- child's arrived set, and only a token new to it counts. O(1) in the
-- child's number of parents: its step JSON (which lists them) is read
-- only to cancel it. Returns -1 when this queue holds no such record (the
-- child lives in another queue, or is gone), else 0 (ignored: not
-- waiting, or heard before), 1 (counted), 2 (released) or 3 (cancelled;
-- then the child's step JSON too, for its own children).
local function parent_ended_here(child, parent, state, at, now, retention)
  local key = ARGV[1] .. child
  local f = redis.call('HMGET', key, 'state', 'waiting', 'runs', 'priority', 'task_type',
    'created_at')
  if not f[1] then return -1 end
  local arrived = key .. ':arrived'
  if f[1] ~= 'WAITING' or redis.call('SADD', arrived, parent .. ':' .. at) == 0 then
    return 0
  end
  local waiting = math.max(tonumber(f[2] or '1') - 1, 0)
  if state ~= 'FINISHED' and f[3] ~= 'completed' then
    finish(key, 'CANCELLED', at, retention, 'error', parent_failure(parent, state))
    redis.call('HSET', key, 'waiting', int(waiting))
    redis.call('DEL', arrived)
    index_move(child, f[5], f[6], 'WAITING', 'CANCELLED')
    arrived_done[#arrived_done + 1] = at
    arrived_done[#arrived_done + 1] = child
    return 3, redis.call('HGET', key, 'step')
  elseif waiting > 0 then
    redis.call('HSET', key, 'waiting', int(waiting))
    return 1
  end
  redis.call('HSET', key, 'state', 'PENDING', 'waiting', '0', 'scheduled_at', at, 'seq', at)
  redis.call('DEL', arrived)
  index_move(child, f[5], f[6], 'WAITING', 'PENDING')
  if add_pending(child, f[4], at, at, now) then arrived_due = true end
  return 2
end
-- `lifecycle::ended_edges`, in the script that ends the step (`step` its
-- JSON; false or nil for a plain task): its children in this queue hear
-- of the end here, atomically with it, so a chord whose callback shares
-- its members' queue costs no round trip per member. The others (another
-- queue, so maybe another slot) get an outbox entry, as `step_ended`
-- writes. A child this cancels ends in turn, the same way; each is
-- listed in `ended_steps` as the pair `<id>`, `CANCELLED` (no `:`, no
-- children: nothing to carry, only to announce).
local function steps_ended_here(id, step, state, at, now, retention)
  -- A plain task (no step) ends nothing else: no tables for it.
  if not step then return end
  local ends = {{id, step, state}}
  while #ends > 0 do
    local e = table.remove(ends)
    local children = e[2] and cjson.decode(e[2]).children
    if type(children) == 'table' and #children > 0 then
      local away = {}
      for _, child in ipairs(children) do
        local code, child_step = parent_ended_here(child, e[1], e[3], at, now, retention)
        if code == -1 then
          away[#away + 1] = child
        elseif code == 3 then
          ended_steps[#ended_steps + 1] = child
          ended_steps[#ended_steps + 1] = 'CANCELLED'
          ends[#ends + 1] = {child, child_step, 'CANCELLED'}
        end
      end
      if #away > 0 then
        local field = e[1] .. ':' .. at
        local value = e[3] .. ' ' .. table.concat(away, ' ')
        redis.call('HSET', KEYS[9], field, value)
        ended_steps[#ended_steps + 1] = field
        ended_steps[#ended_steps + 1] = value
      end
    end
  end
end
-- Writes what the arrivals left to the caller; true when a released
-- child is due now (the caller wakes the workers once).
local function arrivals_flush()
  if #arrived_done > 0 then zbulk('ZADD', KEYS[4], arrived_done) end
  arrived_done = {}
  local due = arrived_due
  arrived_due = false
  return due
end
