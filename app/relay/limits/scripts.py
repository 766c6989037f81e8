"""The Lua scripts of the Redis limiter (one round trip per ``admit``; one per ``finish`` of a request
holding a concurrency slot, one per batch of the others).

Keys, per scope: ``w:{scope}`` a sorted set of the window's entries (member ``"{tokens}:{rid}"``,
score the admission time in ms), ``s:{scope}`` the token sum of those entries, ``c:{scope}`` a sorted
set of concurrency leases (member the request id, score the lease expiry in ms); per admitted
request: ``q:{rid}`` the MessagePack of ``[tokens, mask, scope, mask, scope, ...]`` for ``finish``
(mask: 1 = has a window entry, 2 = holds a slot, 3 = both). Every key carries a TTL, so an idle scope
disappears.

Time is Redis' own clock (``TIME``) unless the caller passes one: replicas whose clocks disagree
still share one window.
"""

# KEYS: q:{rid}, then per rule: w:{scope}, s:{scope}, c:{scope}
# ARGV: rid, tokens, now_ms ('' = Redis clock), lease_ms, busy_ms,
#       then per rule: scope, rpm, tpm, concurrency ('' = no limit)
# Returns {admitted, refusing rule, dimension (1 requests, 2 tokens, 3 concurrency), retry_ms (-1 never),
#          requests rule, requests remaining, requests reset_ms, tokens rule, tokens remaining, tokens reset_ms}
# (rules are 1-based positions in the call; 0 = none)
ADMIT = """
local WINDOW, CHUNK = 60000, 256
local rid, tokens_s = ARGV[1], ARGV[2]
local tokens, lease, busy = tonumber(tokens_s), tonumber(ARGV[4]), tonumber(ARGV[5])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local cutoff = now - WINDOW
local n = (#KEYS - 1) / 3
local deny_i, deny_dim, deny_ms = 0, 0, -2
local rq_i, rq_left, tk_i, tk_left = 0, 0, 0, 0
local sums = {}

-- Of several refusals, report the one the client must wait for longest (-1 = never beats all).
local function deny(i, dim, ms)
  if deny_ms ~= -1 and (ms == -1 or ms > deny_ms) then deny_i, deny_dim, deny_ms = i, dim, ms end
end

for i = 1, n do
  local a, k = 2 + 4 * i, 3 * i - 1
  local rpm, tpm, conc = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if rpm or tpm then
    local wk, sk = KEYS[k], KEYS[k + 1]
    -- Drop the entries that left the window, subtracting their tokens from the sum.
    local freed, got = 0, CHUNK
    while got == CHUNK do
      local gone = redis.call('ZRANGEBYSCORE', wk, '-inf', cutoff, 'LIMIT', 0, CHUNK)
      got = #gone
      if got > 0 then
        for j = 1, got do freed = freed + tonumber(string.match(gone[j], '^%d+')) end
        redis.call('ZREMRANGEBYRANK', wk, 0, got - 1)
      end
    end
    local count, used = redis.call('ZCARD', wk), 0
    if count == 0 then
      redis.call('DEL', sk)  -- an empty window sums to 0, whatever happened to the keys
    elseif freed > 0 then
      used = redis.call('DECRBY', sk, freed)
    else
      used = tonumber(redis.call('GET', sk) or 0)
    end
    sums[i] = used
    if rpm then
      if count >= rpm then
        if rpm <= 0 then
          deny(i, 1, -1)
        else  -- the (count - rpm + 1) oldest entries must leave
          local e = redis.call('ZRANGE', wk, count - rpm, count - rpm, 'WITHSCORES')
          deny(i, 1, tonumber(e[2]) + WINDOW - now)
        end
      end
      if rq_i == 0 or rpm - count < rq_left then rq_i, rq_left = i, rpm - count end
    end
    if tpm then
      if used + tokens > tpm then
        if tokens > tpm then
          deny(i, 2, -1)
        else  -- walk from the oldest entry until enough tokens have left
          local need, acc, start, ms = used + tokens - tpm, 0, 0, nil
          while not ms do
            local e = redis.call('ZRANGE', wk, start, start + CHUNK - 1, 'WITHSCORES')
            if #e == 0 then ms = 0 end
            for j = 1, #e, 2 do
              acc = acc + tonumber(string.match(e[j], '^%d+'))
              if acc >= need then ms = tonumber(e[j + 1]) + WINDOW - now break end
            end
            start = start + CHUNK
          end
          deny(i, 2, ms)
        end
      end
      if tk_i == 0 or tpm - used < tk_left then tk_i, tk_left = i, tpm - used end
    end
  end
  if conc then
    local ck = KEYS[k + 2]
    redis.call('ZREMRANGEBYSCORE', ck, '-inf', now)  -- expired leases stop counting
    if redis.call('ZCARD', ck) >= conc then deny(i, 3, conc > 0 and busy or -1) end
  end
end

local taken = 0
if deny_ms == -2 then
  taken = 1
  local member = tokens_s .. ':' .. rid
  local rec = {tokens_s}
  for i = 1, n do
    local a, k = 2 + 4 * i, 3 * i - 1
    local mask = 0
    if ARGV[a + 1] ~= '' or ARGV[a + 2] ~= '' then
      if redis.call('ZADD', KEYS[k], now, member) == 1 then  -- not when a scope comes twice
        redis.call('SET', KEYS[k + 1], sums[i] + tokens, 'PX', WINDOW + 1000)
      end
      redis.call('PEXPIRE', KEYS[k], WINDOW + 1000)
      mask = 1
    end
    if ARGV[a + 3] ~= '' then
      redis.call('ZADD', KEYS[k + 2], now + lease, rid)
      redis.call('PEXPIRE', KEYS[k + 2], lease + 1000)
      mask = mask + 2
    end
    rec[2 * i], rec[2 * i + 1] = mask, ARGV[a]
  end
  redis.call('SET', KEYS[1], cmsgpack.pack(rec), 'PX', math.max(lease, WINDOW) + 1000)
end

-- Reset: when the oldest entry the tightest rule counts leaves the window.
local function reset(i)
  if i == 0 then return 0 end
  local e = redis.call('ZRANGE', KEYS[3 * i - 1], 0, 0, 'WITHSCORES')
  if #e == 0 then return 0 end
  return tonumber(e[2]) + WINDOW - now
end
local rq_reset = reset(rq_i)
local tk_reset = rq_reset
if tk_i ~= rq_i then tk_reset = reset(tk_i) end
return {taken, deny_i, deny_dim, deny_ms, rq_i, rq_left - taken, rq_reset, tk_i, tk_left - taken * tokens, tk_reset}
"""

# KEYS: q:{rid} per request   ARGV: key prefix, then per request: rid, actual tokens ('' = unknown)
# Returns how many of the requests were still recorded (finished now).
# One call finishes one request (when it holds a concurrency slot) or a batch of deferred ones.
# The scope keys come from each request's record: ``finish`` knows nothing but the request id.
# Idempotent: a retried batch finds the records gone (GETDEL) and changes nothing.
FINISH = """
local p, done = ARGV[1], 0
for n = 1, #KEYS do
  local packed = redis.call('GETDEL', KEYS[n])
  if packed then
    done = done + 1
    local rec = cmsgpack.unpack(packed)
    local rid, actual_s = ARGV[2 * n], ARGV[2 * n + 1]
    local actual = tonumber(actual_s)
    local old = rec[1] .. ':' .. rid
    local delta = actual and actual - tonumber(rec[1]) or 0
    for i = 2, #rec, 2 do
      local mask, scope = rec[i], rec[i + 1]
      if delta ~= 0 and mask % 2 == 1 then
        local wk = p .. 'w:' .. scope
        local at = redis.call('ZSCORE', wk, old)
        if at then  -- still in the window
          redis.call('ZREM', wk, old)
          redis.call('ZADD', wk, at, actual_s .. ':' .. rid)
          redis.call('INCRBY', p .. 's:' .. scope, delta)
        end
      end
      if mask >= 2 then redis.call('ZREM', p .. 'c:' .. scope, rid) end
    end
  end
end
return done
"""
