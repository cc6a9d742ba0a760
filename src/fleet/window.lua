-- One breaker's fleet window, kept server-side: a replica's publish and read in one call
-- of 3 Redis commands (HMGET, ZADD, HSET), whatever the number of replicas; once per
-- period fleet-wide the window slides (the slots that left it are subtracted, the dead
-- replicas' counts taken out), a few more.
--
-- KEYS: [1] w, one hash:
--         per slot s: cS fS sS (calls, failures, slow calls published in it), FS SS (the
--           replicas whose last failure, slow call, was in it);
--         c f s F S: the same summed over the window (F, S: replicas failing, slow);
--         lo: the window's first slot; now: the latest time seen (ms);
--         per replica: l:ID = "last failing slot, last slow slot", and a ring of its own
--           slots r:ID:(s % n) = "s calls failures slow": what leaves when it dies;
--       [2] hb, a sorted set: the replicas scored by the time of their last call.
-- ARGV: [1] replica id, [2] now (ms), [3] period (ms), [4] slots in the window (n),
--       [5] heartbeat ttl (ms), [6] calls, [7] failures, [8] slow calls (deltas since
--       the last call), [9] age (ms) of this replica's last close or -1, [10] the keys'
--       time to live (ms).
-- Returns {calls, failures, slow, replicas failing, replicas slow} over the window, or
-- over the slots after the one of the close. Garbage in a field counts as 0; a key of
-- another type is an error (WRONGTYPE) before anything is written.
local w, hb = KEYS[1], KEYS[2]
local function num(x) return tonumber(x) or 0 end
local id = ARGV[1]
local now = num(ARGV[2])
local period = math.max(1, num(ARGV[3]))
local n = math.max(1, num(ARGV[4]))
local ttl = num(ARGV[5])
local dc, df, ds = math.max(0, num(ARGV[6])), math.max(0, num(ARGV[7])),
  math.max(0, num(ARGV[8]))
local age = tonumber(ARGV[9]) or -1
local keep = ARGV[10]
local K = { 'c', 'f', 's', 'F', 'S' }
local CHUNK = 1000

-- HMGET or HDEL of many fields, in chunks (unpack's limit).
local function many(cmd, fields)
  local out = {}
  for i = 1, #fields, CHUNK do
    local part = redis.call(cmd, w, unpack(fields, i, math.min(#fields, i + CHUNK - 1)))
    if cmd == 'HMGET' then
      for j = 1, #part do out[#out + 1] = part[j] end
    end
  end
  return out
end

-- The numbers of a stored "a b ..." value (at most 4).
local function words(v)
  if not v then return {} end
  local a, b, c, d = string.match(v, '^(%S+) ?(%S*) ?(%S*) ?(%S*)')
  return { tonumber(a), tonumber(b), tonumber(c), tonumber(d) }
end

-- Reads first (a key of another type fails here): the totals, and the fields of the slot
-- this call writes, guessed from this replica's clock and read again if a peer's clock
-- was ahead. Failures and slow calls need their own fields only when there are some.
local publish = dc > 0 or df > 0 or ds > 0
local function slot_fields(cur)
  local f = { 'c' .. cur, 'r:' .. id .. ':' .. (cur % n), 'f' .. cur, 'F' .. cur, 's' .. cur,
    'S' .. cur }
  if ds > 0 then return f end
  f[5], f[6] = nil, nil
  if df > 0 then return f end
  f[3], f[4] = nil, nil
  return f
end
local fields = { 'now', 'lo', 'c', 'f', 's', 'F', 'S', 'l:' .. id }
local guess = math.floor(now / period)
if publish then
  for _, f in ipairs(slot_fields(guess)) do fields[#fields + 1] = f end
end
local v = redis.call('HMGET', w, unpack(fields))
-- The fleet's time never goes back: a replica whose clock is behind counts in the latest slot.
local stored = num(v[1])
now = math.max(now, stored)
local cur = math.floor(now / period)
local lo = cur - n + 1
local tot = { num(v[3]), num(v[4]), num(v[5]), num(v[6]), num(v[7]) }
local last = words(v[8])
-- here: this slot's c, ring, f, F, s, S (those read).
local here = { v[9], v[10], v[11], v[12], v[13], v[14] }
if publish and guess ~= cur then
  here = redis.call('HMGET', w, unpack(slot_fields(cur)))
end
redis.call('ZADD', hb, now, id)

local wlo = tonumber(v[2])
local slid = wlo == nil or wlo < lo
if slid then
  -- The slots below lo leave the totals.
  if wlo ~= nil then
    local names = {}
    for s = wlo, math.min(lo - 1, wlo + n - 1) do
      for i = 1, 5 do names[#names + 1] = K[i] .. s end
    end
    if lo - wlo >= n then
      tot = { 0, 0, 0, 0, 0 }
    else
      local old = many('HMGET', names)
      for j = 1, #names do
        local i = (j - 1) % 5 + 1
        tot[i] = tot[i] - num(old[j])
      end
    end
    many('HDEL', names)
  end
  -- Replicas whose heartbeat is a ttl old: their counts in the window leave it.
  for _, d in ipairs(redis.call('ZRANGEBYSCORE', hb, '-inf', now - ttl)) do
    if d ~= id then
      local mine = { 'l:' .. d }
      for k = 0, n - 1 do mine[#mine + 1] = 'r:' .. d .. ':' .. k end
      local got = many('HMGET', mine)
      local sub = {}
      local dl = words(got[1])
      for i = 1, 2 do
        local s = dl[i]
        if s and s >= lo and s <= cur then
          sub[#sub + 1] = { K[i + 3] .. s, 1 }
          tot[i + 3] = tot[i + 3] - 1
        end
      end
      for j = 2, #got do
        local p = words(got[j])
        local s = p[1]
        if s and s >= lo and s <= cur then
          for i = 1, 3 do
            local x = p[i + 1] or 0
            if x ~= 0 then
              sub[#sub + 1] = { K[i] .. s, x }
              tot[i] = tot[i] - x
            end
          end
        end
      end
      if #sub > 0 then
        local names = {}
        for j = 1, #sub do names[j] = sub[j][1] end
        local vals = many('HMGET', names)
        local set = {}
        for j = 1, #sub do
          set[#set + 1] = sub[j][1]
          set[#set + 1] = num(vals[j]) - sub[j][2]
        end
        redis.call('HSET', w, unpack(set))
      end
      many('HDEL', mine)
    end
    redis.call('ZREM', hb, d)
  end
end

-- This replica's deltas, and one HSET of everything that changed.
local set = {}
local changed = { slid, slid, slid, slid, slid }
if publish then
  local delta = { dc, df, ds }
  local cs = { num(here[1]) + dc, num(here[3]) + df, num(here[5]) + ds, num(here[4]),
    num(here[6]) }
  for i = 1, 3 do
    if delta[i] > 0 then
      tot[i] = tot[i] + delta[i]
      changed[i] = true
      set[#set + 1] = K[i] .. cur
      set[#set + 1] = cs[i]
    end
  end
  -- The replicas failing (slow) in the window: this one's last failing slot moves to cur.
  local moved = false
  for i = 1, 2 do
    local s = last[i]
    if delta[i + 1] > 0 and s ~= cur then
      if s and s >= lo and s < cur then
        set[#set + 1] = K[i + 3] .. s
        set[#set + 1] = num(redis.call('HGET', w, K[i + 3] .. s)) - 1
      else
        tot[i + 3] = tot[i + 3] + 1
        changed[i + 3] = true
      end
      set[#set + 1] = K[i + 3] .. cur
      set[#set + 1] = cs[i + 3] + 1
      last[i] = cur
      moved = true
    end
  end
  if moved then
    set[#set + 1] = 'l:' .. id
    set[#set + 1] = (last[1] or -1) .. ' ' .. (last[2] or -1)
  end
  local own = words(here[2])
  if own[1] ~= cur then own = { cur, 0, 0, 0 } end
  set[#set + 1] = 'r:' .. id .. ':' .. (cur % n)
  set[#set + 1] = cur .. ' ' .. ((own[2] or 0) + dc) .. ' ' .. ((own[3] or 0) + df) .. ' '
    .. ((own[4] or 0) + ds)
end
for i = 1, 5 do
  if changed[i] then
    set[#set + 1] = K[i]
    set[#set + 1] = tot[i]
  end
end
if now > stored then
  set[#set + 1] = 'now'
  set[#set + 1] = now
end
if slid then
  set[#set + 1] = 'lo'
  set[#set + 1] = lo
end
if #set > 0 then redis.call('HSET', w, unpack(set)) end
if slid then
  redis.call('PEXPIRE', w, keep)
  redis.call('PEXPIRE', hb, keep)
end

-- The read: the totals, or the slots after this replica's last close.
local from = lo
if age >= 0 then from = math.max(lo, math.floor((now - age) / period) + 1) end
local sum = tot
if from > lo then
  sum = { 0, 0, 0, 0, 0 }
  local names = {}
  for s = from, cur do
    for i = 1, 5 do names[#names + 1] = K[i] .. s end
  end
  local got = many('HMGET', names)
  for j = 1, #names do
    local i = (j - 1) % 5 + 1
    sum[i] = sum[i] + num(got[j])
  end
end
return { math.max(0, sum[1]), math.max(0, sum[2]), math.max(0, sum[3]),
  math.max(0, sum[4]), math.max(0, sum[5]) }
