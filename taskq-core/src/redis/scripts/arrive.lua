-- ARRIVE: the Lua of `ARRIVE` in redis/scripts.rs, which documents its KEYS and ARGV.
-- `lifecycle::parent_ended`, once per end (steps.lua); a child it
-- cancels carries its own end on at once (`steps_ended_here`).
local out = {}
for i = 6, #ARGV, 4 do
  local child, parent, state, at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local code, step = parent_ended_here(child, parent, state, at, ARGV[4], ARGV[5])
  -- The caller announces a child cancelled here (code 3); the
  -- ones its end cancels in turn are listed in the reply.
  if code == 3 then
    steps_ended_here(child, step, 'CANCELLED', at, ARGV[4], ARGV[5])
  end
  out[#out + 1] = math.max(code, 0)
end
local due = arrivals_flush()
index_flush()
if due then wake() end
return with_ended_steps(out)
