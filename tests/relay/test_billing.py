"""Acceptance for [2] through the running relay: exact money under concurrency, through a reseller
chain, with disconnects, and to the micro-unit on recorded provider responses."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.fakes import ProviderServer, Replay, Slow
from tests.support.harness import Relay
from tests.support.money import (
    balance,
    create_account,
    grant,
    key_for,
    set_catalog_price,
    set_markup,
    set_override,
    verify,
)
from tests.support.recorded import ROOT as FIXTURES
from tests.support.upstreams import add_upstream_channel

#: One micro-unit per output token: a request that produces exactly N tokens costs exactly N.
ONE_PER_TOKEN = 1_000_000
PROMPT = "please echo these words back to me now thank you"  # the fake answers "Echo: ..." (>5 words)


def _model(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _fire(relay: Relay, keys: list[str], model: str, n: int, max_tokens: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=relay.base_url, timeout=60, limits=limits) as client:
        async def one(i: int) -> httpx.Response:
            return await client.post("/v1/chat/completions", headers={"authorization": f"Bearer {keys[i % len(keys)]}"},
                                     json={"model": model, "max_tokens": max_tokens,
                                           "messages": [{"role": "user", "content": PROMPT}]})
        return await asyncio.gather(*(one(i) for i in range(n)))


def test_500_concurrent_requests_on_a_wallet_that_affords_exactly_50(relay: Relay,
                                                                     upstreams: dict[str, ProviderServer]) -> None:
    model = _model("c500")
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    set_catalog_price(relay, model, input=0, output=ONE_PER_TOKEN)
    customer = create_account(relay, "customer")
    grant(relay, customer, 50 * 5)  # each request: exactly 5 output tokens = 5 micro-units
    key = key_for(relay, customer)

    responses = asyncio.run(_fire(relay, [key], model, 500, max_tokens=5))
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(ok) == 50
    assert all(r.status_code == 429 and r.json()["error"]["code"] == "insufficient_quota" for r in refused)
    assert all(r.json()["usage"]["completion_tokens"] == 5 for r in ok)
    assert balance(relay, customer) == 0
    report = verify(relay)
    assert report["ok"], report["violations"]


def test_ten_customers_sharing_a_reseller_wallet_that_affords_50(relay: Relay,
                                                                 upstreams: dict[str, ProviderServer]) -> None:
    model = _model("r500")
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    set_catalog_price(relay, model, input=0, output=ONE_PER_TOKEN)
    reseller = create_account(relay, "reseller")
    set_markup(relay, reseller, 10_000)  # customers pay double
    grant(relay, reseller, 50 * 5)
    keys = []
    for _ in range(10):
        customer = create_account(relay, "customer", parent_id=reseller)
        grant(relay, customer, 1_000_000)
        keys.append(key_for(relay, customer))

    responses = asyncio.run(_fire(relay, keys, model, 500, max_tokens=5))
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(ok) == 50
    for r in refused:
        error = r.json()["error"]
        assert error["code"] == "provider_out_of_credit"
        assert "250" not in error["message"] and "balance" not in error["message"].lower()
    assert balance(relay, reseller) == 0
    report = verify(relay)
    assert report["ok"], report["violations"]


def _margin(relay: Relay, account: int) -> int:
    today = datetime.now(UTC).date()
    r = relay.api("GET", f"/accounts/{account}/margin",
                  params={"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))})
    assert r.status_code == 200, r.text
    return r.json()["margin"]


def test_three_levels_below_root_one_balanced_transaction_per_level(relay: Relay,
                                                                    upstreams: dict[str, ProviderServer]) -> None:
    model = _model("chain")
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    set_catalog_price(relay, model, input=2_000_000, output=8_000_000)  # root sells at $2 / $8 per M
    r1 = create_account(relay, "reseller")
    set_markup(relay, r1, 5_000)  # r1 sells at +50 %: $3 / $12
    r2 = create_account(relay, "reseller", parent_id=r1)
    set_override(relay, r2, model, input=4_000_000, output=20_000_000)  # r2 sells at $4 / $20
    customer = create_account(relay, "customer", parent_id=r2)
    for account in (r1, r2, customer):
        grant(relay, account, 10_000_000)
    before = {a: balance(relay, a) for a in (r1, r2, customer)}

    r = httpx.post(relay.base_url + "/v1/chat/completions", timeout=30,
                   headers={"authorization": f"Bearer {key_for(relay, customer)}"},
                   json={"model": model, "messages": [{"role": "user", "content": PROMPT}]})
    assert r.status_code == 200, r.text
    u = r.json()["usage"]
    i, o = u["prompt_tokens"], u["completion_tokens"]
    paid = {r1: 2 * i + 8 * o, r2: 3 * i + 12 * o, customer: 4 * i + 20 * o}
    for account, amount in paid.items():
        assert before[account] - balance(relay, account) == amount
    assert _margin(relay, r2) == paid[customer] - paid[r2]
    assert _margin(relay, r1) == paid[r2] - paid[r1]

    rid = r.headers["x-request-id"]
    csv = relay.api("GET", f"/accounts/{customer}/ledger.csv",
                    params={"from": str(datetime.now(UTC).date()), "to": str(datetime.now(UTC).date())}).text
    assert rid in csv
    report = verify(relay)
    assert report["ok"], report["violations"]


def test_client_that_drops_a_stream_after_three_chunks_is_billed_the_upstreams_final_usage(
        relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    model = _model("drop")
    add_upstream_channel(relay, "anthropic", upstreams["anthropic"], [model])
    set_catalog_price(relay, model, input=1_000_000, output=ONE_PER_TOKEN)
    customer = create_account(relay, "customer")
    grant(relay, customer, 1_000_000)
    fake = upstreams["anthropic"].provider
    fake.chunks = 12
    fake.script(Slow(0.05))
    body = {"model": model, "stream": True, "max_tokens": 200,
            "messages": [{"role": "user", "content": "a long story about many many small words please"}]}
    with httpx.Client(timeout=30) as http, http.stream("POST", relay.base_url + "/v1/chat/completions", json=body,
                                                       headers={"authorization": f"Bearer {key_for(relay, customer)}"}
                                                       ) as r:
        assert r.status_code == 200, r.read()
        for n, _chunk in enumerate(r.iter_raw(), 1):
            if n == 3:
                break
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and balance(relay, customer) == 1_000_000:
        time.sleep(0.05)
    usage = fake.last_usage
    assert fake.requests[-1].completed and usage is not None
    expected = usage["input_tokens"] + usage["output_tokens"]  # one micro-unit per token of each class
    assert 1_000_000 - balance(relay, customer) == expected


SPOT_CHECKS = [
    # fixture, provider, prices per M tokens (input, output, cache_read, cache_write) in micro-units, expected
    ("openai/chat_nonstream_usage_cached_tokens.json", "openai", (2_000_000, 8_000_000, 500_000, 0),
     240 + 512 + 16),  # 120 uncached input, 1024 cache reads, 2 output
    ("openai/chat_nonstream_usage_reasoning_tokens.json", "openai", (50_000, 400_000, 5_000, 0),
     11 + 56),  # ceil(208 * 0.05) + ceil(138 * 0.40): reasoning counts as output
    ("anthropic/messages_nonstream_cache_read.json", "anthropic", (3_000_000, 15_000_000, 300_000, 3_750_000),
     9 + 366 + 75),  # 3 input, ceil(1217 * 0.30) cache reads, 5 output
]


@pytest.mark.parametrize(("fixture", "kind", "prices", "expected"), SPOT_CHECKS, ids=[s[0] for s in SPOT_CHECKS])
def test_recorded_usage_is_billed_to_the_micro_unit(relay: Relay, upstreams: dict[str, ProviderServer], fixture: str,
                                                   kind: str, prices: tuple[int, int, int, int], expected: int) -> None:
    model = _model("spot")
    request = json.loads((FIXTURES / fixture.replace(".json", ".request.json")).read_text())
    add_upstream_channel(relay, kind, upstreams[kind], [model], model_map={model: request["model"]})
    set_catalog_price(relay, model, input=prices[0], output=prices[1], cache_read=prices[2], cache_write=prices[3])
    customer = create_account(relay, "customer")
    grant(relay, customer, 10_000_000)
    upstreams[kind].provider.script(Replay(fixture))
    request["model"] = model
    path = "/v1/chat/completions" if kind == "openai" else "/v1/messages"
    r = httpx.post(relay.base_url + path, json=request, timeout=30,
                   headers={"authorization": f"Bearer {key_for(relay, customer)}"})
    assert r.status_code == 200, r.text
    assert 10_000_000 - balance(relay, customer) == expected


def test_model_list_shows_only_models_sold_to_the_account(relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    sold, unpriced = _model("sold"), _model("unpriced")
    add_upstream_channel(relay, "openai", upstreams["openai"], [sold, unpriced])
    set_catalog_price(relay, sold, input=1, output=1)
    customer = create_account(relay, "customer")
    grant(relay, customer, 1_000)
    key = key_for(relay, customer)
    listed = {m.id for m in relay.openai(key).models.list()}
    assert sold in listed and unpriced not in listed
    r = httpx.post(relay.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                   json={"model": unpriced, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404  # nobody sells it to this account, so it cannot be billed


def test_key_ip_allowlist_is_enforced(relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    model = _model("ip")
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    set_catalog_price(relay, model, input=1, output=1)
    customer = create_account(relay, "customer")
    grant(relay, customer, 1_000_000)
    for allow, expected in ((["10.0.0.0/8"], 403), (["127.0.0.0/8", "::1/128"], 200)):
        r = relay.api("POST", "/keys", json={"name": "ip", "account_id": customer, "ip_allowlist": allow})
        key = r.json()["secret"]
        resp = httpx.post(relay.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                          json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
        assert resp.status_code == expected, resp.text
        if expected == 403:
            assert resp.json()["error"]["code"] == "ip_not_allowed"


def test_credit_granted_while_the_wallet_is_in_use_is_spendable_at_once(relay: Relay,
                                                                        upstreams: dict[str, ProviderServer]) -> None:
    model = _model("topup")
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    set_catalog_price(relay, model, input=0, output=ONE_PER_TOKEN)
    customer = create_account(relay, "customer")
    grant(relay, customer, 5)
    key = key_for(relay, customer)

    def ask() -> int:
        return httpx.post(relay.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                          json={"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": PROMPT}]},
                          timeout=30).status_code

    assert ask() == 200  # spends all 5
    assert ask() == 429
    grant(relay, customer, 5)
    assert ask() == 200  # no waiting for a periodic re-sync
    assert balance(relay, customer) == 0


def test_a_wallet_that_affords_the_counted_prompt_but_not_the_byte_bound_is_served(
        relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    # Holds first try a tokenizer-free bound (the body's bytes); a wallet it does not fit gets the
    # tokenizer's count instead, so nobody is refused for our shortcut.
    model = _model("bound")
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    set_catalog_price(relay, model, input=ONE_PER_TOKEN, output=0)
    customer = create_account(relay, "customer")
    prompt = " ".join([PROMPT] * 20)  # ~200 tokens, ~1,000 bytes
    grant(relay, customer, 400)
    key = key_for(relay, customer)
    r = httpx.post(relay.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                   json={"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": prompt}]},
                   timeout=30)
    assert r.status_code == 200, r.text
    assert balance(relay, customer) == 400 - r.json()["usage"]["prompt_tokens"]


@pytest.mark.parametrize("cap", ["spend_cap_day_usd", "spend_cap_month_usd", "spend_cap_total_usd"])
def test_key_spend_cap_stops_the_key_not_the_account(relay: Relay, upstreams: dict[str, ProviderServer],
                                                      cap: str) -> None:
    model = _model("cap")
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    set_catalog_price(relay, model, input=0, output=ONE_PER_TOKEN)
    customer = create_account(relay, "customer")
    grant(relay, customer, 1_000_000)
    capped = relay.api("POST", "/keys", json={"name": "capped", "account_id": customer, cap: "0.00001"})
    assert capped.status_code == 201, capped.text
    capped_key, free_key = capped.json()["secret"], key_for(relay, customer)

    def ask(key: str) -> httpx.Response:
        return httpx.post(relay.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                          json={"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": PROMPT}]},
                          timeout=30)

    results = asyncio.run(_fire(relay, [capped_key], model, 20, max_tokens=5))  # 10 micro-units = 2 requests
    assert sum(r.status_code == 200 for r in results) == 2
    refused = [r for r in results if r.status_code != 200]
    assert all(r.status_code == 429 and r.json()["error"]["code"] == "spend_cap_reached" for r in refused)
    assert ask(free_key).status_code == 200  # the account itself still has credit
    assert balance(relay, customer) == 1_000_000 - 15


def test_account_and_reseller_subtree_rate_limits(relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    model = _model("lim")
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    set_catalog_price(relay, model, input=1, output=1)
    reseller = create_account(relay, "reseller")
    grant(relay, reseller, 1_000_000)
    customers = [create_account(relay, "customer", parent_id=reseller) for _ in range(2)]
    for c in customers:
        grant(relay, c, 1_000_000)
    r = relay.api("PUT", f"/accounts/{reseller}/limits", json={"rpm": 6})
    assert r.status_code == 200 and r.json()["rpm"] == 6
    r = relay.api("PUT", f"/accounts/{customers[0]}/limits", json={"rpm": 2})
    assert r.status_code == 200
    keys = [key_for(relay, customers[0]), key_for(relay, customers[0]), key_for(relay, customers[1])]

    def ask(key: str) -> int:
        return httpx.post(relay.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                          json={"model": model, "messages": [{"role": "user", "content": "x"}]}, timeout=30).status_code

    # Customer 0's account allows 2 a minute over both its keys; the reseller 6 over its subtree.
    assert [ask(keys[0]), ask(keys[1]), ask(keys[0])] == [200, 200, 429]
    assert [ask(keys[2]) for _ in range(5)] == [200, 200, 200, 200, 429]


@pytest.mark.parametrize("priced_as", ["public", "upstream"])
def test_channel_cost_is_booked_whichever_name_it_is_priced_under(relay: Relay, upstreams: dict[str, ProviderServer],
                                                                  priced_as: str) -> None:
    public = _model("mapped")
    channel = add_upstream_channel(relay, "openai", upstreams["openai"], [public], model_map={public: "gpt-4o-mini"})
    name = public if priced_as == "public" else "gpt-4o-mini"
    r = relay.api("PUT", f"/channels/{channel['id']}/prices/{name}", json={"input_usd": "1", "output_usd": "1"})
    assert r.status_code == 200, r.text
    set_catalog_price(relay, public, input=2_000_000, output=2_000_000)
    customer = create_account(relay, "customer")
    grant(relay, customer, 1_000_000)
    resp = httpx.post(relay.base_url + "/v1/chat/completions", timeout=30,
                      headers={"authorization": f"Bearer {key_for(relay, customer)}"},
                      json={"model": public, "messages": [{"role": "user", "content": PROMPT}]})
    assert resp.status_code == 200, resp.text
    u = resp.json()["usage"]
    rid = resp.headers["x-request-id"]
    today = str(datetime.now(UTC).date())
    root_csv = relay.api("GET", "/accounts/1/ledger.csv", params={"from": today, "to": today}).text
    upstream_rows = [line for line in root_csv.splitlines() if rid in line and "upstream_cost" in line]
    assert upstream_rows, "the root's upstream cost was not booked"
    assert str(u["prompt_tokens"] + u["completion_tokens"]) in upstream_rows[0]  # $1/M = 1 micro-unit per token
    assert verify(relay)["ok"]
