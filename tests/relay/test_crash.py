"""Acceptance: kill -9 of the server with 100 requests in flight, then a restart: the ledger
verifies, no hold outlives its expiry, and every request that completed before the kill is billed
exactly once (and none twice)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis
from sqlalchemy import text

from app.config import Settings
from app.db import create_engine
from tests.fakes import ProviderServer, Stall
from tests.support.backends import backend_settings
from tests.support.harness import Relay, prepare_database
from tests.support.money import balance, create_account, grant, key_for, set_catalog_price
from tests.support.processes import ROOT, server_env, start_server
from tests.support.server import free_port
from tests.support.upstreams import add_upstream_channel

N = 100


@pytest.fixture
def crash_settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    with backend_settings(backend, tmp_path) as settings:
        yield settings


def _fire(base_url: str, key: str, model: str, results: dict[str, int | str]) -> None:
    async def run() -> None:
        limits = httpx.Limits(max_connections=N)
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
            async def one(i: int) -> None:
                rid = f"crash-{i:03d}-{os.urandom(4).hex()}"
                try:
                    r = await client.post("/v1/chat/completions", headers={"authorization": f"Bearer {key}",
                                                                           "x-request-id": rid},
                                          json={"model": model, "max_tokens": 5,
                                                "messages": [{"role": "user", "content": "count to five please now"}]})
                    results[rid] = r.status_code if r.json().get("choices") else "incomplete"
                except (httpx.HTTPError, json.JSONDecodeError) as exc:
                    results[rid] = type(exc).__name__
            await asyncio.gather(*(one(i) for i in range(N)))

    asyncio.run(run())


async def _transactions_per_request(settings: Settings) -> dict[str, int]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT request_id, count(*) FROM ledger_transactions "
                                           "WHERE kind = 'usage' GROUP BY request_id"))
            return {rid: n for rid, n in rows}
    finally:
        await engine.dispose()


def test_kill_9_with_100_requests_in_flight(crash_settings: Settings, upstreams: dict[str, ProviderServer]) -> None:
    settings = crash_settings
    admin_key = prepare_database(settings)
    port = free_port()
    env = server_env(settings, port, WAYSTATION_HOLD_GRACE="1", WAYSTATION_RECONCILE_EVERY="0.3")
    proc = start_server(env, port)
    relay = Relay(settings=settings, base_url=f"http://127.0.0.1:{port}", admin_key=admin_key, backend="crash")
    try:
        model = "crash-model"
        add_upstream_channel(relay, "openai", upstreams["openai"], [model], total_timeout=5)
        set_catalog_price(relay, model, input=1_000_000, output=1_000_000)
        customer = create_account(relay, "customer")
        grant(relay, customer, 10_000_000)
        key = key_for(relay, customer)
        # Upstream answers arrive spread over three seconds; the kill lands in the middle.
        upstreams["openai"].provider.script(*[Stall(0.03 * i) for i in range(N)])
        results: dict[str, int | str] = {}
        firing = threading.Thread(target=_fire, args=(relay.base_url, key, model, results))
        firing.start()
        # Kill once some have completed (a loaded machine warms up slower than the script's pace).
        deadline = time.monotonic() + 20
        while sum(status == 200 for status in list(results.values())) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        firing.join(timeout=60)

        completed = [rid for rid, status in results.items() if status == 200]
        assert 10 <= len(completed) < N, results  # some finished, some were cut by the kill

        proc = start_server(env, port)
        if settings.redis_url:  # holds live in Redis: they must be resolved once expired
            redis = Redis.from_url(settings.redis_url)
            deadline = time.monotonic() + 20
            while redis.zcard(settings.redis_prefix + "holds") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert redis.zcard(settings.redis_prefix + "holds") == 0

        verified = subprocess.run([str(ROOT / ".venv/bin/waystation"), "ledger", "verify", "--json"], env=env,
                                  cwd=ROOT, capture_output=True)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert json.loads(verified.stdout)["ok"] is True

        billed = asyncio.run(_transactions_per_request(settings))
        assert all(billed.get(rid) == 1 for rid in completed), {rid: billed.get(rid) for rid in completed}
        assert all(n == 1 for n in billed.values())  # nothing billed twice
        spent = 10_000_000 - balance(relay, customer)
        assert spent > 0 and balance(relay, customer) >= 0
        # After the restart the relay serves again with the remaining balance.
        upstreams["openai"].provider.reset()
        r = httpx.post(relay.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                       json={"model": model, "messages": [{"role": "user", "content": "again"}]}, timeout=30)
        assert r.status_code == 200
    finally:
        relay.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
