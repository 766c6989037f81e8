"""Accounts, prices and credit set up through the operator API, as an operator would."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tests.support.harness import Relay


def usd(micro: int) -> str:
    """Micro-units as the exact USD string the API takes."""
    return str(Decimal(micro) / Decimal(1_000_000))


def create_account(relay: Relay, kind: str, parent_id: int | None = None) -> int:
    body: dict[str, Any] = {"name": f"{kind}-{uuid.uuid4().hex[:6]}", "kind": kind}
    if parent_id is not None:
        body["parent_id"] = parent_id
    r = relay.api("POST", "/accounts", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def grant(relay: Relay, account_id: int, micro: int) -> None:
    r = relay.api("POST", f"/accounts/{account_id}/credit", json={"amount_usd": usd(micro), "reason": "test"})
    assert r.status_code == 201, r.text


def set_catalog_price(relay: Relay, model: str, *, input: int, output: int, cache_read: int = 0,
                      cache_write: int = 0, max_output: int | None = None) -> None:
    body: dict[str, Any] = {"input_usd": usd(input), "output_usd": usd(output), "cache_read_usd": usd(cache_read),
                            "cache_write_usd": usd(cache_write)}
    if max_output is not None:
        body["max_output_tokens"] = max_output
    r = relay.api("PUT", f"/prices/{model}", json=body)
    assert r.status_code == 200, r.text


def set_markup(relay: Relay, account_id: int, bps: int) -> None:
    r = relay.api("PUT", f"/accounts/{account_id}/markup", json={"markup_bps": bps})
    assert r.status_code == 200, r.text


def set_override(relay: Relay, account_id: int, model: str, *, input: int, output: int) -> None:
    r = relay.api("PUT", f"/accounts/{account_id}/prices/{model}", json={"input_usd": usd(input),
                                                                         "output_usd": usd(output)})
    assert r.status_code == 200, r.text


def key_for(relay: Relay, account_id: int) -> str:
    r = relay.api("POST", "/keys", json={"name": f"k-{uuid.uuid4().hex[:6]}", "account_id": account_id})
    assert r.status_code == 201, r.text
    return r.json()["secret"]


def balance(relay: Relay, account_id: int) -> int:
    r = relay.api("GET", f"/accounts/{account_id}/balance")
    assert r.status_code == 200, r.text
    doc = r.json()
    return doc["balance"]


def verify(relay: Relay) -> dict[str, Any]:
    r = relay.api("GET", "/ledger/verify")
    assert r.status_code == 200, r.text
    return r.json()
