"""Acceptance for [3]: a channel whose upstream is killed mid-test gets no new attempt after 3 s,
gets traffic again after it recovers, and its circuit state and latency statistics are visible in
the operator API. Probes are on, as in production."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from app.asgi import create_app
from tests.fakes import FakeProvider, ProviderServer
from tests.support.backends import backend_settings
from tests.support.harness import Relay, prepare_database
from tests.support.server import ServedApp
from tests.support.upstreams import UPSTREAM_KEYS, add_upstream_channel


@pytest.fixture
def probed_relay(backend: str, tmp_path: Path) -> Iterator[Relay]:
    with backend_settings(backend, tmp_path) as base:
        settings = replace(base, probes=True)
        admin_key = prepare_database(settings)
        with ServedApp(create_app(settings)) as served:
            relay = Relay(settings=settings, base_url=served.base_url, admin_key=admin_key, backend=backend)
            try:
                yield relay
            finally:
                relay.close()


def test_dark_upstream_stops_getting_traffic_within_3s_and_recovers(probed_relay: Relay) -> None:
    relay = probed_relay
    primary = ProviderServer(FakeProvider("openai", api_key=UPSTREAM_KEYS["openai"])).start()
    backup = ProviderServer(FakeProvider("openai", api_key=UPSTREAM_KEYS["openai"])).start()
    port = primary.port
    try:
        dark = add_upstream_channel(relay, "openai", primary, ["dark-model"], priority=10, connect_timeout=1)
        add_upstream_channel(relay, "openai", backup, ["dark-model"], priority=0)
        client = httpx.Client(base_url=relay.base_url, timeout=30,
                              headers={"authorization": f"Bearer {relay.admin_key}"})
        stop = threading.Event()
        failures: list[int] = []

        def traffic() -> None:
            while not stop.is_set():
                r = client.post("/v1/chat/completions", json={"model": "dark-model",
                                                              "messages": [{"role": "user", "content": "ping"}]})
                if r.status_code != 200:
                    failures.append(r.status_code)
                time.sleep(0.02)

        worker = threading.Thread(target=traffic)
        worker.start()
        time.sleep(0.5)
        assert primary.provider.request_count > 0  # the preferred channel serves while healthy

        primary.stop()  # the upstream goes dark
        went_dark = time.monotonic()
        time.sleep(3.0)
        attempts_at_3s = relay.api("GET", f"/channels/{dark['id']}/health").json()["attempts"]
        time.sleep(1.5)
        health = relay.api("GET", f"/channels/{dark['id']}/health").json()
        assert health["state"] in ("open", "half_open")
        assert health["attempts"] == attempts_at_3s, "the dark channel still got attempts after 3 s"
        assert health["ewma_ttfb_ms"] is not None and health["ewma_ttfb_ms"] > 0
        listed = {h["channel_id"]: h for h in relay.api("GET", "/channels/health").json()}
        assert listed[dark["id"]]["state"] == health["state"]

        revived = ProviderServer(primary.provider, port=port).start()  # the upstream comes back
        before = revived.provider.request_count
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and revived.provider.requests_to("chat.completions")[before:] == []:
            time.sleep(0.1)
        assert revived.provider.requests_to("chat.completions")[before:], "traffic did not come back"
        assert relay.api("GET", f"/channels/{dark['id']}/health").json()["state"] == "closed"
        stop.set()
        worker.join(timeout=10)
        assert failures == []  # the client never saw an error: failover covered the dark period
        assert time.monotonic() - went_dark < 30
        revived.stop()
    finally:
        stop_all = [s for s in (primary, backup) if s.running]
        for s in stop_all:
            s.stop()
