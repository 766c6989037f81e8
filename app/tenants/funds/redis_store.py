"""Redis funds store: one coordination point for every replica.

Keys (prefix ``ws:``): ``w:{id}`` hash {bal, held, gen} per wallet; ``hold:{rid}`` the wallet ids
and amounts of one hold; ``holds`` a sorted set of hold expiries; ``applied:{rid}`` marks a
request whose debit reached the mirrors (so a reconciler and a late commit cannot both apply it);
``epoch`` changes when Redis lost its data (FLUSHALL, restart without persistence).

Each replica also remembers its own in-flight holds: when the epoch key is missing, the first
replica to notice starts a new epoch and every replica re-registers its holds in it, so a flush
loses no reservation for longer than one round trip per replica.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from app.tenants.funds.base import BalanceLoader, SettledLookup, Shortfall, WalletId

PREFIX = "ws:"
APPLIED_TTL_MS = 24 * 3600 * 1000
#: Requests per run of the commit script: a long batch is split so that no one run blocks Redis for
#: long (about 40 us per three-wallet request, so ~2 ms), while all runs still go in one round trip.
COMMIT_CHUNK = 50

# KEYS: epoch, holds, hold:{rid}, wallet hashes...
# ARGV: epoch, rid, ttl_ms, now_ms, then (id, amount, floor) triples
_RESERVE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'EPOCH', 0} end
local n = #KEYS - 3
for i = 1, n do
  local key = KEYS[3 + i]
  local bal = redis.call('HGET', key, 'bal')
  if not bal then return {'LOAD', i} end
  local held = tonumber(redis.call('HGET', key, 'held') or '0')
  if tonumber(bal) - held - tonumber(ARGV[3 + 3 * i]) < -tonumber(ARGV[4 + 3 * i]) then return {'SHORT', i} end
end
local parts = {}
for i = 1, n do
  redis.call('HINCRBY', KEYS[3 + i], 'held', ARGV[3 + 3 * i])
  parts[#parts + 1] = ARGV[2 + 3 * i] .. ':' .. ARGV[3 + 3 * i]
end
redis.call('SET', KEYS[3], table.concat(parts, ','), 'PX', tonumber(ARGV[3]) + 60000)
redis.call('ZADD', KEYS[2], tonumber(ARGV[4]) + tonumber(ARGV[3]), ARGV[2])
return {'OK', 0}
"""

# Drop a hold. KEYS: holds, hold:{rid}   ARGV: rid, prefix
_RELEASE = """
local hold = redis.call('GET', KEYS[2])
if hold then
  for id, amount in string.gmatch(hold, '(%w+):(%d+)') do
    redis.call('HINCRBY', ARGV[2] .. 'w:' .. id, 'held', -tonumber(amount))
  end
  redis.call('DEL', KEYS[2])
end
redis.call('ZREM', KEYS[1], ARGV[1])
return hold and 1 or 0
"""

# Apply committed debits once each, then drop the holds; end the writer's in-flight marks if
# touched. The requests are handled in order, exactly as one commit after another.
# KEYS: holds, then per request: applied:{rid}, hold:{rid}, its wallet hashes...
# ARGV: prefix, applied_ttl, touched, then per request: rid, number of wallets, amounts...
_COMMIT = """
local touched = ARGV[3] == '1'
local k, a, done = 2, 4, 0
while a <= #ARGV do
  local rid, n = ARGV[a], tonumber(ARGV[a + 1])
  if touched then
    for i = 1, n do
      if tonumber(redis.call('HINCRBY', KEYS[k + 1 + i], 'pending', -1)) < 0 then
        redis.call('HSET', KEYS[k + 1 + i], 'pending', 0)
      end
    end
  end
  if redis.call('SET', KEYS[k], '1', 'NX', 'PX', ARGV[2]) then
    for i = 1, n do
      local key = KEYS[k + 1 + i]
      redis.call('HINCRBY', key, 'gen', 1)
      if redis.call('HEXISTS', key, 'bal') == 1 then
        redis.call('HINCRBY', key, 'bal', -tonumber(ARGV[a + 1 + i]))
      end
    end
  end
  local hold = redis.call('GET', KEYS[k + 1])
  if hold then
    for id, amount in string.gmatch(hold, '(%w+):(%d+)') do
      redis.call('HINCRBY', ARGV[1] .. 'w:' .. id, 'held', -tonumber(amount))
    end
    redis.call('DEL', KEYS[k + 1])
  end
  redis.call('ZREM', KEYS[1], rid)
  k, a, done = k + 2 + n, a + 2 + n, done + 1
end
return done
"""

# Install a balance read from the ledger unless a change raced the read or a settlement is in flight.
# KEYS: wallet hash   ARGV: balance, generation seen before the read, overwrite (1) or only when absent (0)
_INSTALL = """
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
if gen ~= tonumber(ARGV[2]) then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'pending') or '0') > 0 then return 0 end
if ARGV[3] == '0' and redis.call('HEXISTS', KEYS[1], 'bal') == 1 then return 1 end
redis.call('HSET', KEYS[1], 'bal', ARGV[1])
return 1
"""

# Mark (+1) or unmark (-1) a settlement in flight. KEYS: wallet hashes   ARGV: +1 or -1
_PENDING = """
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'gen', 1)
  if tonumber(redis.call('HINCRBY', KEYS[i], 'pending', ARGV[1])) < 0 then redis.call('HSET', KEYS[i], 'pending', 0) end
end
return 1
"""

# Re-register a hold after a flush, unless it exists or its request was already applied.
# KEYS: holds, hold:{rid}, applied:{rid}, wallet hashes...   ARGV: rid, expires_ms, amounts...
_READD = """
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local parts = {}
for i = 4, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'held', ARGV[i - 1])
  parts[#parts + 1] = string.match(KEYS[i], 'w:(%w+)$') .. ':' .. ARGV[i - 1]
end
redis.call('SET', KEYS[2], table.concat(parts, ','), 'PXAT', tonumber(ARGV[2]) + 60000)
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[1])
return 1
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


class RedisFunds:
    def __init__(self, redis: Redis, load_balances: BalanceLoader, settled: SettledLookup,
                 prefix: str = PREFIX) -> None:
        self._r = redis
        self._load_balances = load_balances
        self._settled = settled
        self._p = prefix
        self._epoch: str | None = None
        # This replica's in-flight holds: rid -> (amounts, expires_ms), to re-register after a flush.
        self._mine: dict[str, tuple[tuple[tuple[WalletId, int], ...], int]] = {}
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)
        self._commit = redis.register_script(_COMMIT)
        self._install = redis.register_script(_INSTALL)
        self._pending = redis.register_script(_PENDING)
        self._readd = redis.register_script(_READD)

    def _w(self, wallet_id: WalletId) -> str:
        return f"{self._p}w:{wallet_id}"

    # ---------------------------------------------------------------- epochs

    async def _join_epoch(self) -> None:
        """Adopt the current epoch, starting one if Redis has none, and re-register our holds."""
        key = self._p + "epoch"
        await self._r.set(key, uuid.uuid4().hex, nx=True)
        current = (await self._r.get(key)).decode()
        if current != self._epoch:
            self._epoch = current
            for rid, (amounts, expires_ms) in list(self._mine.items()):
                await self._readd(keys=[self._p + "holds", f"{self._p}hold:{rid}", f"{self._p}applied:{rid}",
                                        *(self._w(w) for w, _ in amounts)],
                                  args=[rid, expires_ms, *(a for _, a in amounts)])

    # ---------------------------------------------------------------- balances

    async def _load(self, wallets: Sequence[WalletId], overwrite: bool) -> None:
        """Install ledger balances; ``overwrite`` False only fills wallets not mirrored yet."""
        pipe = self._r.pipeline(transaction=False)
        for w in wallets:
            pipe.hget(self._w(w), "gen")
        gens = [int(g or 0) for g in await pipe.execute()]
        balances = await self._load_balances(wallets)
        for w, gen in zip(wallets, gens, strict=True):
            await self._install(keys=[self._w(w)], args=[balances.get(w, 0), gen, 1 if overwrite else 0])

    # ---------------------------------------------------------------- holds

    async def reserve(self, request_id: str, amounts: Sequence[tuple[WalletId, int]], ttl: float,
                      floors: Mapping[WalletId, int] | None = None) -> Shortfall | None:
        if self._epoch is None:
            await self._join_epoch()
        ttl_ms = int(ttl * 1000)
        keys = [self._p + "epoch", self._p + "holds", f"{self._p}hold:{request_id}", *(self._w(w) for w, _ in amounts)]
        flat = [x for wallet, amount in amounts for x in (wallet, amount, floors.get(wallet, 0) if floors else 0)]
        for _attempt in range(50):
            now = _now_ms()
            status, index = await self._reserve(keys=keys, args=[self._epoch, request_id, ttl_ms, now, *flat])
            status = status.decode() if isinstance(status, bytes) else status
            if status == "OK":
                self._mine[request_id] = (tuple(amounts), now + ttl_ms)
                return None
            if status == "SHORT":
                return Shortfall(int(index) - 1)
            if status == "EPOCH":
                await self._join_epoch()
            else:  # LOAD: a wallet's balance is not mirrored yet (or a settlement was in flight)
                await self._load([w for w, _ in amounts], overwrite=False)
                await asyncio.sleep(0.001 * _attempt)
        raise RuntimeError("could not reserve funds: Redis kept changing underneath")

    async def commit(self, request_id: str, debits: Mapping[WalletId, int], *, touched: bool = False) -> None:
        await self.commit_many([(request_id, debits)], touched=touched)

    async def commit_many(self, items: Sequence[tuple[str, Mapping[WalletId, int]]], *,
                          touched: bool = False) -> None:
        if not items:
            return
        # Forget the holds first: a re-registration running while the script is in flight must not
        # bring them back (and if it ran first, the script drops what it re-registered).
        for request_id, _ in items:
            self._mine.pop(request_id, None)
        calls = [self._commit_call(items[i:i + COMMIT_CHUNK], touched) for i in range(0, len(items), COMMIT_CHUNK)]
        if len(calls) == 1:
            keys, args = calls[0]
            await self._commit(keys=keys, args=args)
            return
        # Several script runs in one round trip, so that other clients' commands can run between
        # them. The script runs through its digest (a pipelined Script would check it exists first,
        # costing a second round trip); a run refused with NOSCRIPT did nothing and is sent again.
        pending, error = calls, None
        for _attempt in range(2):
            pipe = self._r.pipeline(transaction=False)
            for keys, args in pending:
                pipe.evalsha(self._commit.sha, len(keys), *keys, *args)
            results = await pipe.execute(raise_on_error=False)
            error = error or next((r for r in results if isinstance(r, Exception)
                                   and not isinstance(r, NoScriptError)), None)
            pending = [call for call, r in zip(pending, results, strict=True) if isinstance(r, NoScriptError)]
            if not pending:
                break
            self._commit.sha = await self._r.script_load(_COMMIT)  # Redis restarted since it was loaded
        if error is not None:
            raise error
        if pending:
            raise NoScriptError("the funds commit script could not be loaded")

    def _commit_call(self, items: Sequence[tuple[str, Mapping[WalletId, int]]],
                     touched: bool) -> tuple[list[str], list[object]]:
        keys: list[str] = [self._p + "holds"]
        args: list[object] = [self._p, APPLIED_TTL_MS, 1 if touched else 0]
        for request_id, debits in items:
            wallets = list(debits)
            keys += [f"{self._p}applied:{request_id}", f"{self._p}hold:{request_id}", *(self._w(w) for w in wallets)]
            args += [request_id, len(wallets), *(debits[w] for w in wallets)]
        return keys, args

    async def release(self, request_id: str) -> None:
        self._mine.pop(request_id, None)
        await self._release(keys=[self._p + "holds", f"{self._p}hold:{request_id}"], args=[request_id, self._p])

    async def touch(self, wallet_ids: Sequence[WalletId]) -> None:
        if wallet_ids:
            await self._pending(keys=[self._w(w) for w in wallet_ids], args=[1])

    async def untouch(self, wallet_ids: Sequence[WalletId]) -> None:
        if wallet_ids:
            await self._pending(keys=[self._w(w) for w in wallet_ids], args=[-1])

    async def refresh(self, wallet_ids: Sequence[WalletId]) -> None:
        if wallet_ids:
            await self._load(list(wallet_ids), overwrite=True)

    async def expire(self) -> int:
        # Runs periodically on every replica, so a replica without traffic still re-registers its
        # holds soon after a flush.
        await self._join_epoch()
        due = [r.decode() for r in await self._r.zrangebyscore(self._p + "holds", 0, _now_ms())]
        if not due:
            return 0
        settled = await self._settled(due)
        await self.commit_many([(rid, settled[rid]) for rid in due if rid in settled])
        for rid in due:
            if rid not in settled:
                await self.release(rid)
        return len(due)

    async def resync(self) -> None:
        wallets: list[WalletId] = []
        async for key in self._r.scan_iter(match=self._p + "w:*", count=500):
            name = key.decode().rsplit(":", 1)[1]
            wallets.append(int(name) if name.isdigit() else name)
        for i in range(0, len(wallets), 500):
            await self._load(wallets[i:i + 500], overwrite=True)

    async def available(self, wallet_id: WalletId) -> int | None:
        bal, held = await self._r.hmget(self._w(wallet_id), "bal", "held")
        return None if bal is None else int(bal) - int(held or 0)

    async def aclose(self) -> None:
        await self._r.aclose()
