"""Rate limits (in-process and Redis): exact sliding windows under concurrency, all-or-nothing
admission across scopes, finish with actual usage, crash-safe concurrency leases, the headers, and
for Redis one global limit shared by several replicas in one round trip per admission."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from app.relay.limits import (
    ADMITTED,
    Admission,
    Limiter,
    LimitRule,
    LocalLimiter,
    Quota,
    RedisLimiter,
    format_reset,
    rate_limit_headers,
)
from tests.support.services import REDIS_URL, require

T0 = 1_000_000.0  # an arbitrary starting time (seconds) for tests that drive the clock

MakeLimiter = Callable[..., Limiter]


class CountingRedis(Redis):
    """Counts commands sent (each ``execute_command`` is one round trip outside pipelines)."""

    sent = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent += 1
        return await super().execute_command(*args, **options)


@pytest.fixture(params=["local", "redis"])
async def make_limiter(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[MakeLimiter]:
    """Builds limiters; in Redis mode every limiter of one test is a replica of the same deployment
    (same prefix, its own client)."""
    made: list[Limiter] = []
    if request.param == "redis":
        require("Redis", REDIS_URL)

    def make(**options: Any) -> Limiter:
        limiter: Limiter
        if request.param == "local":
            limiter = LocalLimiter(**options)
        else:
            limiter = RedisLimiter(Redis.from_url(REDIS_URL), prefix=redis_prefix, **options)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


async def admit_many(limiter: Limiter, n: int, rules: list[LimitRule], tokens: int = 1,
                     now: float | None = None, tag: str = "r") -> list[Admission]:
    return await asyncio.gather(*(limiter.admit(f"{tag}{i}", rules, tokens, now) for i in range(n)))


def admitted(results: list[Admission]) -> int:
    return sum(a.admitted for a in results)


async def written(limiter: Limiter) -> None:
    """Wait for finishes the Redis limiter writes in the background (the in-process one has none)."""
    if isinstance(limiter, RedisLimiter):
        await limiter.flush()


async def test_rpm_is_exact_under_200_concurrent_admissions(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    rules = [LimitRule("key:1", rpm=50)]
    results = await admit_many(limiter, 200, rules)  # the limiter's own clock
    assert admitted(results) == 50
    refused = [a for a in results if not a.admitted]
    assert {(a.scope, a.dimension) for a in refused} == {("key:1", "requests")}
    assert all(a.retry_after is not None and 59 < a.retry_after <= 60 for a in refused)
    assert all(a.requests is not None and a.requests.remaining == 0 for a in refused)


async def test_the_window_slides_budget_returns_after_60s_not_at_30s(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    rules = [LimitRule("key:1", rpm=10)]
    assert admitted(await admit_many(limiter, 10, rules, now=T0, tag="a")) == 10
    half = await limiter.admit("b", rules, 1, now=T0 + 30)
    assert not half.admitted and half.retry_after == pytest.approx(30)
    assert not (await limiter.admit("c", rules, 1, now=T0 + 59.9)).admitted
    assert admitted(await admit_many(limiter, 12, rules, now=T0 + 60, tag="d")) == 10


async def test_a_sliding_window_has_no_boundary_burst(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    rules = [LimitRule("key:1", rpm=10)]
    assert admitted(await admit_many(limiter, 6, rules, now=T0, tag="a")) == 6
    assert admitted(await admit_many(limiter, 6, rules, now=T0 + 40, tag="b")) == 4
    # At T0 + 60 only the 6 from T0 have left: 6 fit, not a fresh 10 (a fixed window would allow 10).
    after = await admit_many(limiter, 10, rules, now=T0 + 60, tag="c")
    assert admitted(after) == 6
    assert next(a for a in after if not a.admitted).retry_after == pytest.approx(40)


async def test_tpm_counts_estimates_and_finish_with_actual_usage_frees_budget(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    rules = [LimitRule("key:1", tpm=1000)]
    first = await limiter.admit("a", rules, 600, now=T0)
    assert first.admitted and first.tokens == Quota(1000, 400, 60.0)
    second = await limiter.admit("b", rules, 600, now=T0 + 1)
    assert not second.admitted and second.dimension == "tokens"
    assert second.tokens is not None and second.tokens.remaining == 400
    await limiter.finish("a", 100)  # the request used far less than its estimate
    await written(limiter)
    third = await limiter.admit("c", rules, 600, now=T0 + 2)
    assert third.admitted and third.tokens is not None and third.tokens.remaining == 300
    await limiter.finish("a", 999)  # a repeated finish changes nothing
    await limiter.finish("never-admitted", 5)
    assert (await limiter.admit("d", rules, 300, now=T0 + 3)).admitted
    # Actual usage larger than the estimate is counted too.
    await limiter.finish("d", 500)
    await written(limiter)
    refused = await limiter.admit("e", rules, 1, now=T0 + 4)
    assert not refused.admitted and refused.tokens is not None and refused.tokens.remaining == 0


async def test_concurrency_limit_and_finish_releases_the_slot(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(busy_retry=1.0)
    rules = [LimitRule("key:1", concurrency=2)]
    assert admitted(await admit_many(limiter, 5, rules, now=T0)) == 2
    busy = await limiter.admit("x", rules, 1, now=T0 + 1)
    assert (busy.admitted, busy.scope, busy.dimension, busy.retry_after) == (False, "key:1", "concurrency", 1.0)
    assert busy.requests is None and busy.tokens is None and rate_limit_headers(busy) == {
        "retry-after": "1", "retry-after-ms": "1000"}
    await limiter.finish("r0", None)
    assert (await limiter.admit("y", rules, 1, now=T0 + 2)).admitted
    assert not (await limiter.admit("z", rules, 1, now=T0 + 3)).admitted


async def test_expired_concurrency_leases_stop_counting(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(lease=5.0)
    rules = [LimitRule("key:1", concurrency=1)]
    assert (await limiter.admit("crashed", rules, 1, now=T0)).admitted  # never finished
    assert not (await limiter.admit("a", rules, 1, now=T0 + 4.9)).admitted
    assert (await limiter.admit("b", rules, 1, now=T0 + 5)).admitted
    await limiter.finish("crashed", 1)  # a late finish must not free b's slot
    assert not (await limiter.admit("c", rules, 1, now=T0 + 6)).admitted


async def test_a_refusal_on_one_rule_records_nothing_on_the_others(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    key = LimitRule("key:12", rpm=10, tpm=1000, concurrency=2)
    account = LimitRule("account:5", rpm=1)
    assert (await limiter.admit("a", [key, account], 100, now=T0)).admitted
    for i in range(5):
        refused = await limiter.admit(f"b{i}", [key, account], 100, now=T0 + 1)
        assert (refused.admitted, refused.scope, refused.dimension) == (False, "account:5", "requests")
    # The key counted only the one admitted request: its requests, tokens and slots.
    alone = await limiter.admit("c", [key], 100, now=T0 + 2)
    assert alone.admitted
    assert alone.requests == Quota(10, 8, 58.0) and alone.tokens == Quota(1000, 800, 58.0)
    assert not (await limiter.admit("d", [key], 100, now=T0 + 3)).admitted  # 2 slots: a and c


async def test_retry_after_and_headers_follow_the_tightest_rules(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    key = LimitRule("key:1", rpm=3, tpm=1000)
    account = LimitRule("account:2", rpm=2, tpm=5000)
    plan = LimitRule("plan:pro")  # no dimension: ignored
    first = await limiter.admit("a", [key, account, plan], 400, now=T0)
    assert rate_limit_headers(first) == {
        "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "600",
        "x-ratelimit-reset-tokens": "1m0s",
    }
    second = await limiter.admit("b", [key, account, plan], 400, now=T0 + 10.5)
    assert second.requests == Quota(2, 0, 49.5) and second.tokens == Quota(1000, 200, 49.5)
    third = await limiter.admit("c", [key, account, plan], 100, now=T0 + 20)
    assert (third.admitted, third.scope, third.dimension, third.retry_after) == (False, "account:2", "requests", 40)
    assert rate_limit_headers(third) == {
        "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "40s",
        "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "200",
        "x-ratelimit-reset-tokens": "40s",
        "retry-after": "40", "retry-after-ms": "40000",
    }
    # Only the key: 500 tokens need the first request's 400 to leave (at T0 + 60)...
    tokens_only = [LimitRule("key:1", tpm=1000)]
    refused = await limiter.admit("d", tokens_only, 500, now=T0 + 20)
    assert (refused.dimension, refused.retry_after) == ("tokens", 40)
    # ...700 tokens need both to leave (the second at T0 + 70.5)...
    refused = await limiter.admit("e", tokens_only, 700, now=T0 + 20)
    assert (refused.dimension, refused.retry_after) == ("tokens", 50.5)
    # ...and more than the limit never fits: no Retry-After.
    never = await limiter.admit("f", tokens_only, 1001, now=T0 + 20)
    assert (never.admitted, never.dimension, never.retry_after) == (False, "tokens", None)
    assert "retry-after" not in rate_limit_headers(never)
    # When several rules refuse, the one to wait longest for is reported.
    both = await limiter.admit("g", [key, account], 900, now=T0 + 20)
    assert (both.scope, both.dimension, both.retry_after) == ("key:1", "tokens", 50.5)


async def test_no_rules_admit_without_counting(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    assert await limiter.admit("a", [], 10**9, now=T0) is ADMITTED
    assert await limiter.admit("b", [LimitRule("key:1"), LimitRule("account:1")], 5, now=T0) is ADMITTED
    assert rate_limit_headers(ADMITTED) == {}
    await limiter.finish("a", 10)


def test_reset_durations_are_written_like_openai() -> None:
    assert [format_reset(s) for s in (0, -1, 0.0004, 0.02, 1, 1.5, 17.28, 60, 179.56, 3725)] == [
        "0s", "0s", "1ms", "20ms", "1s", "1.5s", "17.28s", "1m0s", "2m59.56s", "1h2m5s"]


# ---------------------------------------------------------------- Redis only: several replicas


@pytest.fixture
def redis_replicas(redis_prefix: str) -> Callable[[int], list[tuple[RedisLimiter, CountingRedis]]]:
    require("Redis", REDIS_URL)

    def make(n: int) -> list[tuple[RedisLimiter, CountingRedis]]:
        replicas = []
        for _ in range(n):
            client = CountingRedis.from_url(REDIS_URL)
            replicas.append((RedisLimiter(client, prefix=redis_prefix), client))
        return replicas

    return make


async def test_two_replicas_share_one_global_rpm_limit(redis_replicas) -> None:
    (a, _), (b, _) = redis_replicas(2)
    rules = [LimitRule("account:9", rpm=30)]
    try:
        results = await asyncio.gather(*((a if i % 2 else b).admit(f"r{i}", rules, 1) for i in range(100)))
        assert admitted(results) == 30
        # Each replica sees what the other admitted.
        assert not (await a.admit("late-a", rules, 1)).admitted
        assert not (await b.admit("late-b", rules, 1)).admitted
    finally:
        await a.aclose()
        await b.aclose()


async def test_one_redis_round_trip_per_admission_and_per_finish(redis_replicas) -> None:
    ((limiter, client),) = redis_replicas(1)
    rules = [LimitRule("key:1", rpm=100, tpm=10**6, concurrency=10), LimitRule("account:1", rpm=1000),
             LimitRule("plan:pro", tpm=10**7), LimitRule("subtree:3", concurrency=50)]
    try:
        await limiter.admit("warm", rules, 10)  # the first call may load the script
        await limiter.finish("warm", 5)
        for i in range(20):
            before = client.sent
            assert (await limiter.admit(f"r{i}", rules, 10)).admitted
            assert client.sent - before == 1
            before = client.sent
            await limiter.finish(f"r{i}", 7)
            assert client.sent - before == 1
        before = client.sent
        assert await limiter.admit("none", [LimitRule("key:1")], 10) is ADMITTED
        assert client.sent == before  # nothing to check: Redis is not asked
    finally:
        await limiter.aclose()
