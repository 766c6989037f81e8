"""Redis limiter: one set of limits shared by every replica.

Each ``admit`` is one ``EVALSHA`` (one round trip): the script checks every rule and records the
request in every scope only if all of them have room, atomically, so N replicas admitting at once
never overshoot a limit. See :mod:`app.relay.limits.scripts` for the keys.

``finish`` costs a round trip on the request's path only when the request holds a concurrency slot:
a client that waits for its answer before sending the next request must find the slot free. Any
other request's finish only corrects its TPM estimate, which can wait: it is queued and written in
the background with the others, one script call per batch, within ``flush_interval``. The queue is
capped (the newest corrections are kept) and a failed write is retried with backoff: corrections are
best-effort, and a lost one only leaves the estimate counted until it leaves the window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from app.relay.limits.base import ADMITTED, WINDOW, Admission, Dimension, LimitRule, Quota
from app.relay.limits.scripts import ADMIT, FINISH

log = logging.getLogger("waystation.limits")

PREFIX = "ws:"
#: Longest wait between two attempts to write queued finishes while Redis fails, in seconds.
_MAX_BACKOFF = 5.0
_DIMENSIONS: tuple[Dimension | None, ...] = (None, "requests", "tokens", "concurrency")


class RedisLimiter:
    """Rate limits shared through Redis. ``lease``: seconds a concurrency slot lasts without
    ``finish`` (the longest a request may run; one value for the whole deployment); ``busy_retry``:
    the ``retry_after`` of a concurrency refusal. Keys live under ``{prefix}rl:``.

    Finishes without a concurrency slot are written every ``flush_interval`` seconds, at most
    ``flush_batch`` per script call; at most ``max_pending`` wait (while Redis is down).
    ``finish`` must be called on the limiter that admitted the request."""

    def __init__(self, redis: Redis, *, prefix: str = PREFIX, lease: float = 600.0, busy_retry: float = 1.0,
                 flush_interval: float = 0.05, flush_batch: int = 500, max_pending: int = 20_000) -> None:
        self._r = redis
        self._p = prefix + "rl:"
        self._lease_ms = round(lease * 1000)
        self._busy_ms = round(busy_retry * 1000)
        self._admit = redis.register_script(ADMIT)
        self._finish = redis.register_script(FINISH)
        # Requests admitted here and not finished yet: request id -> (when Redis forgets the request,
        # on the local clock; whether it holds a concurrency slot). In admission order.
        self._open: dict[str, tuple[float, bool]] = {}
        self._keep = max(lease, WINDOW) + 1.0  # the TTL of the request's record in Redis
        self._next_sweep = -1.0
        #: finishes to write: (request id, actual tokens or "")
        self._pending: deque[tuple[str, int | str]] = deque(maxlen=max_pending)
        self._max_pending = max_pending
        self._flush_interval = flush_interval
        self._flush_batch = flush_batch
        self._flusher: asyncio.Task[None] | None = None
        self._failing = False  # the last write failed (log the first failure of a run, not each)
        self._dropping = False  # the queue overflowed since the last successful write

    async def _eval(self, script: AsyncScript, numkeys: int, *keys_and_args: Any) -> Any:
        # Script.__call__ would copy keys and args into new tuples on every call; the hot path
        # calls EVALSHA directly and loads the script only when Redis does not know it.
        try:
            return await self._r.evalsha(script.sha, numkeys, *keys_and_args)
        except NoScriptError:
            script.sha = await self._r.script_load(script.script)
            return await self._r.evalsha(script.sha, numkeys, *keys_and_args)

    async def admit(self, request_id: str, rules: Sequence[LimitRule], tokens: int,
                    now: float | None = None) -> Admission:
        """See :meth:`Limiter.admit`: one round trip, none when no rule limits anything."""
        p = self._p
        active: list[LimitRule] = []
        holds_slot = False
        keys = [f"{p}q:{request_id}"]
        args: list[Any] = [request_id, tokens if tokens > 0 else 0, "" if now is None else round(now * 1000),
                           self._lease_ms, self._busy_ms]
        for rule in rules:
            rpm, tpm, conc = rule.rpm, rule.tpm, rule.concurrency
            if rpm is None and tpm is None and conc is None:
                continue
            active.append(rule)
            if conc is not None:
                holds_slot = True
            scope = rule.scope
            keys += (f"{p}w:{scope}", f"{p}s:{scope}", f"{p}c:{scope}")
            args += (scope, "" if rpm is None else rpm, "" if tpm is None else tpm, "" if conc is None else conc)
        if not active:
            return ADMITTED
        taken, deny_i, deny_dim, deny_ms, rq_i, rq_left, rq_reset, tk_i, tk_left, tk_reset = await self._eval(
            self._admit, len(keys), *keys, *args)
        requests = tokens_quota = None
        if rq_i:
            limit = active[rq_i - 1].rpm
            assert limit is not None
            requests = Quota(limit, rq_left if rq_left > 0 else 0, rq_reset / 1000)
        if tk_i:
            limit = active[tk_i - 1].tpm
            assert limit is not None
            tokens_quota = Quota(limit, tk_left if tk_left > 0 else 0, tk_reset / 1000)
        if taken:
            clock = time.monotonic()
            if clock >= self._next_sweep:
                self._sweep(clock)
            self._open[request_id] = (clock + self._keep, holds_slot)
            return Admission(True, requests=requests, tokens=tokens_quota)
        return Admission(False, active[deny_i - 1].scope, _DIMENSIONS[deny_dim],
                         None if deny_ms < 0 else deny_ms / 1000, requests, tokens_quota)

    def _sweep(self, clock: float) -> None:
        """Forget requests never finished whose record Redis has dropped (at most once a window)."""
        self._next_sweep = clock + WINDOW
        opened = self._open
        while opened:
            rid = next(iter(opened))
            if opened[rid][0] > clock:
                break
            del opened[rid]

    async def finish(self, request_id: str, actual_tokens: int | None) -> None:
        """See :meth:`Limiter.finish`: one round trip when the request holds a concurrency slot; none
        otherwise (the correction is written in the background within ``flush_interval``). Ids this
        limiter did not admit, or has finished already, do nothing."""
        opened = self._open.pop(request_id, None)
        if opened is None:
            return
        actual: int | str = "" if actual_tokens is None else max(actual_tokens, 0)
        if opened[1]:
            await self._eval(self._finish, 1, f"{self._p}q:{request_id}", self._p, request_id, actual)
            return
        pending = self._pending
        if len(pending) == pending.maxlen and not self._dropping:
            self._dropping = True
            log.warning("rate limit: %d token corrections wait for Redis; dropping the oldest", len(pending))
        pending.append((request_id, actual))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_in_background())

    async def _flush_in_background(self) -> None:
        """Write the queued finishes every ``flush_interval``, backing off while Redis fails; ends
        when the queue is empty (the next deferred finish starts it again)."""
        try:
            failures = 0
            while self._pending:
                await asyncio.sleep(min(self._flush_interval * 2 ** failures, max(_MAX_BACKOFF, self._flush_interval)))
                # Only what was due: finishes that arrive meanwhile wait for the next round, so a
                # busy replica still writes one batch per interval, not one per few requests.
                due = len(self._pending)
                while due > 0:
                    if not await self._write_batch():
                        failures = min(failures + 1, 16)
                        break
                    failures = 0
                    due -= self._flush_batch
        finally:
            self._flusher = None

    async def _write_batch(self) -> bool:
        """Write up to ``flush_batch`` queued finishes in one script call; on failure put them back
        (the script is idempotent, so a batch that did reach Redis is harmlessly written again)."""
        pending = self._pending
        batch = [pending.popleft() for _ in range(min(self._flush_batch, len(pending)))]
        p = self._p
        keys = [f"{p}q:{rid}" for rid, _ in batch]
        args: list[Any] = [p]
        for rid, actual in batch:
            args += (rid, actual)
        try:
            await self._eval(self._finish, len(keys), *keys, *args)
        except BaseException as exc:
            self._requeue(batch)
            if not isinstance(exc, Exception):
                raise  # cancelled (aclose): the batch is back in the queue
            if not self._failing:
                self._failing = True
                log.warning("rate limit: writing %d token corrections to Redis failed; retrying",
                            len(batch), exc_info=True)
            return False
        if self._failing or self._dropping:
            log.info("rate limit: token corrections reach Redis again")
        self._failing = self._dropping = False
        return True

    def _requeue(self, batch: list[tuple[str, int | str]]) -> None:
        """Put a batch back at the head of the queue (it is older than what came meanwhile), keeping
        the newest corrections if they no longer all fit."""
        pending = self._pending
        drop = len(batch) - (self._max_pending - len(pending))
        if drop > 0:
            if not self._dropping:
                self._dropping = True
                log.warning("rate limit: %d token corrections wait for Redis; dropping the oldest",
                            self._max_pending)
            batch = batch[drop:]
        pending.extendleft(reversed(batch))

    async def flush(self) -> None:
        """Write every queued finish now (one script call per ``flush_batch``); what fails stays
        queued for the background writer."""
        while self._pending and await self._write_batch():
            pass

    async def aclose(self) -> None:
        """Write the queued finishes (once: what fails is dropped, with a warning), then close the
        Redis client."""
        flusher = self._flusher
        if flusher is not None:
            flusher.cancel()  # a batch it was writing goes back to the queue
            await asyncio.wait([flusher])
        await self.flush()
        if self._pending:
            log.warning("rate limit: %d token corrections dropped at shutdown", len(self._pending))
            self._pending.clear()
        await self._r.aclose()
