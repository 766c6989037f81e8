"""The money endpoints of the operator API, through the running app, and the walls between tenants."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime

import httpx

from app.db import create_engine, create_sessionmaker
from app.tenants import ledger, usage
from app.tenants.usage import UsageEventRow
from tests.support.harness import Relay


def ok(response: httpx.Response, status: int = 200) -> dict | list:
    assert response.status_code == status, response.text
    return response.json()


def new_account(relay: Relay, kind: str, parent_id: int | None = None, api: Relay | None = None) -> dict:
    body = {"name": f"{kind}-{uuid.uuid4().hex[:6]}", "kind": kind, "parent_id": parent_id}
    return ok(relay.api("POST", "/accounts", json=body), 201)  # type: ignore[return-value]


def as_key(relay: Relay, key: str, method: str, path: str, **kw: object) -> httpx.Response:
    return httpx.request(method, f"{relay.base_url}/api/v1{path}", headers={"authorization": f"Bearer {key}"},
                         timeout=30, **kw)  # type: ignore[arg-type]


def test_accounts_credit_and_balance(relay: Relay) -> None:
    r = new_account(relay, "reseller")
    c = new_account(relay, "customer", r["id"])
    assert c["parent_id"] == r["id"] and c["path"] == f"{r['path']}{c['id']}/" and c["depth"] == 2
    assert ok(relay.api("GET", f"/accounts/{c['id']}"))["name"] == c["name"]  # type: ignore[index]
    assert [a["id"] for a in ok(relay.api("GET", "/accounts", params={"parent_id": r["id"]}))] == [c["id"]]
    assert c["id"] in [a["id"] for a in ok(relay.api("GET", "/accounts"))]
    r2 = relay.api("POST", "/accounts", json={"name": "x", "kind": "customer", "parent_id": c["id"]})
    assert r2.status_code == 400 and "cannot have sub-accounts" in r2.json()["error"]["message"]

    key = uuid.uuid4().hex
    body = {"amount_usd": "12.5", "reason": "welcome", "idempotency_key": key}
    first = ok(relay.api("POST", f"/accounts/{c['id']}/credit", json=body), 201)
    again = ok(relay.api("POST", f"/accounts/{c['id']}/credit", json=body), 201)
    assert first["id"] == again["id"] and first["idempotency_key"] == f"grant:{key}"  # type: ignore[index]
    assert ok(relay.api("GET", f"/accounts/{c['id']}/balance")) == {"account_id": c["id"], "balance": 12_500_000,
                                                                   "balance_usd": "12.500000"}
    sub_micro = relay.api("POST", f"/accounts/{c['id']}/credit", json={"amount_usd": "0.0000001", "reason": "x"})
    assert sub_micro.status_code == 400 and "micro" in sub_micro.json()["error"]["message"]
    assert relay.api("POST", f"/accounts/{c['id']}/credit", json={"amount_usd": 1.5, "reason": "x"}).status_code == 400
    assert relay.api("GET", "/accounts/999999999/balance").status_code == 404


def test_prices_markups_overrides_and_effective_prices(relay: Relay) -> None:
    r = new_account(relay, "reseller")
    c = new_account(relay, "customer", r["id"])
    model = f"org/tenants-{uuid.uuid4().hex[:8]}"  # model names may contain "/"
    base = ok(relay.api("PUT", f"/prices/{model}", json={"input_usd": "0.40", "output_usd": "1.60",
                                                         "cache_read_usd": "0.1", "max_output_tokens": 8192}))
    assert base["model"] == model and base["prices"] == {"input": 400_000, "output": 1_600_000,  # type: ignore[index]
                                                         "cache_read": 100_000, "cache_write": 0}
    assert ok(relay.api("PUT", f"/accounts/{r['id']}/markup", json={"markup_bps": 1500}))["markup_bps"] == 1500  # type: ignore[index]
    paid = {p["model"]: p for p in ok(relay.api("GET", f"/accounts/{c['id']}/prices"))}  # type: ignore[union-attr]
    assert paid[model]["prices"] == {"input": 460_000, "output": 1_840_000, "cache_read": 115_000, "cache_write": 0}
    assert paid[model]["max_output_tokens"] == 8192
    ok(relay.api("PUT", f"/accounts/{r['id']}/prices/{model}", json={"input_usd": "1", "output_usd": "2"}))
    paid = {p["model"]: p for p in ok(relay.api("GET", f"/accounts/{c['id']}/prices"))}  # type: ignore[union-attr]
    assert paid[model]["prices"]["input"] == 1_000_000
    offered = ok(relay.api("PUT", f"/accounts/{r['id']}/markup", json={"markup_bps": 1500, "offered_models": []}))
    assert offered["offered_models"] == []  # type: ignore[index]
    assert model not in {p["model"] for p in ok(relay.api("GET", f"/accounts/{c['id']}/prices"))}  # type: ignore[union-attr]
    assert relay.api("PUT", f"/accounts/{c['id']}/markup", json={"markup_bps": 1}).status_code == 400
    assert relay.api("PUT", "/prices/x", json={"input_usd": "-1", "output_usd": "1"}).status_code == 400
    ch = relay.add_channel(type="openai", base_url="https://api.example.com/v1", api_keys=["k"], models=[model])
    cost = ok(relay.api("PUT", f"/channels/{ch['id']}/prices/{model}", json={"input_usd": "0.3", "output_usd": "1"}))
    assert cost["prices"]["input"] == 300_000  # type: ignore[index]
    relay.api("DELETE", f"/channels/{ch['id']}")


def test_a_reseller_key_is_confined_to_its_subtree(relay: Relay) -> None:
    mine, other = new_account(relay, "reseller"), new_account(relay, "reseller")
    theirs = new_account(relay, "customer", other["id"])
    created = ok(relay.api("POST", "/keys", json={"name": "reseller-ops", "is_admin": True,
                                                  "account_id": mine["id"]}), 201)
    key = created["secret"]  # type: ignore[index]
    assert created["key"]["account_id"] == mine["id"]  # type: ignore[index]
    for method, path in [("GET", f"/accounts/{theirs['id']}"), ("GET", f"/accounts/{theirs['id']}/balance"),
                         ("GET", f"/accounts/{other['id']}/prices"),
                         ("GET", f"/accounts/{theirs['id']}/usage.csv?from=2026-01-01&to=2026-01-02")]:
        assert as_key(relay, key, method, path).status_code == 404, path
    assert as_key(relay, key, "POST", f"/accounts/{theirs['id']}/credit",
                  json={"amount_usd": "1", "reason": "steal"}).status_code == 404
    assert as_key(relay, key, "POST", "/accounts", json={"name": "x", "kind": "customer",
                                                         "parent_id": other["id"]}).status_code == 404
    assert as_key(relay, key, "POST", "/keys", json={"name": "x", "account_id": theirs["id"]}).status_code == 404
    for method, path in [("PUT", "/prices/x"), ("GET", "/ledger/verify"), ("GET", "/channels")]:
        body = {"input_usd": "1", "output_usd": "1"} if method == "PUT" else None
        assert as_key(relay, key, method, path, json=body).status_code == 403, path
    # Inside its own subtree it works, and it sees nothing else.
    child = ok(as_key(relay, key, "POST", "/accounts", json={"name": "mine", "kind": "customer"}), 201)
    assert child["parent_id"] == mine["id"]  # type: ignore[index]
    assert [a["id"] for a in ok(as_key(relay, key, "GET", "/accounts"))] == [mine["id"], child["id"]]  # type: ignore[index]
    assert as_key(relay, key, "POST", f"/accounts/{mine['id']}/credit",
                  json={"amount_usd": "1", "reason": "self"}).status_code == 403
    ok(as_key(relay, key, "POST", f"/accounts/{child['id']}/credit", json={"amount_usd": "1", "reason": "x"}), 201)  # type: ignore[index]


def _seed_usage(relay: Relay, chain: list[int], costs: list[int], request_id: str) -> None:
    async def work() -> None:
        engine = create_engine(relay.settings)
        try:
            async with create_sessionmaker(engine)() as session:
                when = datetime(2026, 2, 10, 9, 30, tzinfo=UTC)
                await ledger.post_usage(session, request_id, chain, costs, created_at=when)
                await usage.insert_batch(session, [UsageEventRow(
                    request_id=request_id, created_at=when, account_id=chain[-1], key_id=None, chain=chain,
                    protocol="gemini", op="generate", model_requested="g", costs=costs, input_tokens=334,
                    output_tokens=889, cache_read_tokens=17379, reasoning_tokens=821)])
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(work())


def test_csv_exports_margin_and_ledger_verify(relay: Relay) -> None:
    r = new_account(relay, "reseller")
    c = new_account(relay, "customer", r["id"])
    for account in (r, c):
        ok(relay.api("POST", f"/accounts/{account['id']}/credit", json={"amount_usd": "1", "reason": "seed"}), 201)
    request_id = f"req_{uuid.uuid4().hex}"
    chain = [int(part) for part in c["path"].split("/") if part]
    _seed_usage(relay, chain, [3628, 4173], request_id)
    period = {"from": "2026-02-01", "to": "2026-02-28"}

    response = relay.api("GET", f"/accounts/{r['id']}/usage.csv", params=period)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(x["request_id"], x["spend_micro"], x["revenue_micro"], x["reasoning_tokens"]) for x in rows] == [
        (request_id, "3628", "4173", "821")]
    response = relay.api("GET", f"/accounts/{c['id']}/ledger.csv", params=period)
    assert [(x["kind"], x["book"], x["amount_micro"]) for x in csv.DictReader(io.StringIO(response.text))] == [
        ("usage", "wallet", "-4173")]
    margin = ok(relay.api("GET", f"/accounts/{r['id']}/margin", params=period))
    assert (margin["revenue"], margin["cost_of_sales"], margin["margin"]) == (4173, 3628, 545)  # type: ignore[index]
    assert relay.api("GET", f"/accounts/{r['id']}/usage.csv", params={"from": "x", "to": "y"}).status_code == 400

    report = ok(relay.api("GET", "/ledger/verify"))
    assert set(report) == {"ok", "transactions", "entries", "violations"}  # type: ignore[arg-type]
    assert report["ok"] == (report["violations"] == []) and report["transactions"] >= 4  # type: ignore[index]


def test_openapi_schema_lists_the_money_endpoints(relay: Relay) -> None:
    schema = httpx.get(relay.base_url + "/api/schema/openapi.json").json()
    paths = schema["paths"]
    for path, method in [("/api/v1/accounts", "post"), ("/api/v1/accounts", "get"),
                         ("/api/v1/accounts/{account_id}", "get"), ("/api/v1/accounts/{account_id}/credit", "post"),
                         ("/api/v1/accounts/{account_id}/balance", "get"), ("/api/v1/prices/{model}", "put"),
                         ("/api/v1/accounts/{account_id}/prices/{model}", "put"),
                         ("/api/v1/accounts/{account_id}/markup", "put"), ("/api/v1/ledger/verify", "get"),
                         ("/api/v1/accounts/{account_id}/usage.csv", "get"),
                         ("/api/v1/accounts/{account_id}/ledger.csv", "get")]:
        assert method in paths.get(path, {}), (path, method)
    schemas = schema["components"]["schemas"]
    assert {"AccountIn", "CreditIn", "PriceIn", "MarkupIn"} <= set(schemas)
    assert "amount_usd" in schemas["CreditIn"]["properties"]
    params = {p["name"] for p in paths["/api/v1/accounts/{account_id}/usage.csv"]["get"]["parameters"]}
    assert {"account_id", "from", "to"} <= params
