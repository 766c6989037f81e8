"""Acceptance for [3]: two web processes sharing PostgreSQL + Redis enforce one global RPM limit
and one global concurrency limit."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import ProviderServer, Stall
from tests.support.backends import backend_settings
from tests.support.harness import Relay, prepare_database
from tests.support.money import create_account, grant, set_catalog_price
from tests.support.processes import server_env, start_server
from tests.support.server import free_port
from tests.support.upstreams import add_upstream_channel


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[Relay, list[str]]]:
    with backend_settings("postgres", tmp_path) as settings:
        admin_key = prepare_database(settings)
        ports = [free_port(), free_port()]
        procs = [start_server(server_env(settings, port), port) for port in ports]
        relay = Relay(settings=settings, base_url=f"http://127.0.0.1:{ports[0]}", admin_key=admin_key,
                      backend="postgres")
        try:
            yield relay, [f"http://127.0.0.1:{p}" for p in ports]
        finally:
            relay.close()
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)


def _customer_key(relay: Relay, **limits: int) -> str:
    customer = create_account(relay, "customer")
    grant(relay, customer, 10_000_000)
    r = relay.api("POST", "/keys", json={"name": "limited", "account_id": customer, **limits})
    assert r.status_code == 201, r.text
    return r.json()["secret"]


async def _fire(urls: list[str], key: str, model: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=n)) as client:
        async def one(i: int) -> httpx.Response:
            return await client.post(urls[i % 2] + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                                      json={"model": model, "messages": [{"role": "user", "content": f"hi {i}"}]})
        return await asyncio.gather(*(one(i) for i in range(n)))


def test_two_replicas_share_one_rpm_and_one_concurrency_limit(replicas: tuple[Relay, list[str]],
                                                             upstreams: dict[str, ProviderServer]) -> None:
    relay, urls = replicas
    model = "replica-model"
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    set_catalog_price(relay, model, input=1, output=1)

    rpm_key = _customer_key(relay, rpm=20)
    results = asyncio.run(_fire(urls, rpm_key, model, 60))
    ok = [r for r in results if r.status_code == 200]
    limited = [r for r in results if r.status_code == 429]
    assert len(ok) == 20 and len(limited) == 40
    assert all(r.json()["error"]["code"] == "rate_limit_exceeded" for r in limited)
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
    assert ok[0].headers["x-ratelimit-limit-requests"] == "20"

    upstreams["openai"].provider.script(*[Stall(1.0) for _ in range(12)])
    conc_key = _customer_key(relay, max_concurrency=3)
    results = asyncio.run(_fire(urls, conc_key, model, 12))
    assert sum(r.status_code == 200 for r in results) == 3
    assert sum(r.status_code == 429 for r in results) == 9
    # The slots are free again once those requests finished, on both replicas.
    upstreams["openai"].provider.reset()
    assert all(r.status_code == 200 for r in asyncio.run(_fire(urls, conc_key, model, 3)))
