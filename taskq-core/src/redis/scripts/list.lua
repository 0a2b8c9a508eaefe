-- LIST: the Lua of `LIST` in redis/scripts.rs, which documents its KEYS and ARGV.
local min, max, state, t = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local skip, count = tonumber(ARGV[8]), tonumber(ARGV[9])
local out = {0}
-- lifecycle::has_tags, lifecycle::has_metadata and the schedule: read
-- from each candidate's hash.
local schedule, wanted, meta = ARGV[10] or '', {}, {}
if ARGV[11] and ARGV[11] ~= '' then meta = cjson.decode(ARGV[11]) end
for i = 12, #ARGV do wanted[#wanted + 1] = ',' .. ARGV[i] .. ',' end
local labels = schedule ~= '' or #wanted > 0 or #meta > 0
local function labelled(id)
  if not labels then return true end
  local f = redis.call('HMGET', ARGV[1] .. id, 'tags', 'schedule', 'metadata')
  if schedule ~= '' and f[2] ~= schedule then return false end
  for _, w in ipairs(wanted) do
    if not f[1] or not string.find(f[1], w, 1, true) then return false end
  end
  if #meta > 0 then
    if not f[3] then return false end
    local m = cjson.decode(f[3])
    -- Same JSON type and value: cjson gives strings, doubles, booleans
    -- and cjson.null, which compare as such.
    for _, p in ipairs(meta) do
      local v = m[p[1]]
      if v == nil or type(v) ~= type(p[2]) or v ~= p[2] then return false end
    end
  end
  return true
end
if state == 'RUNNING' then
  local lo, hi = -math.huge, math.huge
  if min ~= '-inf' then lo = tonumber(min) end
  if max ~= '+inf' then hi = tonumber(string.sub(max, 2)) end
  local found = {}
  for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    local id = running_task(m)
    local f = redis.call('HMGET', ARGV[1] .. id, 'created_at', 'task_type')
    local c = tonumber(f[1])
    if c and c >= lo and c < hi and (t == '' or f[2] == t) and labelled(id) then
      found[#found + 1] = {c, id, f[1]}
    end
  end
  table.sort(found, function(a, b)
    if a[1] ~= b[1] then return a[1] > b[1] end
    return a[2] > b[2]
  end)
  out[1] = #found
  for i = skip + 1, math.min(#found, skip + count) do
    out[#out + 1] = found[i][3]
    out[#out + 1] = found[i][2]
  end
  return out
end
local key = KEYS[5]
if state ~= '' and t ~= '' then key = state_type_key(state, t)
elseif state ~= '' then key = state_key(state)
elseif t ~= '' then key = type_key(t) end
if labels then
  -- Tags, metadata and schedules have no index: the window's members are read and
  -- filtered, newest first (the order of the ranked path below).
  local found = {}
  local members = redis.call('ZREVRANGEBYSCORE', key, max, min, 'WITHSCORES')
  for i = 1, #members, 2 do
    if labelled(members[i]) then
      found[#found + 1] = members[i + 1]
      found[#found + 1] = members[i]
    end
  end
  out[1] = #found / 2
  for i = skip + 1, math.min(#found / 2, skip + count) do
    out[#out + 1] = found[2 * i - 1]
    out[#out + 1] = found[2 * i]
  end
  return out
end
local total = redis.call('ZCOUNT', key, min, max)
out[1] = total
if count > 0 and skip < total then
  -- Newest first is descending rank; entries newer than the window
  -- come before it.
  local above = 0
  if max ~= '+inf' then above = redis.call('ZCOUNT', key, string.sub(max, 2), '+inf') end
  local first = above + skip
  local last = above + math.min(total, skip + count) - 1
  local page = redis.call('ZREVRANGE', key, int(first), int(last), 'WITHSCORES')
  for i = 1, #page, 2 do
    out[#out + 1] = page[i + 1]
    out[#out + 1] = page[i]
  end
end
return out
