"""Several replicas share one circuit per channel through Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from app.relay.health import RedisHealth
from tests.health.conftest import FakeClock, channel_id


async def wait_until(condition: Callable[[], bool], within: float) -> float:
    """Seconds until ``condition`` held; fails past ``within``."""
    start = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - start
        assert elapsed < within, f"not within {within} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_a_circuit_opened_on_one_replica_is_honoured_by_another_within_a_second(
        make_replicas: Callable[..., RedisHealth], clock: FakeClock) -> None:
    a, b = make_replicas(refresh_every=0.5), make_replicas(refresh_every=0.5)
    await a.start()
    await b.start()
    cid = channel_id()
    await b.record(cid, True, ttfb_ms=40)  # b has seen the channel healthy
    assert b.is_available(cid)
    for _ in range(3):
        await a.record(cid, False, kind="connect")
    assert not a.is_available(cid)
    assert await wait_until(lambda: not b.is_available(cid), within=1.0) < 1.0
    assert b.stats(cid).state == "open"

    # After the cool-down, a trial through b closes it for a too.
    clock.advance(5)
    assert await b.admit(cid)
    assert not await a.admit(cid)  # one trial at a time, across replicas
    await b.record(cid, True, ttfb_ms=40)
    await wait_until(lambda: a.is_available(cid), within=1.0)
    assert a.stats(cid).state == "closed"


async def test_failures_from_every_replica_add_up(make_replicas: Callable[..., RedisHealth]) -> None:
    replicas = [make_replicas() for _ in range(3)]
    cid = channel_id()
    for book in replicas:  # one failure each: none of them alone saw three
        await book.record(cid, False, kind="http_5xx")
    assert not replicas[-1].is_available(cid)
    await replicas[0].refresh()
    assert replicas[0].stats(cid).consecutive_failures == 3


async def test_only_one_replica_probes_a_channel_per_interval(make_replicas: Callable[..., RedisHealth],
                                                              clock: FakeClock) -> None:
    a, b = make_replicas(), make_replicas()
    cid = channel_id()
    claims = await asyncio.gather(a.claim_probe(cid, 30), b.claim_probe(cid, 30))
    assert sorted(claims) == [False, True]
    assert not await a.claim_probe(cid, 30)
    clock.advance(30)
    assert await b.claim_probe(cid, 30)
    assert not await a.claim_probe(cid, 30)


async def test_a_refresh_does_not_undo_a_newer_local_update(make_replicas: Callable[..., RedisHealth]) -> None:
    a = make_replicas()
    cid = channel_id()
    refreshing = asyncio.create_task(a.refresh())
    for _ in range(3):
        await a.record(cid, False, kind="connect")
    await refreshing
    assert not a.is_available(cid)
