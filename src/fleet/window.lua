-- One breaker's fleet window, kept server-side: a replica's publish and read in one call,
-- O(1) in the number of replicas and in the window's periods (amortized).
--
-- KEYS: [1] w  the fleet's slot totals (fields cSLOT fSLOT sSLOT), rolling totals (c f s),
--              the lowest slot in them (lo) and the latest time seen (now);
--       [2] r  this replica's own slots (cSLOT fSLOT sSLOT, lo): what is subtracted when
--              it dies;
--       [3] fz replicas with failures, scored by their last failing slot;
--       [4] sz the same for slow calls;
--       [5] hb replicas' heartbeats, scored by the time of their last call.
-- ARGV: [1] replica id, [2] now (ms), [3] period (ms), [4] slots in the window,
--       [5] heartbeat ttl (ms), [6] calls, [7] failures, [8] slow calls (deltas),
--       [9] age (ms) of this replica's last close, or -1, [10] the prefix of the replicas'
--       own keys (r = prefix .. id), [11] keys' time to live (ms).
-- Returns {calls, failures, slow, replicas failing, replicas slow} over the window (or
-- the slots after the close). Garbage in a field counts as 0; a key of another type is a
-- WRONGTYPE error before anything is written.
local w, r, fz, sz, hb = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local want = { [w] = 'hash', [r] = 'hash', [fz] = 'zset', [sz] = 'zset', [hb] = 'zset' }
for k, t in pairs(want) do
  local got = redis.call('TYPE', k).ok
  if got ~= 'none' and got ~= t then
    return redis.error_reply('WRONGTYPE ' .. k .. ' holds a ' .. got)
  end
end

local function num(x) return tonumber(x) or 0 end
local function add(key, field, v)
  redis.call('HSET', key, field, num(redis.call('HGET', key, field)) + v)
end

local id, period, n, ttl = ARGV[1], num(ARGV[3]), num(ARGV[4]), num(ARGV[5])
local delta = { c = num(ARGV[6]), f = num(ARGV[7]), s = num(ARGV[8]) }
local age, rprefix, keep = num(ARGV[9]), ARGV[10], ARGV[11]
if period < 1 then period = 1 end
if n < 1 then n = 1 end
-- The fleet's time never goes back: a replica whose clock is behind counts in the latest slot.
local now = math.max(num(ARGV[2]), num(redis.call('HGET', w, 'now')))
redis.call('HSET', w, 'now', now)
local cur = math.floor(now / period)
local lo = cur - n + 1

-- Drops the slots below lo of a hash (from the rolling totals too when `totals`).
local function evict(key, totals)
  local old = tonumber(redis.call('HGET', key, 'lo'))
  if old ~= nil and old < lo then
    if lo - old >= n then
      local keepnow = redis.call('HGET', key, 'now')
      redis.call('DEL', key)
      if keepnow then redis.call('HSET', key, 'now', keepnow) end
    else
      for s = old, lo - 1 do
        for _, k in ipairs({ 'c', 'f', 's' }) do
          local v = redis.call('HGET', key, k .. s)
          if v then
            if totals then add(key, k, -num(v)) end
            redis.call('HDEL', key, k .. s)
          end
        end
      end
    end
  end
  if old == nil or old < lo then redis.call('HSET', key, 'lo', lo) end
end
evict(w, true)

-- Replicas whose heartbeat is older than the ttl: their slots leave the totals.
for _, d in ipairs(redis.call('ZRANGEBYSCORE', hb, '-inf', now - ttl)) do
  if d ~= id then
    local dk = rprefix .. d
    local fields = redis.call('HGETALL', dk)
    for i = 1, #fields, 2 do
      local f = fields[i]
      local k, s = string.sub(f, 1, 1), tonumber(string.sub(f, 2))
      if s and s >= lo and (k == 'c' or k == 'f' or k == 's')
          and redis.call('HEXISTS', w, f) == 1 then
        local v = num(fields[i + 1])
        add(w, f, -v)
        add(w, k, -v)
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
  evict(r, false)
  for _, k in ipairs({ 'c', 'f', 's' }) do
    local v = delta[k]
    if v > 0 then
      add(w, k .. cur, v)
      add(w, k, v)
      add(r, k .. cur, v)
    end
  end
  if delta.f > 0 then redis.call('ZADD', fz, cur, id) end
  if delta.s > 0 then redis.call('ZADD', sz, cur, id) end
  redis.call('PEXPIRE', r, keep)
end
redis.call('ZREMRANGEBYSCORE', fz, '-inf', '(' .. lo)
redis.call('ZREMRANGEBYSCORE', sz, '-inf', '(' .. lo)
for _, k in ipairs({ w, fz, sz, hb }) do redis.call('PEXPIRE', k, keep) end

-- The read: the rolling totals, or the slots after this replica's last close.
local from = lo
if age >= 0 then from = math.max(lo, math.floor((now - age) / period) + 1) end
local sum = { c = 0, f = 0, s = 0 }
if from == lo then
  for _, k in ipairs({ 'c', 'f', 's' }) do sum[k] = num(redis.call('HGET', w, k)) end
else
  for s = from, cur do
    for _, k in ipairs({ 'c', 'f', 's' }) do
      sum[k] = sum[k] + num(redis.call('HGET', w, k .. s))
    end
  end
end
local nf = redis.call('ZCOUNT', fz, from, '+inf')
local ns = redis.call('ZCOUNT', sz, from, '+inf')
return { math.max(0, sum.c), math.max(0, sum.f), math.max(0, sum.s), nf, ns }
