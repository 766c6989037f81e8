"""Auth and billing failures take a channel out of service, with an operator event; successful
probes bring it back."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.relay.health import disabled_channels
from tests.health.conftest import BookFactory, FakeClock, channel_id, events_of

Sessions = async_sessionmaker[AsyncSession]


async def test_an_auth_failure_disables_the_channel_and_writes_an_event(make_book: BookFactory,
                                                                        sessions: Sessions) -> None:
    book = make_book(sessions)
    cid = channel_id()
    await book.record(cid, True)
    await book.record(cid, False, kind="auth", detail="HTTP 401 invalid_api_key")
    assert not book.is_available(cid)
    assert not await book.admit(cid)
    stats = book.stats(cid)
    assert stats.state == "disabled"
    assert stats.disabled_reason == "auth: HTTP 401 invalid_api_key"
    await book.flush()
    assert await events_of(sessions, cid) == [("auto_disabled", "auth: HTTP 401 invalid_api_key")]


async def test_a_billing_failure_disables_the_channel(make_book: BookFactory, sessions: Sessions) -> None:
    book = make_book(sessions)
    cid = channel_id()
    await book.record(cid, False, kind="billing", detail="HTTP 402")
    assert book.stats(cid).state == "disabled"
    await book.record(cid, False, kind="billing")  # already disabled: no second event
    await book.flush()
    assert [kind for kind, _ in await events_of(sessions, cid)] == ["auto_disabled"]


async def test_two_successful_probes_re_enable_it(make_book: BookFactory, sessions: Sessions,
                                                   clock: FakeClock) -> None:
    book = make_book(sessions)
    cid = channel_id()
    await book.record(cid, False, kind="auth", detail="HTTP 401")
    await book.record(cid, True)  # a late answer of a request sent before: not a probe
    await book.record(cid, True, probe=True)
    assert not book.is_available(cid)
    await book.record(cid, False, kind="auth", probe=True, detail="GET /v1/models: HTTP 401")
    clock.advance(10)
    await book.record(cid, True, probe=True)
    assert not book.is_available(cid)  # the streak started again
    clock.advance(10)
    await book.record(cid, True, probe=True)
    assert book.is_available(cid)
    stats = book.stats(cid)
    assert (stats.state, stats.disabled_reason, stats.last_probe_ok) == ("closed", None, True)
    await book.flush()
    assert await events_of(sessions, cid) == [
        ("auto_disabled", "auth: HTTP 401"),
        ("probe_failed", "auth: GET /v1/models: HTTP 401"),
        ("re_enabled", "2 consecutive successful probes"),
    ]


async def test_opening_and_closing_are_operator_events_without_request_text(make_book: BookFactory,
                                                                            sessions: Sessions,
                                                                            clock: FakeClock) -> None:
    book = make_book(sessions)
    cid = channel_id()
    for _ in range(3):
        await book.record(cid, False, kind="http_5xx")
    clock.advance(5)
    await book.record(cid, False, kind="http_5xx")  # the trial failed: still the same outage
    clock.advance(10)
    await book.record(cid, True, probe=True)
    await book.flush()
    assert await events_of(sessions, cid) == [
        ("opened", "3 consecutive failures (last: http_5xx); no traffic for 5 s"),
        ("closed", "a probe succeeded after the cool-down"),
    ]


async def test_the_operator_can_re_enable_at_once(make_book: BookFactory, sessions: Sessions) -> None:
    book = make_book(sessions)
    cid = channel_id()
    await book.record(cid, False, kind="billing", detail="HTTP 402")
    await book.reset(cid)
    assert book.is_available(cid)
    await book.flush()
    assert [kind for kind, _ in await events_of(sessions, cid)] == ["auto_disabled", "re_enabled"]


async def test_an_auto_disabled_channel_stays_disabled_after_a_restart(make_book: BookFactory,
                                                                       sessions: Sessions) -> None:
    first = make_book(sessions)
    cid, other = channel_id(), channel_id()
    await first.record(cid, False, kind="auth", detail="HTTP 403")
    await first.record(other, False, kind="auth")
    await first.reset(other)
    await first.flush()
    async with sessions() as session:
        disabled = await disabled_channels(session)
    assert disabled.get(cid) == "auth: HTTP 403" and other not in disabled

    if make_book.kind == "redis":  # type: ignore[attr-defined]
        await first._r.delete(first._key(cid))  # Redis lost the circuit; the event log still knows
    second = make_book(sessions)
    await second.start()
    assert not second.is_available(cid)
    assert second.stats(cid).disabled_reason == "auth: HTTP 403"
    assert second.is_available(other)
