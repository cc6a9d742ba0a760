-- One breaker's fleet window, kept server-side: a replica's publish and read in one call,
-- O(1) in the number of replicas and, amortized, in the window's periods (about 13 Redis
-- commands in a call, a dozen more once per period fleet-wide when the window slides).
--
-- KEYS: [1] w  the fleet's slot totals (fields cSLOT fSLOT sSLOT), rolling totals (c f s),
--              the lowest slot in them (lo) and the latest time seen (now);
--       [2] r  this replica's own slots, a ring of `n` fields (kSLOT%n = "SLOT c f s"):
--              what is subtracted when it dies;
--       [3] fz replicas with failures, scored by their last failing slot;
--       [4] sz the same for slow calls;
--       [5] hb heartbeats: replicas scored by the time of their last call.
-- ARGV: [1] replica id, [2] now (ms), [3] period (ms), [4] slots in the window (n),
--       [5] heartbeat ttl (ms), [6] calls, [7] failures, [8] slow calls (deltas),
--       [9] age (ms) of this replica's last close, or -1, [10] the prefix of the replicas'
--       own keys (r = prefix .. id), [11] keys' time to live (ms).
-- Returns {calls, failures, slow, replicas failing, replicas slow} over the window (or
-- over the slots after the close). Garbage in a field counts as 0; a key of another type
-- is a WRONGTYPE error before anything is written.
local w, r, fz, sz, hb = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local function num(x) return tonumber(x) or 0 end
local KINDS = { 'c', 'f', 's' }

local id = ARGV[1]
local period, n, ttl = math.max(1, num(ARGV[3])), math.max(1, num(ARGV[4])), num(ARGV[5])
local delta = { c = num(ARGV[6]), f = num(ARGV[7]), s = num(ARGV[8]) }
local age, rprefix, keep = num(ARGV[9]), ARGV[10], ARGV[11]

-- Reads first: a key of another type fails here, before anything is written.
local wv = redis.call('HMGET', w, 'now', 'lo', 'c', 'f', 's')
local stored = num(wv[1])
-- The fleet's time never goes back: a replica whose clock is behind counts in the latest slot.
local now = math.max(num(ARGV[2]), stored)
local cur = math.floor(now / period)
local lo = cur - n + 1
local ring = 'k' .. (cur % n)
local mine = redis.call('HGET', r, ring)
for _, k in ipairs({ fz, sz }) do
  local t = redis.call('TYPE', k).ok
  if t ~= 'none' and t ~= 'zset' then
    return redis.error_reply('WRONGTYPE ' .. k .. ' holds a ' .. t)
  end
end
local dead = redis.call('ZRANGEBYSCORE', hb, '-inf', now - ttl)
local tot = { c = num(wv[3]), f = num(wv[4]), s = num(wv[5]) }

-- Adds v to a counter field; a field that is not an integer restarts from v. (A zero is
-- skipped: Lua's -0 is "-0", which HINCRBY refuses.)
local function incr(key, field, v)
  if v == 0 then return end
  local res = redis.pcall('HINCRBY', key, field, v)
  if type(res) == 'table' and res.err then redis.call('HSET', key, field, v) end
end

if now > stored then redis.call('HSET', w, 'now', now) end
-- The first call in a new slot: the slots below lo leave the totals.
local wlo = tonumber(wv[2])
local slid = wlo == nil or wlo < lo
if slid then
  if wlo ~= nil and lo - wlo >= n then
    redis.call('HDEL', w, 'c', 'f', 's')
    for s = wlo, wlo + n - 1 do redis.call('HDEL', w, 'c' .. s, 'f' .. s, 's' .. s) end
    tot = { c = 0, f = 0, s = 0 }
  elseif wlo ~= nil then
    for s = wlo, lo - 1 do
      local v = redis.call('HMGET', w, 'c' .. s, 'f' .. s, 's' .. s)
      if v[1] or v[2] or v[3] then
        for i, k in ipairs(KINDS) do
          if v[i] then
            incr(w, k, -num(v[i]))
            tot[k] = tot[k] - num(v[i])
          end
        end
        redis.call('HDEL', w, 'c' .. s, 'f' .. s, 's' .. s)
      end
    end
  end
  redis.call('HSET', w, 'lo', lo)
  redis.call('ZREMRANGEBYSCORE', fz, '-inf', '(' .. lo)
  redis.call('ZREMRANGEBYSCORE', sz, '-inf', '(' .. lo)
end

-- Replicas whose heartbeat is a ttl old: their slots in the window leave the totals.
for _, d in ipairs(dead) do
  if d ~= id then
    local dk = rprefix .. d
    local fields = redis.pcall('HVALS', dk)
    if type(fields) == 'table' and not fields.err then
      for _, v in ipairs(fields) do
        local p = {}
        for x in string.gmatch(v, '%S+') do p[#p + 1] = num(x) end
        local s = p[1]
        if s and s >= lo and s <= cur then
          for i, k in ipairs(KINDS) do
            local x = p[i + 1] or 0
            if x ~= 0 and redis.call('HEXISTS', w, k .. s) == 1 then
              incr(w, k .. s, -x)
              incr(w, k, -x)
              tot[k] = tot[k] - x
            end
          end
        end
      end
    end
    redis.call('DEL', dk)
    redis.call('ZREM', fz, d)
    redis.call('ZREM', sz, d)
  end
  redis.call('ZREM', hb, d)
end

-- This replica's heartbeat and deltas.
redis.call('ZADD', hb, now, id)
if delta.c > 0 or delta.f > 0 or delta.s > 0 then
  if delta.f > 0 then
    redis.call('ZADD', fz, cur, id)
    redis.call('PEXPIRE', fz, keep)
  end
  if delta.s > 0 then
    redis.call('ZADD', sz, cur, id)
    redis.call('PEXPIRE', sz, keep)
  end
  local own = { c = 0, f = 0, s = 0 }
  if mine then
    local p = {}
    for x in string.gmatch(mine, '%S+') do p[#p + 1] = num(x) end
    if p[1] == cur then own = { c = p[2] or 0, f = p[3] or 0, s = p[4] or 0 } end
  end
  for _, k in ipairs(KINDS) do
    local v = delta[k]
    if v > 0 then
      incr(w, k .. cur, v)
      incr(w, k, v)
      tot[k] = tot[k] + v
      own[k] = own[k] + v
    end
  end
  redis.call('HSET', r, ring, cur .. ' ' .. own.c .. ' ' .. own.f .. ' ' .. own.s)
  redis.call('PEXPIRE', r, keep)
end
if slid then
  for _, k in ipairs({ w, fz, sz, hb }) do redis.call('PEXPIRE', k, keep) end
end

-- The read: the rolling totals, or the slots after this replica's last close.
local from = lo
if age >= 0 then from = math.max(lo, math.floor((now - age) / period) + 1) end
local sum = tot
if from > lo then
  sum = { c = 0, f = 0, s = 0 }
  for s = from, cur do
    local v = redis.call('HMGET', w, 'c' .. s, 'f' .. s, 's' .. s)
    for i, k in ipairs(KINDS) do sum[k] = sum[k] + num(v[i]) end
  end
end
local nf = redis.call('ZCOUNT', fz, from, '+inf')
local ns = redis.call('ZCOUNT', sz, from, '+inf')
return { math.max(0, sum.c), math.max(0, sum.f), math.max(0, sum.s), nf, ns }
