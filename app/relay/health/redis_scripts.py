"""Lua transcriptions of ``circuit.py`` for Redis: each runs atomically, so replicas recording at
the same time cannot lose each other's updates. Keep them in step with ``circuit.py`` (the tests
run the same behaviours against both).

A circuit is one hash per channel. Fields (times in ms since the epoch, 0: never):
``st`` closed|open|disabled, ``until`` end of cool-down, ``lvl`` cool-down doublings, ``oat`` opened
at, ``cat`` closed at, ``cf`` consecutive failures, ``tr`` trial lease end, ``ps`` probe success
streak, ``pf`` last probe failed (1|0), ``pat`` last probe at, ``rsn`` disabled reason, ``att`` /
``fail`` totals, ``ttfb`` moving average (ms), ``lk`` last failure kind, ``lfat`` last failure at,
``b0``..``bN`` window buckets "number:attempts:failures".
"""

from __future__ import annotations

# Shared prologue: load the hash into ``f`` and define the helpers.
_PROLOGUE = """
local h = KEYS[1]
local f = {}
local raw = redis.call('HGETALL', h)
for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
local function n(k) return tonumber(f[k]) or 0 end
local function put(k, v) f[k] = string.format('%.17g', v) end
local function save(ttl)
  local flat = {}
  for k, v in pairs(f) do flat[#flat + 1] = k; flat[#flat + 1] = v end
  redis.call('DEL', h)
  if #flat > 0 then
    redis.call('HSET', h, unpack(flat))
    redis.call('PEXPIRE', h, ttl)
  end
  return flat
end
"""

# ``apply_successes`` of circuit.py, on a loaded hash ``f``: reads one ``Successes`` from ARGV at
# ``pos`` (count, last at ms, samples, ttfb sum, ttfb from first, number of buckets, then per
# bucket: number, count, latest ms) and returns the position after it.
_APPLY_SUCCESSES = """
local function apply_successes(f, pos, nb, alpha)
  local function num(k) return tonumber(f[k]) or 0 end
  local function set(k, v) f[k] = string.format('%.17g', v) end
  local count, last, k = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1]), tonumber(ARGV[pos + 2])
  local sum, first, nbk = tonumber(ARGV[pos + 3]), tonumber(ARGV[pos + 4]), tonumber(ARGV[pos + 5])
  set('att', num('att') + count)
  local p = pos + 6
  for _ = 1, nbk do
    local no, cnt, latest = tonumber(ARGV[p]), tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
    if latest >= num('cat') then
      local i = no % nb
      local bn, a, b = -1, 0, 0
      local v = f['b' .. i]
      if v then
        local x, y, z = string.match(v, '^(%-?%d+):(%d+):(%d+)$')
        bn, a, b = tonumber(x), tonumber(y), tonumber(z)
      end
      if bn == no then f['b' .. i] = string.format('%d:%d:%d', no, a + cnt, b)
      elseif bn < no then f['b' .. i] = string.format('%d:%d:%d', no, cnt, 0) end
    end
    p = p + 3
  end
  if k > 0 then
    local prev = tonumber(f['ttfb'] or '-1')
    if prev < 0 then set('ttfb', first) else set('ttfb', math.pow(1 - alpha, k) * prev + sum) end
  end
  if (f['st'] or 'closed') ~= 'disabled' and last > num('lfat') then set('cf', 0) end
  return p
end
"""

# KEYS: circuit hash, id set.
# ARGV: 1 channel id, 2 now, 3 ok (1|0), 4 failure kind, 5 ttfb ms ('' none), 6 probe (1|0), 7 detail,
#       8 failure threshold, 9 bucket ms, 10 buckets, 11 min window attempts, 12 error rate,
#       13 base cool-down ms, 14 max cool-down ms, 15 ttfb alpha, 16 re-enable after,
#       17 disabling kinds as ",auth,billing,", 18 window ms, 19 key ttl ms,
#       20... (optional) successes this replica recorded before this outcome and has not written
#       yet (see _APPLY_SUCCESSES): applied first, so the outcome lands after them.
# Returns {changes ("kind|cause"...), fields (flat)}.
RECORD = _PROLOGUE + _APPLY_SUCCESSES + """
if #ARGV >= 20 then apply_successes(f, 20, tonumber(ARGV[10]), tonumber(ARGV[15])) end
local now = tonumber(ARGV[2])
local ok = ARGV[3] == '1'
local kind = nil
if not ok then kind = ARGV[4]; if kind == '' then kind = 'error' end end
local probe = ARGV[6] == '1'
local detail = ARGV[7]
local threshold, bms, nb = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local min_att, rate = tonumber(ARGV[11]), tonumber(ARGV[12])
local base, maxcd, alpha = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local reenable, window = tonumber(ARGV[16]), tonumber(ARGV[18])
local st = f['st'] or 'closed'
local changes = {}

local function cooldown(level) return math.min(base * math.pow(2, math.min(level, 16)), maxcd) end
local function bucket(i)
  local v = f['b' .. i]
  if not v then return -1, 0, 0 end
  local a, b, c = string.match(v, '^(%-?%d+):(%d+):(%d+)$')
  return tonumber(a), tonumber(b), tonumber(c)
end
local function window_totals()
  local current = math.floor(now / bms)
  local att, fl = 0, 0
  for i = 0, nb - 1 do
    local no, a, b = bucket(i)
    if no > current - nb then att = att + a; fl = fl + b end
  end
  return att, fl
end
local function count()
  local no = math.floor(now / bms)
  local i = no % nb
  local bn, a, b = bucket(i)
  if bn ~= no then a, b = 0, 0 end
  a = a + 1
  if not ok then b = b + 1 end
  f['b' .. i] = string.format('%d:%d:%d', no, a, b)
end
local function open_()
  if n('cat') > 0 and now - n('cat') < window then put('lvl', math.min(n('lvl') + 1, 16)) else put('lvl', 0) end
  st = 'open'
  put('oat', now); put('until', now + cooldown(n('lvl'))); put('tr', 0)
end
local function close_()
  st = 'closed'
  put('cat', now); put('until', 0); put('tr', 0); put('cf', 0); put('ps', 0)
  f['rsn'] = ''
  for i = 0, nb - 1 do f['b' .. i] = nil end
end
local function finish()
  f['st'] = st
  local flat = save(ARGV[19])
  redis.call('SADD', KEYS[2], ARGV[1])
  return {changes, flat}
end

if probe then
  put('pat', now)
  if kind and f['pf'] ~= '1' then changes[#changes + 1] = 'probe_failed|' .. kind end
  f['pf'] = kind and '1' or '0'
else
  put('att', n('att') + 1)
  if not ok then put('fail', n('fail') + 1) end
  count()
  if ok and ARGV[5] ~= '' then
    local x = tonumber(ARGV[5])
    local prev = tonumber(f['ttfb'] or '-1')
    if prev < 0 then put('ttfb', x) else put('ttfb', alpha * x + (1 - alpha) * prev) end
  end
end
if kind then f['lk'] = kind; put('lfat', now) end

if kind and string.find(ARGV[17], ',' .. kind .. ',', 1, true) then
  put('ps', 0)
  if st ~= 'disabled' then
    changes = {}  -- a probe that disables the channel says so once, as the auto_disabled event
    st = 'disabled'
    put('tr', 0); put('until', 0)
    if detail ~= '' then f['rsn'] = kind .. ': ' .. detail else f['rsn'] = kind end
    changes[#changes + 1] = 'auto_disabled|' .. kind
  end
  return finish()
end
if st == 'disabled' then
  if probe then
    if ok then put('ps', n('ps') + 1) else put('ps', 0) end
    if n('ps') >= reenable then
      close_(); put('lvl', 0)
      changes[#changes + 1] = 're_enabled|probes'
    end
  end
  return finish()
end

if ok then put('cf', 0) else put('cf', n('cf') + 1) end
local state = st
if st == 'open' and now >= n('until') then state = 'half_open' end
if state == 'closed' then
  if kind then
    if n('cf') >= threshold then
      open_(); changes[#changes + 1] = 'opened|consecutive'
    elseif not probe then
      local att, fl = window_totals()
      if att >= min_att and fl >= rate * att then open_(); changes[#changes + 1] = 'opened|rate' end
    end
  end
elseif state == 'open' then
  if ok and probe then put('until', now); put('tr', 0) end
elseif ok then
  close_()
  if probe then changes[#changes + 1] = 'closed|probe' else changes[#changes + 1] = 'closed|traffic' end
else
  put('lvl', math.min(n('lvl') + 1, 16))
  put('until', now + cooldown(n('lvl'))); put('tr', 0)
end
return finish()
"""

# Write the successes deferred by one replica, for many channels at once (never a state change).
# KEYS: id set, circuit hashes...  ARGV: 1 buckets, 2 ttfb alpha, 3 key ttl ms, then per circuit:
# channel id, successes (see _APPLY_SUCCESSES). Returns how many circuits.
SUCCESSES = _APPLY_SUCCESSES + """
local nb, alpha, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local pos = 4
for c = 2, #KEYS do
  local h = KEYS[c]
  local f = {}
  local raw = redis.call('HGETALL', h)
  for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
  local id = ARGV[pos]
  pos = apply_successes(f, pos + 1, nb, alpha)
  f['st'] = f['st'] or 'closed'
  local flat = {}
  for k, v in pairs(f) do flat[#flat + 1] = k; flat[#flat + 1] = v end
  redis.call('DEL', h)
  redis.call('HSET', h, unpack(flat))
  redis.call('PEXPIRE', h, ttl)
  redis.call('SADD', KEYS[1], id)
end
return #KEYS - 1
"""

# Take the half-open trial lease. KEYS: circuit hash. ARGV: 1 now, 2 lease end, 3 key ttl ms.
# Returns {granted (1|0), fields (flat)}.
TRIAL = _PROLOGUE + """
local now = tonumber(ARGV[1])
local st = f['st'] or 'closed'
if st == 'closed' then return {1, raw} end
if st ~= 'open' or now < n('until') or n('tr') > now then return {0, raw} end
f['tr'] = ARGV[2]
return {1, save(ARGV[3])}
"""

# Operator reset. KEYS: circuit hash. ARGV: 1 now, 2 buckets, 3 key ttl ms.
# Returns {previous state, fields (flat)}.
RESET = _PROLOGUE + """
local was = f['st'] or 'closed'
if was == 'closed' then return {was, raw} end
f['st'] = 'closed'
put('cat', tonumber(ARGV[1])); put('until', 0); put('tr', 0); put('cf', 0); put('ps', 0); put('lvl', 0)
f['rsn'] = ''
for i = 0, tonumber(ARGV[2]) - 1 do f['b' .. i] = nil end
return {was, save(ARGV[3])}
"""

# Restore an auto-disabled state remembered by the event log, unless Redis knows better.
# KEYS: circuit hash, id set. ARGV: 1 channel id, 2 reason, 3 key ttl ms. Returns 1 if restored.
RESTORE = """
if redis.call('HEXISTS', KEYS[1], 'st') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'st', 'disabled', 'rsn', ARGV[2], 'ps', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# Every circuit in one round trip. KEYS: id set. ARGV: 1 circuit key prefix.
# Returns {{id, fields (flat)}, ...}; forgets ids whose hash expired.
SNAPSHOT = """
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local raw = redis.call('HGETALL', ARGV[1] .. id)
  if #raw == 0 then redis.call('SREM', KEYS[1], id) else out[#out + 1] = {id, raw} end
end
return out
"""
