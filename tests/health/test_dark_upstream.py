"""The requirement, in real time with two replicas: an upstream that goes dark stops getting
traffic within 3 s, and gets traffic again after it recovers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import httpx

from app.relay.channels import Route
from app.relay.health import HealthBook, Prober, ProbeSchedule, RedisHealth, classify
from tests.fakes import FakeProvider, ProviderServer
from tests.health.conftest import channel_id, make_route

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


class Traffic:
    """A stream of requests from one replica, sent only when its health book admits the channel."""

    def __init__(self, book: HealthBook, route: Route, client: httpx.AsyncClient) -> None:
        self.book, self.route, self.client = book, route, client
        self.sent: list[tuple[float, bool]] = []  # (monotonic time, ok) of every request sent

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await self.book.admit(self.route.id):
                started = time.monotonic()
                try:
                    r = await self.client.post(self.route.base_url + "/chat/completions", json=CHAT,
                                               headers={"authorization": f"Bearer {self.route.keys[0]}"})
                except httpx.TransportError:
                    ok, kind = False, classify.CONNECT
                else:
                    ok, kind = r.status_code < 400, classify.kind_for_status(r.status_code)
                await self.book.record(self.route.id, ok, kind=kind,
                                       ttfb_ms=(time.monotonic() - started) * 1000 if ok else None)
                self.sent.append((started, ok))
            await asyncio.sleep(0.01)


async def test_an_upstream_that_goes_dark_stops_getting_traffic_within_3s_and_gets_it_back(
        make_replicas: Callable[..., RedisHealth]) -> None:
    provider = FakeProvider("openai", api_key="k")
    server = ProviderServer(provider).start()
    port = server.port
    route = make_route(channel_id(), "openai", server.url("/v1"), "k")

    async def routes() -> Sequence[Route]:
        return [route]

    replicas = [make_replicas(refresh_every=0.5, clock_=time.time) for _ in range(2)]
    probers = [Prober(book, routes, schedule=ProbeSchedule(tick=0.1, jitter=False)) for book in replicas]
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=2) as client:
        traffic = [Traffic(book, route, client) for book in replicas]
        for book, prober in zip(replicas, probers, strict=True):
            await book.start()
            prober.start()
        runners = [asyncio.create_task(t.run(stop)) for t in traffic]
        try:
            await asyncio.sleep(0.3)
            dark = time.monotonic()  # from the moment it starts going away
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(max(0.0, dark + 3.5 - time.monotonic()))
            server = await asyncio.to_thread(ProviderServer(provider, port=port).start)
            back = time.monotonic()
            for _ in range(250):  # up to 5 s for the first success
                if any(ok and t > back for tr in traffic for t, ok in tr.sent):
                    break
                await asyncio.sleep(0.02)
            for _ in range(50):  # the other replica hears of it within one refresh
                if all(any(ok and t > back for t, ok in tr.sent) for tr in traffic):
                    break
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await asyncio.gather(*runners)
            for prober in probers:
                await prober.aclose()
            server.stop()

    sent = sorted(s for tr in traffic for s in tr.sent)
    assert any(ok for t, ok in sent if t < dark), "traffic flowed before the outage"
    during = [t - dark for t, _ in sent if dark <= t < back]
    assert during and max(during) < 3.0, f"requests kept going to the dark upstream: {during}"
    recovered = [t - back for t, ok in sent if ok and t >= back]
    assert recovered and recovered[0] < 3.0, "traffic did not come back after the upstream recovered"
    assert all(book.is_available(route.id) for book in replicas)
    assert all(any(ok and t > back for t, ok in tr.sent) for tr in traffic), "both replicas send traffic again"
