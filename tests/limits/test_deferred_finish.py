"""Redis limiter: ``finish`` of a request without a concurrency slot costs no round trip on the
request's path; its token correction reaches Redis in the background (every replica sees it within a
flush interval), on ``aclose``, and after a Redis outage (up to the queue's cap). A request holding a
concurrency slot still releases it before ``finish`` returns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from app.relay.limits import LimitRule, RedisLimiter
from tests.support.round_trips import CountingConnection, counting_redis
from tests.support.services import REDIS_URL, require

T0 = 1_000_000.0
TPM = LimitRule("account:1", tpm=1000)

MakeReplica = Callable[..., RedisLimiter]


class FlakyRedis(Redis):
    """A client whose commands fail while ``down`` (Redis unreachable)."""

    down = False

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.down:
            raise RedisConnectionError("Redis is down (test)")
        return await super().execute_command(*args, **options)


@pytest.fixture
async def make_replica(redis_prefix: str) -> AsyncIterator[MakeReplica]:
    """Builds replicas of one deployment (same prefix, each its own client); closes them after."""
    require("Redis", REDIS_URL)
    made: list[RedisLimiter] = []

    def make(redis: Redis | None = None, **options: Any) -> RedisLimiter:
        limiter = RedisLimiter(redis if redis is not None else Redis.from_url(REDIS_URL), prefix=redis_prefix,
                               **options)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


async def tokens_left(limiter: RedisLimiter, rule: LimitRule, now: float) -> int:
    """What the rule's TPM window has left, read with a request that can never fit (so is never
    recorded)."""
    assert rule.tpm is not None
    probe = await limiter.admit("probe", [rule], rule.tpm + 1, now)
    assert not probe.admitted and probe.tokens is not None
    return probe.tokens.remaining


async def eventually_left(limiter: RedisLimiter, rule: LimitRule, now: float, expected: int) -> None:
    left = None
    for _ in range(300):
        left = await tokens_left(limiter, rule, now)
        if left == expected:
            return
        await asyncio.sleep(0.01)
    assert left == expected


async def test_replicas_see_deferred_token_corrections_after_a_flush(make_replica: MakeReplica) -> None:
    a, b = make_replica(flush_interval=0.2), make_replica(flush_interval=0.2)
    assert (await a.admit("a1", [TPM], 600, now=T0)).admitted
    assert (await b.admit("b1", [TPM], 300, now=T0 + 1)).admitted
    await a.finish("a1", 100)  # both used far less than their estimates
    await b.finish("b1", 50)
    assert await tokens_left(a, TPM, T0 + 2) == 100  # not written yet: the estimates still count
    # Within a flush interval both replicas see the actual usage, as with synchronous finishes.
    await eventually_left(a, TPM, T0 + 2, 1000 - 150)
    assert await tokens_left(b, TPM, T0 + 2) == 850
    assert (await b.admit("b2", [TPM], 850, now=T0 + 3)).admitted


async def test_finish_without_a_concurrency_slot_makes_no_round_trip(make_replica: MakeReplica) -> None:
    limiter = make_replica(counting_redis(), flush_interval=60.0)  # writes only when asked, here
    rules = [LimitRule("key:1", rpm=100, tpm=10**6), LimitRule("account:1", tpm=10_000)]
    await limiter.admit("warm", rules, 10, now=T0)  # the first calls may load the scripts
    await limiter.finish("warm", 10)
    await limiter.flush()
    sent = CountingConnection.sent
    for i in range(20):
        assert (await limiter.admit(f"r{i}", rules, 100, now=T0 + 1)).admitted
        await limiter.finish(f"r{i}", 40)
    assert CountingConnection.sent - sent == 20  # the admissions alone
    await limiter.flush()
    assert CountingConnection.sent - sent == 21  # every correction in one script call
    assert await tokens_left(limiter, rules[1], T0 + 2) == 10_000 - 10 - 20 * 40
    # A request no rule limits was never recorded: its finish has nothing to do either.
    sent = CountingConnection.sent
    await limiter.admit("free", [LimitRule("key:1")], 100)
    await limiter.finish("free", 5)
    await limiter.flush()
    assert CountingConnection.sent == sent


async def test_a_sequential_client_with_max_concurrency_1_is_never_refused(make_replica: MakeReplica) -> None:
    # Slow background writes: the slot must not depend on them.
    replicas = [make_replica(flush_interval=60.0), make_replica(flush_interval=60.0)]
    rules = [LimitRule("key:1", rpm=1000, tpm=10**6, concurrency=1), LimitRule("account:1", tpm=10**6)]
    for i in range(40):
        limiter = replicas[i % 2]  # a load balancer alternating between replicas
        admission = await limiter.admit(f"r{i}", rules, 100, now=T0)  # no lease ever expires
        assert admission.admitted, (i, admission)
        await limiter.finish(f"r{i}", 30)
    # Without any background write, their corrections count too: a slot's finish writes its own.
    assert await tokens_left(replicas[0], rules[1], T0) == 10**6 - 40 * 30


async def test_aclose_writes_the_queued_finishes(make_replica: MakeReplica) -> None:
    a, b = make_replica(flush_interval=60.0), make_replica()
    assert (await a.admit("a1", [TPM], 700, now=T0)).admitted
    await a.finish("a1", 200)
    assert await tokens_left(b, TPM, T0 + 1) == 300
    await a.aclose()
    assert await tokens_left(b, TPM, T0 + 1) == 800


async def test_corrections_wait_out_a_redis_outage_up_to_the_cap(make_replica: MakeReplica,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    client = FlakyRedis.from_url(REDIS_URL)
    limiter = make_replica(client, flush_interval=0.02, max_pending=5)
    rule = LimitRule("account:1", tpm=10_000)
    for i in range(10):
        assert (await limiter.admit(f"r{i}", [rule], 100, now=T0)).admitted
    client.down = True
    with caplog.at_level(logging.INFO, logger="waystation.limits"):
        for i in range(10):
            await limiter.finish(f"r{i}", 10)  # no error: nothing waits for Redis
        await asyncio.sleep(0.15)  # several failed writes, backing off
        client.down = False
        # The 5 newest corrections reach Redis once it is back; the 5 oldest were dropped, so their
        # estimates count until they leave the window (an over-count, never an under-count).
        await eventually_left(limiter, rule, T0 + 1, 10_000 - 5 * 100 - 5 * 10)
    messages = [r.getMessage() for r in caplog.records]
    assert any("dropping the oldest" in m for m in messages)
    assert sum("failed" in m for m in messages) == 1  # one warning per outage, not per attempt
    assert any("reach Redis again" in m for m in messages)
