"""With Redis, a success on a healthy channel costs the request no round trip: the replica applies
it to its own view at once and writes it in the background. Failures still reach the shared book
before ``record`` returns, so other replicas stop sending to a broken channel as before, and what
the shared book ends up with is what recording every outcome in Redis in turn gives."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError

from app.relay.health import ChannelHealth, HealthPolicy, LocalHealth, RedisHealth
from tests.health.conftest import FakeClock, channel_id
from tests.support.round_trips import CountingConnection, counting_redis

Replicas = Callable[..., RedisHealth]
#: Long enough that nothing is written in the background during a test.
NEVER = 3600.0


async def wait_until(condition: Callable[[], bool], within: float) -> None:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < within, f"not within {within} s"
        await asyncio.sleep(0.01)


def assert_same(expected: ChannelHealth, got: ChannelHealth) -> None:
    """Equal, up to float rounding in the latency average and Redis keeping times in ms."""
    a, b = msgspec.structs.asdict(expected), msgspec.structs.asdict(got)
    for name, value in a.items():
        other = b[name]
        if isinstance(value, datetime) and isinstance(other, datetime):
            assert abs((value - other).total_seconds()) < 0.002, name
        elif isinstance(value, float) and isinstance(other, float):
            assert abs(value - other) <= 1e-6 * max(1.0, abs(value)), name
        else:
            assert value == other, (name, a, b)


async def test_a_success_on_a_healthy_channel_costs_no_round_trip(make_replicas: Replicas) -> None:
    a = make_replicas(redis=counting_redis(), flush_every=NEVER, refresh_every=NEVER)
    cid = channel_id()
    await a.record(channel_id(), False, kind="connect")  # connect, load the script
    before = CountingConnection.sent
    for i in range(100):
        await a.record(cid, True, ttfb_ms=20 + i)
    assert CountingConnection.sent == before
    assert a.stats(cid).attempts == 100  # this replica sees them at once
    # The next failure is one round trip, and lands after the successes.
    await a.record(cid, False, kind="http_5xx")
    assert CountingConnection.sent - before == 1
    b = make_replicas()
    await b.refresh()
    stats = b.stats(cid)
    assert (stats.attempts, stats.failures, stats.consecutive_failures) == (101, 1, 1)
    assert_same(a.stats(cid), stats)


async def test_deferred_successes_reach_the_other_replicas_in_the_background(make_replicas: Replicas) -> None:
    a, b = make_replicas(flush_every=0.05), make_replicas(refresh_every=0.1)
    await a.start()
    await b.start()
    cid = channel_id()
    for i in range(20):
        await a.record(cid, True, ttfb_ms=100 + 10 * i)
    await wait_until(lambda: b.stats(cid).attempts == 20, within=2.0)
    assert_same(a.stats(cid), b.stats(cid))
    assert b.stats(cid).ewma_ttfb_ms is not None


async def test_a_circuit_opened_by_another_replica_is_honoured_and_stays_open(make_replicas: Replicas,
                                                                               clock: FakeClock) -> None:
    a, b = make_replicas(flush_every=NEVER, refresh_every=NEVER), make_replicas()
    cid = channel_id()
    for _ in range(5):
        await a.record(cid, True, ttfb_ms=30)  # deferred, not written yet
    clock.advance(0.5)
    for _ in range(3):
        await b.record(cid, False, kind="connect")
    assert not b.is_available(cid)
    await a.refresh()
    assert not a.is_available(cid) and a.stats(cid).attempts == 8  # the shared 3 and its own 5
    await a.flush()  # the successes came before those failures: the run of three stands
    await b.refresh()
    stats = b.stats(cid)
    assert (stats.state, stats.attempts, stats.consecutive_failures) == ("open", 8, 3)


async def test_a_success_after_failures_is_shared_at_once(make_replicas: Replicas, clock: FakeClock) -> None:
    a, b = make_replicas(flush_every=NEVER, refresh_every=NEVER), make_replicas()
    cid = channel_id()
    for _ in range(2):
        await a.record(cid, False, kind="timeout")
    clock.advance(0.1)
    await a.record(cid, True)  # ends the run: written before record returns
    clock.advance(0.1)
    await b.record(cid, False, kind="timeout")
    assert b.is_available(cid) and b.stats(cid).consecutive_failures == 1


async def test_deferred_successes_count_in_the_error_rate_window(make_replicas: Replicas) -> None:
    policy = HealthPolicy(failure_threshold=100)
    a, b = make_replicas(policy=policy, flush_every=NEVER), make_replicas(policy=policy)
    cid = channel_id()
    for _ in range(11):
        await a.record(cid, True)
    await a.flush()
    for _ in range(10):
        await b.record(cid, False, kind="http_5xx")
    assert b.is_available(cid)  # 10 of 21 failed
    await b.record(cid, False, kind="http_5xx")
    assert not b.is_available(cid)  # 11 of 22
    assert b.stats(cid).window_attempts == 22


async def test_a_success_written_later_still_ends_an_earlier_run_of_failures(make_replicas: Replicas,
                                                                            clock: FakeClock) -> None:
    a, b = make_replicas(flush_every=NEVER, refresh_every=NEVER), make_replicas()
    cid = channel_id()
    for _ in range(2):
        await b.record(cid, False, kind="timeout")
    clock.advance(0.1)
    await a.record(cid, True)  # a has not seen those failures: deferred
    await a.flush()
    clock.advance(0.1)
    await b.record(cid, False, kind="timeout")
    assert b.is_available(cid) and b.stats(cid).consecutive_failures == 1


async def test_late_successes_written_after_a_close_do_not_count_in_the_fresh_window(make_replicas: Replicas,
                                                                                    clock: FakeClock) -> None:
    a, b = make_replicas(flush_every=NEVER, refresh_every=NEVER), make_replicas()
    cid = channel_id()
    for _ in range(3):
        await b.record(cid, False, kind="connect")
    clock.advance(0.1)
    for _ in range(5):  # answers to requests a sent before it knew: deferred
        await a.record(cid, True)
    clock.advance(5)
    assert await b.admit(cid)
    await b.record(cid, True)  # the trial closes the circuit: a fresh window
    await a.refresh()  # its own successes on top of the shared state
    await a.flush()
    await b.refresh()
    for book in (a, b):
        stats = book.stats(cid)
        assert (stats.state, stats.attempts, stats.window_attempts) == ("closed", 9, 0)


async def test_a_success_recorded_while_a_failure_is_in_flight_is_kept(make_replicas: Replicas) -> None:
    a, b = make_replicas(flush_every=NEVER, refresh_every=NEVER), make_replicas()
    cid = channel_id()
    failing = asyncio.create_task(a.record(cid, False, kind="timeout"))
    await asyncio.sleep(0)  # the failure's script is on its way
    await a.record(cid, True, ttfb_ms=50)  # the circuit still looks clean here: deferred
    await failing
    assert a.stats(cid).attempts == 2 and a.stats(cid).ewma_ttfb_ms == 50
    await a.flush()
    await b.refresh()
    assert b.stats(cid).attempts == 2


async def test_a_failed_write_is_retried_with_what_came_since(make_replicas: Replicas) -> None:
    a, b = make_replicas(flush_every=NEVER), make_replicas()
    reference = LocalHealth()
    cid = channel_id()
    real = a._successes
    calls = 0

    async def down_once(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # more successes arrive while the write is in flight, then it fails
            for book in (a, reference):
                for i in range(3):
                    await book.record(cid, True, ttfb_ms=200 + i)
            raise RedisConnectionError("Redis is restarting")
        return await real(**kwargs)

    a._successes = down_once  # type: ignore[assignment]
    for book in (a, reference):
        for i in range(5):
            await book.record(cid, True, ttfb_ms=10 * i)
    await a.flush()  # fails: kept for the next write, before what came since
    assert_same(reference.stats(cid), a.stats(cid))
    await a.flush()
    await b.refresh()
    assert calls == 2 and b.stats(cid).attempts == 8
    assert_same(reference.stats(cid), b.stats(cid))


async def test_successes_before_a_failure_recorded_while_redis_is_down_are_kept(make_replicas: Replicas) -> None:
    a, b = make_replicas(flush_every=NEVER), make_replicas()
    cid = channel_id()
    real = a._record

    async def down(**kwargs: Any) -> Any:
        raise RedisConnectionError("Redis is restarting")

    for _ in range(4):
        await a.record(cid, True)
    a._record = down  # type: ignore[assignment]
    await a.record(cid, False, kind="timeout")  # only this replica knows of this one
    a._record = real  # type: ignore[assignment]
    assert (a.stats(cid).attempts, a.stats(cid).consecutive_failures) == (5, 1)
    await a.flush()
    await b.refresh()
    assert b.stats(cid).attempts == 4


async def test_one_replica_ends_up_where_recording_each_outcome_in_turn_does(make_replicas: Replicas,
                                                                              clock: FakeClock) -> None:
    """Random traffic with failures, outages, trials, probes and an auth failure: the Redis book's
    own view after every outcome, and the shared book after every write, match the in-process
    book that applies each outcome as it comes."""
    rng = random.Random(20261122)
    shared = make_replicas(flush_every=NEVER, refresh_every=NEVER)
    local = LocalHealth(clock=clock)
    cid = channel_id()
    for step in range(1500):
        clock.advance(rng.choice((0.0, 0.0, 0.013, 0.4, 1.7, 6.1)))
        healthy = (step // 100) % 2 == 0  # alternating good and bad periods
        if step in (640, 1240):  # the upstream account's key is revoked
            for book in (local, shared):
                await book.record(cid, False, kind="auth", detail="HTTP 401")
        elif rng.random() < 0.1:
            ok = rng.random() < (0.9 if healthy else 0.3)
            kind = None if ok else rng.choice(("connect", "timeout"))
            for book in (local, shared):
                await book.record(cid, ok, kind=kind, probe=True)
        else:
            admitted = await local.admit(cid)
            assert await shared.admit(cid) == admitted
            if not admitted:
                continue
            ok = rng.random() < (0.95 if healthy else 0.4)
            kind = None if ok else rng.choice(("connect", "http_5xx", "timeout", "http_429", "overloaded"))
            ttfb = rng.uniform(5, 500) if ok and rng.random() < 0.9 else None
            for book in (local, shared):
                await book.record(cid, ok, kind=kind, ttfb_ms=ttfb)
        assert_same(local.stats(cid), shared.stats(cid))
        if step % 75 == 74:
            await shared.flush()
            other = make_replicas(flush_every=NEVER, refresh_every=NEVER)
            await other.refresh()
            assert_same(local.stats(cid), other.stats(cid))
