"""Channel health shared by every replica through Redis.

Transitions run in Redis (Lua scripts, atomic); each replica keeps an in-memory copy of every
circuit so that ``is_available`` stays synchronous and O(1). The copy is refreshed in the
background (every ``refresh_every`` seconds, all circuits in one round trip) and immediately with
the reply of every script this replica runs, so a circuit opened on one replica is honoured by
the others within one refresh.

Most outcomes are successes on a closed circuit, which change no state: recording each in Redis
would put a round trip on every request. Those are applied to this replica's copy at once and
written in the background, every ``flush_every`` seconds, for all channels in one round trip (or
sooner, in the same script as this replica's next other outcome on the channel, so that they land
before it). Everything else (failures, probes, a success on a circuit that is not closed or has
failures in a row) runs in Redis before ``record`` returns, as before: a failure that opens a
circuit is shared at once. What the deferral changes, for about ``flush_every`` seconds: other
replicas see the attempt counts and latency average later, and a success written after another
replica's failures only ends their run if it came after the last of them, so failures interleaved
with it across replicas may count as one run (see ``circuit.apply_successes``).

Keys (prefix ``ws:``): ``health:c:{id}`` one hash per channel (see ``redis_scripts.py``),
``health:ids`` the set of channel ids with a circuit, ``health:probe:{id}:{interval}:{slot}`` the
lock that lets one replica probe a channel per interval.

If Redis is unreachable, each replica keeps protecting itself: the transition runs on its own
copy, and the next successful refresh replaces it with the shared state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.relay.health import circuit, redis_scripts, repository
from app.relay.health.circuit import Bucket, Change, Circuit, Successes
from app.relay.health.events import EventLog, clip, describe
from app.relay.health.policy import Clock, HealthPolicy
from app.relay.health.view import CircuitView

log = logging.getLogger("waystation.health")

PREFIX = "ws:"
#: A circuit nobody touched for a week is forgotten (its channel was most likely deleted).
KEY_TTL_MS = 7 * 24 * 3600 * 1000
#: Seconds between two "Redis is unreachable" log lines.
_LOG_EVERY = 10.0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def to_circuit(flat: Sequence[bytes | str], policy: HealthPolicy) -> Circuit:
    """A circuit from a Redis hash (as the flat field/value list HGETALL returns)."""
    f = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}

    def num(name: str, default: float = 0.0) -> float:
        try:
            return float(f[name])
        except (KeyError, ValueError):
            return default

    def at(name: str) -> float:
        return num(name) / 1000

    buckets = []
    for i in range(policy.window_buckets):
        number, attempts, failures = (f.get(f"b{i}") or "-1:0:0").split(":")
        buckets.append(Bucket(int(number), int(attempts), int(failures)))
    return Circuit(
        state=f.get("st", "closed"), until=at("until"), level=int(num("lvl")), opened_at=at("oat"),
        closed_at=at("cat"), consecutive=int(num("cf")), trial_until=at("tr"), probe_streak=int(num("ps")),
        probe_failing=f.get("pf") == "1", last_probe_at=at("pat"), reason=f.get("rsn", ""),
        attempts=int(num("att")), failures=int(num("fail")), ttfb_ms=num("ttfb", -1.0),
        last_kind=f.get("lk", ""), last_failure_at=at("lfat"), buckets=buckets,
    )


def _change(text: bytes | str) -> Change:
    kind, _, cause = _text(text).partition("|")
    return Change(kind, cause)


def _success_args(s: Successes) -> list[int | float]:
    """A ``Successes`` as the scripts read it (see ``redis_scripts._APPLY_SUCCESSES``)."""
    out: list[int | float] = [s.count, _ms(s.last_at), s.samples, s.ttfb_sum, s.ttfb_from_first, len(s.buckets)]
    for number, (count, latest) in sorted(s.buckets.items()):
        out += [number, count, _ms(latest)]
    return out


class RedisHealth(CircuitView):
    def __init__(self, redis: Redis, sessionmaker: async_sessionmaker[AsyncSession] | None = None, *,
                 policy: HealthPolicy | None = None, clock: Clock = time.time, prefix: str = PREFIX,
                 refresh_every: float = 0.5, flush_every: float = 0.1) -> None:
        super().__init__(policy or HealthPolicy(), clock)
        self._r = redis
        self._sessionmaker = sessionmaker
        self._p = prefix + "health:"
        self._refresh_every = refresh_every
        self._flush_every = flush_every
        self.events = EventLog(sessionmaker)
        self._record = redis.register_script(redis_scripts.RECORD)
        self._trial = redis.register_script(redis_scripts.TRIAL)
        self._reset = redis.register_script(redis_scripts.RESET)
        self._restore = redis.register_script(redis_scripts.RESTORE)
        self._snapshot = redis.register_script(redis_scripts.SNAPSHOT)
        self._successes = redis.register_script(redis_scripts.SUCCESSES)
        p = self.policy
        self._policy_args = [p.failure_threshold, p.bucket_ms, p.window_buckets, p.min_window_attempts, p.error_rate,
                             _ms(p.cooldown), _ms(p.max_cooldown), p.ttfb_alpha, p.reenable_after,
                             "," + ",".join(sorted(p.disable_kinds)) + ",", _ms(p.window), KEY_TTL_MS]
        # Local sequence of view updates: a snapshot read before an update must not undo it.
        self._seq = 0
        self._touched: dict[int, int] = {}
        # Successes applied to the view but not written to Redis yet, per channel.
        self._deferred: dict[int, Successes] = {}
        # Writing deferred successes and reading the snapshot take turns, so that a snapshot never
        # misses successes that are neither deferred any more nor in Redis yet.
        self._sync_lock = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None
        self._logged_down_at = 0.0

    def _key(self, channel_id: int) -> str:
        return f"{self._p}c:{channel_id}"

    def _install(self, channel_id: int, flat: Sequence[bytes | str]) -> Circuit:
        self._seq += 1
        self._touched[channel_id] = self._seq
        c = self._view[channel_id] = to_circuit(flat, self.policy)
        deferred = self._deferred.get(channel_id)
        if deferred is not None:  # recorded while the script ran: not in its reply yet
            circuit.apply_successes(c, self.policy, deferred)
        return c

    def _defer(self, channel_id: int, s: Successes) -> None:
        """Keep successes for the next write, before any recorded since they were taken."""
        later = self._deferred.get(channel_id)
        self._deferred[channel_id] = s if later is None else s.then(later, self.policy)

    def _routine(self, channel_id: int, now: float) -> bool:
        """A success here changes no state: the circuit is closed with no failure in a row (as far
        as this replica knows), so recording it can wait."""
        c = self._view.get(channel_id)
        return c is None or (c.consecutive == 0 and c.state_at(now) == "closed")

    def _redis_down(self, what: str) -> None:
        now = time.monotonic()
        if now - self._logged_down_at >= _LOG_EVERY:
            self._logged_down_at = now
            log.warning("Redis unreachable (%s): channel health runs on this replica's own view", what,
                        exc_info=True)

    def _local(self, channel_id: int) -> Circuit:
        c = self._view.get(channel_id)
        if c is None:
            c = self._view[channel_id] = Circuit()
        return c

    # ------------------------------------------------------------------ writes

    async def record(self, channel_id: int, ok: bool, *, kind: str | None = None, ttfb_ms: float | None = None,
                     probe: bool = False, detail: str | None = None) -> None:
        now = self._clock()
        if ok and not probe and self._routine(channel_id, now):
            circuit.record(self._local(channel_id), self.policy, now, True, ttfb_ms=ttfb_ms)
            self._deferred.setdefault(channel_id, Successes()).add(self.policy, now, ttfb_ms)
            return
        note = clip(detail)
        earlier = self._deferred.pop(channel_id, None)
        try:
            raw_changes, flat = await self._record(
                keys=[self._key(channel_id), self._p + "ids"],
                args=[channel_id, _ms(now), 1 if ok else 0, kind or "", "" if ttfb_ms is None else ttfb_ms,
                      1 if probe else 0, note, *self._policy_args, *(_success_args(earlier) if earlier else ())])
        except RedisError:
            self._redis_down("record")
            if earlier is not None:
                self._defer(channel_id, earlier)
            c = self._local(channel_id)
            changes = circuit.record(c, self.policy, now, ok, kind=kind, ttfb_ms=ttfb_ms, probe=probe, detail=note)
        else:
            c = self._install(channel_id, flat)
            changes = [_change(x) for x in raw_changes]
        for change in changes:
            self.events.emit(channel_id, change.kind, describe(change, c, self.policy, now, note))

    async def acquire_trial(self, channel_id: int) -> bool:
        now = self._clock()
        try:
            granted, flat = await self._trial(keys=[self._key(channel_id)],
                                              args=[_ms(now), _ms(now + self.policy.trial_lease), KEY_TTL_MS])
        except RedisError:
            self._redis_down("trial")
            return circuit.acquire_trial(self._local(channel_id), self.policy, now)
        if flat:
            self._install(channel_id, flat)
        return bool(granted)

    async def claim_probe(self, channel_id: int, interval: float) -> bool:
        # One lock per time slot of the shared clock: whichever replica asks first in a slot
        # probes; the others see the slot taken, whatever their own phase.
        slot = int(self._clock() // interval)
        key = f"{self._p}probe:{channel_id}:{_ms(interval)}:{slot}"
        try:
            return bool(await self._r.set(key, b"1", nx=True, px=max(1000, 2 * _ms(interval))))
        except RedisError:
            self._redis_down("probe lock")
            return True

    async def reset(self, channel_id: int) -> None:
        now = self._clock()
        was, flat = await self._reset(keys=[self._key(channel_id)],
                                      args=[_ms(now), self.policy.window_buckets, KEY_TTL_MS])
        was = _text(was)
        if not flat:
            return
        c = self._install(channel_id, flat)
        if was != "closed":
            change = Change("re_enabled" if was == "disabled" else "closed", "operator")
            self.events.emit(channel_id, change.kind, describe(change, c, self.policy, now))

    # ------------------------------------------------------------------ the shared view

    async def write_deferred(self) -> None:
        """Write the successes recorded on this replica since the last write (one round trip for
        every channel; nothing when there are none)."""
        async with self._sync_lock:
            if not self._deferred:
                return
            batch, self._deferred = self._deferred, {}
            keys = [self._p + "ids"]
            args: list[int | float | str] = [self.policy.window_buckets, self.policy.ttfb_alpha, KEY_TTL_MS]
            for channel_id, s in batch.items():
                keys.append(self._key(channel_id))
                args += [channel_id, *_success_args(s)]
            try:
                await self._successes(keys=keys, args=args)
            except BaseException:
                for channel_id, s in batch.items():
                    self._defer(channel_id, s)
                raise

    async def refresh(self) -> None:
        """Replace the in-memory view with every circuit in Redis (one round trip), plus the
        successes recorded here and not written yet."""
        async with self._sync_lock:
            started = self._seq
            rows = await self._snapshot(keys=[self._p + "ids"], args=[self._p + "c:"])
        fresh: dict[int, Circuit] = {}
        for raw_id, flat in rows:
            fresh[int(_text(raw_id))] = to_circuit(flat, self.policy)
        # Keep what this replica installed after the snapshot was requested (it is newer).
        kept: set[int] = set()
        for channel_id, seq in self._touched.items():
            if seq > started and channel_id in self._view:
                fresh[channel_id] = self._view[channel_id]
                kept.add(channel_id)
        for channel_id, s in self._deferred.items():
            if channel_id not in kept:
                circuit.apply_successes(fresh.setdefault(channel_id, Circuit()), self.policy, s)
        self._view = fresh
        self._touched = {cid: seq for cid, seq in self._touched.items() if seq > started}

    async def _sync_forever(self) -> None:
        refresh_at = 0.0
        while True:
            try:
                await self.write_deferred()
                if time.monotonic() >= refresh_at:
                    refresh_at = time.monotonic() + self._refresh_every
                    await self.refresh()
            except RedisError:
                self._redis_down("refresh")
            except Exception:  # noqa: BLE001 - the refresher must outlive any one bad round
                log.exception("channel health refresh failed")
            await asyncio.sleep(min(self._flush_every, self._refresh_every))

    # ------------------------------------------------------------------ lifecycle

    async def _restore_disabled(self) -> None:
        for channel_id, reason in (await repository.disabled_at_start(self._sessionmaker)).items():
            await self._restore(keys=[self._key(channel_id), self._p + "ids"], args=[channel_id, reason, KEY_TTL_MS])

    async def flush(self) -> None:
        try:
            await self.write_deferred()
        except RedisError:
            self._redis_down("flush")
        await self.events.flush()

    async def start(self) -> None:
        try:
            await self._restore_disabled()
            await self.refresh()
        except RedisError:
            self._redis_down("start")
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._sync_forever(), name="health-refresh")

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        try:
            await self.write_deferred()
        except RedisError:
            self._redis_down("shutdown")
        await self.events.aclose()
        await self._r.aclose()
