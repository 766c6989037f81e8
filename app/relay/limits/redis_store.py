"""Redis limiter: one set of limits shared by every replica.

Each ``admit`` is one ``EVALSHA`` (one round trip): the script checks every rule and records the
request in every scope only if all of them have room, atomically, so N replicas admitting at once
never overshoot a limit. ``finish`` is one more. See :mod:`app.relay.limits.scripts` for the keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from app.relay.limits.base import ADMITTED, Admission, Dimension, LimitRule, Quota
from app.relay.limits.scripts import ADMIT, FINISH

PREFIX = "ws:"
_DIMENSIONS: tuple[Dimension | None, ...] = (None, "requests", "tokens", "concurrency")


class RedisLimiter:
    """Rate limits shared through Redis. ``lease``: seconds a concurrency slot lasts without
    ``finish`` (the longest a request may run; one value for the whole deployment); ``busy_retry``:
    the ``retry_after`` of a concurrency refusal. Keys live under ``{prefix}rl:``."""

    def __init__(self, redis: Redis, *, prefix: str = PREFIX, lease: float = 600.0, busy_retry: float = 1.0) -> None:
        self._r = redis
        self._p = prefix + "rl:"
        self._lease_ms = round(lease * 1000)
        self._busy_ms = round(busy_retry * 1000)
        self._admit = redis.register_script(ADMIT)
        self._finish = redis.register_script(FINISH)

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
        keys = [f"{p}q:{request_id}"]
        args: list[Any] = [request_id, tokens if tokens > 0 else 0, "" if now is None else round(now * 1000),
                           self._lease_ms, self._busy_ms]
        for rule in rules:
            rpm, tpm, conc = rule.rpm, rule.tpm, rule.concurrency
            if rpm is None and tpm is None and conc is None:
                continue
            active.append(rule)
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
            return Admission(True, requests=requests, tokens=tokens_quota)
        return Admission(False, active[deny_i - 1].scope, _DIMENSIONS[deny_dim],
                         None if deny_ms < 0 else deny_ms / 1000, requests, tokens_quota)

    async def finish(self, request_id: str, actual_tokens: int | None) -> None:
        """See :meth:`Limiter.finish`: one round trip."""
        actual: int | str = "" if actual_tokens is None else max(actual_tokens, 0)
        await self._eval(self._finish, 1, f"{self._p}q:{request_id}", request_id, self._p, actual)

    async def aclose(self) -> None:
        """Close the Redis client."""
        await self._r.aclose()
