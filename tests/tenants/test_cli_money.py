"""The money commands of the CLI, as a script would use them (--json), on a temporary SQLite file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app.cli import main
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.tenants import ledger, usage
from app.tenants.usage import UsageEventRow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"WAYSTATION_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/money.db",
           "WAYSTATION_SECRET_KEY": "cli-money-secret"}
    invoke(env, "migrate", "--json")
    return env


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def run(env: dict[str, str], *args: str) -> Any:
    result = invoke(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def seed_usage(env: dict[str, str], chain: tuple[int, ...], costs: list[int], when: datetime) -> None:
    async def work() -> None:
        engine = create_engine(Settings.from_env(env))
        try:
            async with create_sessionmaker(engine)() as session:
                await ledger.post_usage(session, "req_cli_1", chain, costs, model="gpt-x", created_at=when)
                await usage.insert_batch(session, [UsageEventRow(
                    request_id="req_cli_1", created_at=when, account_id=chain[-1], key_id=None, chain=list(chain),
                    protocol="anthropic", op="messages", model_requested="gpt-x", costs=costs, input_tokens=3,
                    output_tokens=5, cache_read_tokens=1217)])
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(work())


def test_accounts_prices_credit_keys_and_balance(env: dict[str, str]) -> None:
    r = run(env, "accounts", "create", "--name", "Acme Reseller", "--kind", "reseller")
    s = run(env, "accounts", "create", "--name", "Sub", "--kind", "reseller", "--parent", str(r["id"]))
    c = run(env, "accounts", "create", "--name", "Customer", "--kind", "customer", "--parent", str(s["id"]))
    assert (r["depth"], s["depth"], c["depth"]) == (1, 2, 3) and c["path"] == f"{s['path']}{c['id']}/"
    refused = invoke(env, "accounts", "create", "--name", "x", "--kind", "customer", "--parent", str(c["id"]),
                     "--json")
    assert refused.exit_code == 1 and "cannot have sub-accounts" in refused.output
    assert [a["id"] for a in run(env, "accounts", "list")] == [1, r["id"], s["id"], c["id"]]
    assert [a["id"] for a in run(env, "accounts", "list", "--parent", str(r["id"]))] == [s["id"]]

    base = run(env, "prices", "set", "gpt-x", "--input", "0.40", "--output", "1.6", "--cache-read", "0.1",
               "--max-output", "8192")
    assert base["prices"] == {"input": 400_000, "output": 1_600_000, "cache_read": 100_000, "cache_write": 0}
    assert base["max_output_tokens"] == 8192
    assert run(env, "prices", "markup", str(r["id"]), "1500") == {"account_id": r["id"], "markup_bps": 1500,
                                                                   "offered_models": None}
    override = run(env, "prices", "set", "gpt-x", "--input", "0.5", "--output", "2", "--account", str(s["id"]))
    assert override["prices"]["input"] == 500_000 and override["account_id"] == s["id"]
    paid = {p["model"]: p["prices"] for p in run(env, "prices", "list", "--account", str(c["id"]))}
    assert paid["gpt-x"] == {"input": 500_000, "output": 2_000_000, "cache_read": 0, "cache_write": 0}
    paid = {p["model"]: p["prices"] for p in run(env, "prices", "list", "--account", str(s["id"]))}
    assert paid["gpt-x"] == {"input": 460_000, "output": 1_840_000, "cache_read": 115_000, "cache_write": 0}
    sub_micro = invoke(env, "prices", "set", "gpt-x", "--input", "0.0000005", "--output", "1", "--json")
    assert sub_micro.exit_code == 2 and "micro" in sub_micro.output

    first = run(env, "credit", "grant", str(c["id"]), "10.25", "--reason", "welcome", "--idempotency-key", "k1")
    again = run(env, "credit", "grant", str(c["id"]), "10.25", "--reason", "welcome", "--idempotency-key", "k1")
    assert first["id"] == again["id"] and first["kind"] == "grant"
    assert run(env, "balance", str(c["id"])) == {"account_id": c["id"], "balance": 10_250_000,
                                                 "balance_usd": "10.250000"}
    assert invoke(env, "credit", "grant", "1", "5", "--reason", "root", "--json").exit_code == 1

    key = run(env, "keys", "create", "--account", str(c["id"]), "--name", "app", "--spend-cap-total", "2.5",
              "--spend-cap-day", "0.5", "--rpm", "10", "--ip-allow", "10.0.0.7/8", "--models", "gpt-x")
    assert key["secret"].startswith("sk-ws-") and key["key"]["account_id"] == c["id"]
    assert (key["key"]["spend_cap_total"], key["key"]["spend_cap_day"], key["key"]["rpm"]) == (2_500_000, 500_000, 10)
    assert key["key"]["ip_allowlist"] == ["10.0.0.0/8"] and key["key"]["models"] == ["gpt-x"]
    operator = run(env, "keys", "create", "--name", "ops", "--admin")
    assert operator["key"]["account_id"] == 1 and operator["key"]["is_admin"] is True
    human = invoke(env, "keys", "create", "--name", "plain")
    assert human.exit_code == 0 and "This is the only time the key is shown" in human.output


def test_exports_and_ledger_verify(env: dict[str, str], tmp_path: Path) -> None:
    r = run(env, "accounts", "create", "--name", "R", "--kind", "reseller")
    c = run(env, "accounts", "create", "--name", "C", "--kind", "customer", "--parent", str(r["id"]))
    run(env, "credit", "grant", str(r["id"]), "1", "--reason", "seed")
    run(env, "credit", "grant", str(c["id"]), "1", "--reason", "seed")
    seed_usage(env, (1, r["id"], c["id"]), [450, 518], datetime(2026, 3, 15, 12, tzinfo=UTC))

    out = tmp_path / "usage.csv"
    summary = run(env, "export", "usage", "--account", str(r["id"]), "--from", "2026-03-01", "--to", "2026-03-31",
                  "--out", str(out))
    assert summary == {"export": "usage", "rows": 1, "out": str(out)}
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(x["request_id"], x["spend_micro"], x["revenue_micro"], x["cache_read_tokens"]) for x in rows] == [
        ("req_cli_1", "450", "518", "1217")]
    assert run(env, "export", "usage", "--account", str(r["id"]), "--from", "2026-04-01", "--to", "2026-04-30") == []

    entries = run(env, "export", "ledger", "--account", str(c["id"]), "--from", "2026-03-01", "--to", "2026-03-31")
    assert [(e["kind"], e["book"], e["amount_micro"]) for e in entries] == [("usage", "wallet", -518)]
    csv_text = invoke(env, "export", "ledger", "--account", str(r["id"]), "--from", "2026-03-15",
                      "--to", "2026-03-15").output
    assert csv_text.splitlines()[0].startswith("transaction_id,created_at,kind")
    assert sorted(line.split(",")[6] for line in csv_text.splitlines()[1:]) == ["-450", "518"]
    bad_period = invoke(env, "export", "usage", "--account", "1", "--from", "2026-05-01", "--to", "2026-04-01")
    assert bad_period.exit_code == 2

    report = run(env, "ledger", "verify")
    assert report["ok"] is True and report["violations"] == []
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        db.execute("INSERT INTO ledger_transactions (idempotency_key, kind, account_id, memo, created_at) "
                   "VALUES ('adjustment:oops', 'adjustment', 1, 'oops', CURRENT_TIMESTAMP)")
        txn = db.execute("SELECT id FROM ledger_transactions WHERE idempotency_key = 'adjustment:oops'").fetchone()[0]
        db.execute("INSERT INTO ledger_entries (transaction_id, account_id, book, amount, created_at) "
                   f"VALUES ({txn}, 1, 'adjustments', 7, CURRENT_TIMESTAMP)")
    failed = invoke(env, "ledger", "verify", "--json")
    assert failed.exit_code == 1
    assert [v["kind"] for v in json.loads(failed.output)["violations"]] == ["unbalanced"]
    assert "violation" in invoke(env, "ledger", "verify").output
