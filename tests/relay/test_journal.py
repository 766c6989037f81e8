"""The settlement journal: responses do not wait for the database, and a kill -9 loses no bill.

The decisive test locks the ledger so that no settlement can reach the database, serves requests
(they complete: their bills are journaled), kills the server with -9, unlocks, restarts it, and
finds every one of those requests billed exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.relay import journal
from app.relay.journal import Journal, orphans, read_records
from tests.relay.test_crash import _transactions_per_request
from tests.support.backends import backend_settings
from tests.support.harness import Relay, prepare_database
from tests.support.money import balance, create_account, grant, key_for, set_catalog_price
from tests.support.processes import ROOT, server_env, start_server
from tests.support.server import free_port
from tests.support.upstreams import add_upstream_channel

# ---------------------------------------------------------------------------- the file format


def test_records_read_back_in_order_and_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    segment = j.append(b"first")
    j.append(b"second")
    data = segment.path.read_bytes()
    assert list(read_records(data)) == [b"first", b"second"]
    assert list(read_records(data[:-3])) == [b"first"]  # the second record was cut mid-write
    corrupt = data[:-1] + bytes([data[-1] ^ 0xFF])
    assert list(read_records(corrupt)) == [b"first"]  # its checksum no longer matches
    j.close()


def test_a_live_journal_is_never_taken_for_an_orphan(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    segment = j.append(b"bill")
    assert list(orphans(tmp_path)) == []  # its writer holds the lock
    segment.close(delete=False)  # the process dies: the lock goes with it
    found = list(orphans(tmp_path))
    assert [o.path for o in found] == [segment.path]
    assert found[0].records() == [b"bill"]
    found[0].done()
    assert not segment.path.exists()


def test_written_segments_are_deleted_and_pending_ones_kept(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "SEGMENT_BYTES", 20)
    j = Journal(tmp_path)
    first = j.append(b"x" * 16)
    second = j.append(b"y" * 16)  # the first segment was full: a new one
    assert first is not second and first.path.exists()
    j.written(first)
    assert not first.path.exists()  # sealed and fully written: gone
    j.close()  # the second still waits for the database: kept for the next start
    assert second.path.exists()
    assert [o.records() for o in orphans(tmp_path)] == [[b"y" * 16]]


# ---------------------------------------------------------------------------- through a real server


@contextmanager
def ledger_locked(settings: Settings) -> Iterator[None]:
    """Hold a lock that stops every INSERT into the ledger (reads still work)."""
    if settings.is_sqlite:
        conn = sqlite3.connect(settings.database_url.split("///", 1)[1])
        conn.execute("BEGIN EXCLUSIVE")  # in WAL mode: writers wait, readers go on
        try:
            yield
        finally:
            conn.rollback()
            conn.close()
        return
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        async def run() -> None:
            dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
            conn = await asyncpg.connect(dsn)
            try:
                async with conn.transaction():
                    await conn.execute("LOCK TABLE ledger_transactions IN EXCLUSIVE MODE")
                    locked.set()
                    await asyncio.to_thread(release.wait)
            finally:
                await conn.close()
        asyncio.run(run())

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10), "could not lock the ledger"
    try:
        yield
    finally:
        release.set()
        holder.join(10)


@pytest.fixture
def journal_settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    with backend_settings(backend, tmp_path) as settings:
        yield settings


def test_bills_journaled_while_the_database_is_locked_survive_kill_9(journal_settings: Settings,
                                                                     upstreams: dict) -> None:
    settings = journal_settings
    admin_key = prepare_database(settings)
    port = free_port()
    env = server_env(settings, port)
    proc = start_server(env, port)
    relay = Relay(settings=settings, base_url=f"http://127.0.0.1:{port}", admin_key=admin_key, backend="journal")
    try:
        model = "journal-model"
        add_upstream_channel(relay, "openai", upstreams["openai"], [model])
        set_catalog_price(relay, model, input=1_000_000, output=1_000_000)
        customer = create_account(relay, "customer")
        grant(relay, customer, 10_000_000)
        key = key_for(relay, customer)
        body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
        headers = {"authorization": f"Bearer {key}"}
        httpx.post(relay.base_url + "/v1/chat/completions", json=body, headers=headers, timeout=30)  # warm caches
        before = balance(relay, customer)

        served: list[tuple[str, int]] = []
        with ledger_locked(settings):
            for i in range(20):
                rid = f"journal-{i:02d}-{os.urandom(3).hex()}"
                r = httpx.post(relay.base_url + "/v1/chat/completions", json=body,
                               headers={**headers, "x-request-id": rid}, timeout=30)
                assert r.status_code == 200, r.text  # answered although its bill cannot reach the database
                usage = r.json()["usage"]
                served.append((rid, usage["prompt_tokens"] + usage["completion_tokens"]))
            billed = asyncio.run(_transactions_per_request(settings))
            assert not any(rid in billed for rid, _ in served)  # none is in the database yet
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        assert list((settings.data_dir / "journal").glob("*.journal")), "the journal should hold the bills"

        proc = start_server(env, port)  # replays the journal before it serves
        billed = asyncio.run(_transactions_per_request(settings))
        assert {rid: billed.get(rid) for rid, _ in served} == {rid: 1 for rid, _ in served}
        # $1 per million tokens in and out: a token is a micro-unit.
        assert before - balance(relay, customer) == sum(tokens for _, tokens in served)
        assert not list((settings.data_dir / "journal").glob("*.journal"))  # replayed and deleted
        verified = subprocess.run([str(ROOT / ".venv/bin/waystation"), "ledger", "verify", "--json"], env=env,
                                  cwd=ROOT, capture_output=True)
        assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True, verified.stdout
    finally:
        relay.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
