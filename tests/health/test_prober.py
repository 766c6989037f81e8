"""Active probes against fake providers on 127.0.0.1: each type with its own auth, a wrong key, a
provider that dies and comes back on the same port."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.relay.channels import Route
from app.relay.health import HealthBook, LocalHealth, Prober, ProbeResult, ProbeSchedule, RedisHealth
from tests.fakes import FakeProvider, ProviderServer, refused_url
from tests.health.conftest import BookFactory, FakeClock, channel_id, events_of, make_route

SCHEDULE = ProbeSchedule(interval=30, open_interval=1, disabled_interval=10, timeout=2, jitter=False)


@pytest.fixture
def servers() -> Iterator[dict[str, ProviderServer]]:
    running = {kind: ProviderServer(FakeProvider(kind, api_key=f"{kind}-key")).start()
               for kind in ("openai", "anthropic", "gemini")}
    yield running
    for server in running.values():
        server.stop()


def routes_of(*routes: Route) -> Callable[[], asyncio.Future[Sequence[Route]]]:
    table = list(routes)

    async def source() -> Sequence[Route]:
        return table

    source.table = table  # type: ignore[attr-defined]
    return source  # type: ignore[return-value]


async def round_of(prober: Prober) -> list[ProbeResult | None]:
    return list(await asyncio.gather(*await prober.run_once()))


async def test_each_provider_type_is_probed_with_its_own_auth(servers: dict[str, ProviderServer],
                                                              clock: FakeClock) -> None:
    openai, anthropic, gemini = servers["openai"], servers["anthropic"], servers["gemini"]
    routes = [
        make_route(channel_id(), "openai", openai.url("/v1"), "openai-key"),
        make_route(channel_id(), "anthropic", anthropic.base_url, "anthropic-key"),
        make_route(channel_id(), "gemini", gemini.base_url, "gemini-key"),
        make_route(channel_id(), "demo", "demo://local"),
    ]
    health = LocalHealth(clock=clock)
    prober = Prober(health, routes_of(*routes), schedule=SCHEDULE, clock=clock)
    try:
        results = await round_of(prober)
    finally:
        await prober.aclose()
    assert [r.ok for r in results] == [True, True, True, True]
    seen = [(s.provider.requests[-1].method, s.provider.requests[-1].path) for s in (openai, anthropic, gemini)]
    assert seen == [("GET", "/v1/models"), ("GET", "/v1/models"), ("GET", "/v1beta/models")]
    assert openai.provider.requests[-1].headers["authorization"] == "Bearer openai-key"
    assert anthropic.provider.requests[-1].headers["x-api-key"] == "anthropic-key"
    assert anthropic.provider.requests[-1].headers["anthropic-version"]
    assert gemini.provider.requests[-1].headers["x-goog-api-key"] == "gemini-key"
    assert all(health.stats(r.id).last_probe_ok for r in routes)


async def test_a_rejected_key_disables_the_channel_until_a_fixed_key_probes_well_twice(
        servers: dict[str, ProviderServer], make_book: BookFactory,
        sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    anthropic = servers["anthropic"]
    cid = channel_id()
    source = routes_of(make_route(cid, "anthropic", anthropic.base_url, "revoked-key"))
    health = make_book(sessions)
    prober = Prober(health, source, schedule=SCHEDULE, clock=clock)
    try:
        [result] = await round_of(prober)
        assert (result.ok, result.kind, result.status) == (False, "auth", 401)
        assert not health.is_available(cid)
        clock.advance(1)
        assert await round_of(prober) == []  # disabled channels are not hammered
        # The operator fixes the key: the changed channel is probed at once, then on schedule.
        source.table[0] = make_route(cid, "anthropic", anthropic.base_url, "anthropic-key")  # type: ignore[attr-defined]
        assert [r.ok for r in await round_of(prober)] == [True]
        assert not health.is_available(cid)
        clock.advance(10)
        assert [r.ok for r in await round_of(prober)] == [True]
        assert health.is_available(cid)
    finally:
        await prober.aclose()
    await health.flush()
    assert [kind for kind, _ in await events_of(sessions, cid)] == ["auto_disabled", "re_enabled"]
    assert (await events_of(sessions, cid))[0][1] == "auth: GET /v1/models: HTTP 401"


async def test_a_killed_provider_opens_the_circuit_and_its_return_on_the_same_port_closes_it(
        make_book: BookFactory, clock: FakeClock) -> None:
    provider = FakeProvider("openai", api_key="k")
    server = ProviderServer(provider).start()
    port = server.port
    cid = channel_id()
    health = make_book()
    prober = Prober(health, routes_of(make_route(cid, "openai", server.url("/v1"), "k")), schedule=SCHEDULE,
                    clock=clock)
    try:
        assert [r.ok for r in await round_of(prober)] == [True]
        server.stop()
        kinds = []
        for _ in range(3):
            clock.advance(1)
            assert await round_of(prober) == []  # a healthy channel is probed every 30 s, not every second
            clock.advance(29)
            kinds += [r.kind for r in await round_of(prober)]
        assert kinds == ["connect", "connect", "connect"]
        assert health.stats(cid).state == "open"

        clock.advance(1)  # an open circuit is probed every second
        assert [r.kind for r in await round_of(prober)] == ["connect"]
        server = ProviderServer(provider, port=port).start()
        clock.advance(1)
        assert [r.ok for r in await round_of(prober)] == [True]
        assert health.stats(cid).state == "half_open"  # the cool-down is cut short: a trial may go
        clock.advance(1)
        assert [r.ok for r in await round_of(prober)] == [True]
        assert health.stats(cid).state == "closed"
    finally:
        await prober.aclose()
        server.stop()


async def test_a_refused_connection_is_a_connect_failure(clock: FakeClock) -> None:
    health = LocalHealth(clock=clock)
    prober = Prober(health, routes_of(), schedule=SCHEDULE, clock=clock)
    try:
        result = await prober.probe(make_route(channel_id(), "gemini", refused_url(), "g"))
    finally:
        await prober.aclose()
    assert (result.ok, result.kind) == (False, "connect")


@pytest.mark.parametrize(("answer", "expected"), [
    (httpx.Response(402, json={"error": {"message": "Insufficient Balance"}}), (False, "billing")),
    (httpx.Response(503, text="upstream connect error"), (False, "overloaded")),
    (httpx.Response(404, text="not found"), (True, None)),  # reachable, just no model list
    (httpx.ConnectTimeout("slow"), (False, "connect")),
    (httpx.ReadTimeout("slow"), (False, "timeout")),
])
async def test_probe_answers_are_classified(answer: httpx.Response | Exception, expected: tuple[bool, str | None],
                                            clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    prober = Prober(LocalHealth(clock=clock), routes_of(), schedule=SCHEDULE,
                    transport=httpx.MockTransport(handler), clock=clock)
    try:
        result = await prober.probe(make_route(channel_id(), "openai", "https://api.example.test/v1", "k"))
    finally:
        await prober.aclose()
    assert (result.ok, result.kind) == expected


async def test_azure_is_probed_on_its_model_list_with_its_api_key_header(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": []})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    prober = Prober(LocalHealth(clock=clock), routes_of(), schedule=SCHEDULE, client=client, clock=clock)
    route = make_route(channel_id(), "azure", "https://res.openai.azure.com", "az-key", api_version="2024-10-21")
    assert (await prober.probe(route)).ok
    await client.aclose()
    assert str(seen[0].url) == "https://res.openai.azure.com/openai/models?api-version=2024-10-21"
    assert seen[0].headers["api-key"] == "az-key"


async def test_replicas_share_the_probing(make_replicas: Callable[..., RedisHealth], clock: FakeClock) -> None:
    provider = FakeProvider("openai", api_key="k")
    with ProviderServer(provider) as server:
        source = routes_of(make_route(channel_id(), "openai", server.url("/v1"), "k"))
        probers = [Prober(make_replicas(), source, schedule=SCHEDULE, clock=clock) for _ in range(3)]
        try:
            for _ in range(2):
                rounds = await asyncio.gather(*(round_of(p) for p in probers))
                clock.advance(30)
            assert sum(len(r) for r in rounds) == 1
            assert len(provider.requests_to("models")) == 2  # one per interval, not one per replica
        finally:
            for p in probers:
                await p.aclose()


async def test_probes_run_in_the_background(make_book: BookFactory) -> None:
    provider = FakeProvider("openai", api_key="k")
    with ProviderServer(provider) as server:
        cid = channel_id()
        health: HealthBook = make_book()
        prober = Prober(health, routes_of(make_route(cid, "openai", server.url("/v1"), "k")),
                        schedule=ProbeSchedule(tick=0.02, jitter=False))
        prober.start()
        try:
            for _ in range(100):
                if health.stats(cid).last_probe_ok:
                    break
                await asyncio.sleep(0.02)
        finally:
            await prober.aclose()
        assert health.stats(cid).last_probe_ok
