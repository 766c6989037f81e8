"""The circuit breaker, in-process and in Redis: the same behaviour, driven by a fake clock."""

from __future__ import annotations

import asyncio

from app.relay.health import HealthPolicy
from tests.health.conftest import BookFactory, FakeClock, channel_id


async def fail(book, cid: int, times: int = 1, kind: str = "connect") -> None:
    for _ in range(times):
        await book.record(cid, False, kind=kind)


async def succeed(book, cid: int, times: int = 1, ttfb_ms: float | None = None) -> None:
    for _ in range(times):
        await book.record(cid, True, ttfb_ms=ttfb_ms)


async def test_an_unknown_channel_is_available(make_book: BookFactory) -> None:
    book = make_book()
    cid = channel_id()
    assert book.is_available(cid)
    assert await book.admit(cid)
    assert book.stats(cid).state == "closed"


async def test_three_consecutive_failures_open_the_circuit(make_book: BookFactory) -> None:
    book = make_book()
    cid = channel_id()
    await fail(book, cid, 2)
    assert book.is_available(cid)
    await fail(book, cid)
    assert not book.is_available(cid)
    assert not await book.admit(cid)
    stats = book.stats(cid)
    assert (stats.state, stats.consecutive_failures, stats.last_failure_kind) == ("open", 3, "connect")
    assert stats.opened_at is not None and stats.cooldown_seconds == 5.0


async def test_a_success_between_failures_keeps_the_circuit_closed(make_book: BookFactory) -> None:
    book = make_book()
    cid = channel_id()
    for _ in range(4):  # at most 8 of 20 failed: under the error rate too
        await succeed(book, cid, 3)
        await fail(book, cid, 2)
    await succeed(book, cid)
    assert book.is_available(cid)
    assert book.stats(cid).consecutive_failures == 0


async def test_half_the_attempts_failing_in_the_window_opens_the_circuit(make_book: BookFactory,
                                                                         clock: FakeClock) -> None:
    book = make_book()
    cid = channel_id()
    # Never three failures in a row, but 5 of 10 fail within 30 s.
    for _ in range(4):
        await fail(book, cid, 1)
        await succeed(book, cid)
        clock.advance(1)
    await succeed(book, cid)
    assert book.is_available(cid)
    await fail(book, cid)
    stats = book.stats(cid)
    assert stats.state == "open"
    assert (stats.window_attempts, stats.window_failures, stats.error_rate) == (10, 5, 0.5)


async def test_failures_older_than_the_window_do_not_count(make_book: BookFactory, clock: FakeClock) -> None:
    book = make_book()
    cid = channel_id()
    for _ in range(4):
        await succeed(book, cid, 3)
        await fail(book, cid, 2)
    await succeed(book, cid)
    clock.advance(31)
    for _ in range(2):
        await fail(book, cid, 1)
        await succeed(book, cid, 2)
    stats = book.stats(cid)
    assert stats.state == "closed"
    assert (stats.window_attempts, stats.window_failures) == (6, 2)
    assert (stats.attempts, stats.failures) == (27, 10)


async def test_fewer_attempts_than_the_minimum_never_trip_the_error_rate(make_book: BookFactory) -> None:
    book = make_book(policy=HealthPolicy(failure_threshold=100))
    cid = channel_id()
    for _ in range(9):
        await fail(book, cid)
    assert book.is_available(cid)
    await fail(book, cid)  # the tenth attempt: 10 of 10 failed
    assert not book.is_available(cid)


async def test_after_the_cooldown_one_trial_goes_at_a_time(make_book: BookFactory, clock: FakeClock) -> None:
    book = make_book()
    cid = channel_id()
    await fail(book, cid, 3)
    clock.advance(4.9)
    assert not book.is_available(cid)
    clock.advance(0.1)
    assert book.stats(cid).state == "half_open"
    assert book.is_available(cid) and book.needs_trial(cid)
    assert await book.acquire_trial(cid)
    assert not await book.acquire_trial(cid)
    assert not await book.admit(cid)
    assert not book.is_available(cid)  # the trial holds the lease
    clock.advance(10)  # the trial never reported back: its lease ran out
    assert book.is_available(cid)
    assert await book.admit(cid)


async def test_concurrent_trial_requests_admit_exactly_one(make_book: BookFactory, clock: FakeClock) -> None:
    book = make_book()
    cid = channel_id()
    await fail(book, cid, 3)
    clock.advance(5)
    granted = await asyncio.gather(*(book.admit(cid) for _ in range(20)))
    assert granted.count(True) == 1


async def test_a_successful_trial_closes_the_circuit(make_book: BookFactory, clock: FakeClock) -> None:
    book = make_book()
    cid = channel_id()
    await fail(book, cid, 3)
    clock.advance(5)
    assert await book.admit(cid)
    await succeed(book, cid, ttfb_ms=80)
    stats = book.stats(cid)
    assert stats.state == "closed" and book.is_available(cid)
    assert (stats.consecutive_failures, stats.window_attempts, stats.opened_at) == (0, 0, None)
    # A fresh start: two failures are not enough to open it again.
    await fail(book, cid, 2)
    assert book.is_available(cid)


async def test_a_failed_trial_reopens_with_a_doubled_cooldown_up_to_the_maximum(make_book: BookFactory,
                                                                                clock: FakeClock) -> None:
    book = make_book()
    cid = channel_id()
    await fail(book, cid, 3)
    cooldowns = []
    for _ in range(6):
        cooldown = book.stats(cid).cooldown_seconds
        cooldowns.append(cooldown)
        clock.advance(cooldown - 0.5)
        assert not book.is_available(cid)
        clock.advance(0.5)
        assert await book.admit(cid)
        await fail(book, cid)
    assert cooldowns == [5, 10, 20, 40, 60, 60]
    assert book.stats(cid).state == "open"


async def test_late_answers_while_open_change_nothing(make_book: BookFactory, clock: FakeClock) -> None:
    book = make_book()
    cid = channel_id()
    await fail(book, cid, 3)
    await succeed(book, cid)  # a request sent before it opened
    await fail(book, cid, 5)
    clock.advance(1)
    stats = book.stats(cid)
    assert stats.state == "open" and stats.cooldown_seconds == 5


async def test_opening_again_soon_after_closing_doubles_the_cooldown(make_book: BookFactory,
                                                                     clock: FakeClock) -> None:
    book = make_book()
    cid = channel_id()
    await fail(book, cid, 3)
    clock.advance(5)
    await succeed(book, cid)
    await fail(book, cid, 3)  # flapping: it just came back
    assert book.stats(cid).cooldown_seconds == 10
    clock.advance(10)
    await succeed(book, cid)
    clock.advance(60)  # healthy for a while: the next outage starts from the base again
    await fail(book, cid, 3)
    assert book.stats(cid).cooldown_seconds == 5


async def test_ewma_of_time_to_first_byte(make_book: BookFactory) -> None:
    book = make_book()
    cid = channel_id()
    assert book.stats(cid).ewma_ttfb_ms is None
    await succeed(book, cid, ttfb_ms=100)
    assert book.stats(cid).ewma_ttfb_ms == 100
    await succeed(book, cid, ttfb_ms=200)
    assert abs(book.stats(cid).ewma_ttfb_ms - 120) < 1e-6  # 0.2 * 200 + 0.8 * 100
    await fail(book, cid, kind="timeout")
    await book.record(cid, True, probe=True)
    await succeed(book, cid)  # no sample
    assert abs(book.stats(cid).ewma_ttfb_ms - 120) < 1e-6
    for _ in range(30):
        await succeed(book, cid, ttfb_ms=50)
    assert abs(book.stats(cid).ewma_ttfb_ms - 50) < 1


async def test_all_stats_lists_channels_with_history(make_book: BookFactory) -> None:
    book = make_book()
    a, b = sorted((channel_id(), channel_id()))
    await succeed(book, a, ttfb_ms=10)
    await fail(book, b, 3)
    by_id = {s.channel_id: s for s in book.all_stats()}
    assert by_id[a].state == "closed" and by_id[b].state == "open"
