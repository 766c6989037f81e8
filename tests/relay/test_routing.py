"""Acceptance for [3] routing through a running relay configured with aliases, an A/B split and
the "auto" policy: "auto" routes the documented examples to the documented models and reports the
model used; the split is visible in usage; a request-level fallback list is honoured."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from app.asgi import create_app
from tests.fakes import Fail, ProviderServer
from tests.support.backends import sqlite_settings
from tests.support.harness import Relay, prepare_database
from tests.support.money import create_account, grant, key_for, set_catalog_price
from tests.support.server import ServedApp
from tests.support.upstreams import add_upstream_channel

ROUTING = {
    "aliases": {"smart": "strong-model"},
    "splits": {"ab-model": [["arm-a", 50], ["arm-b", 50]]},
    "auto": {"cheap": "cheap-model", "strong": "strong-model", "long": "long-model", "long_threshold": 400,
             "short_threshold": 100},
}
MODELS = ["cheap-model", "strong-model", "long-model", "arm-a", "arm-b", "backup-model", "broken-model"]


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    with sqlite_settings(tmp_path_factory.mktemp("routing")) as base:
        settings = replace(base, routing=json.dumps(ROUTING))
        admin_key = prepare_database(settings)
        with ServedApp(create_app(settings)) as served:
            relay = Relay(settings=settings, base_url=served.base_url, admin_key=admin_key, backend="sqlite")
            try:
                yield relay
            finally:
                relay.close()


def _ask(relay: Relay, model: str, prompt: str, key: str | None = None, **extra: object) -> httpx.Response:
    return httpx.post(relay.base_url + "/v1/chat/completions", timeout=30,
                      headers={"authorization": f"Bearer {key or relay.admin_key}"},
                      json={"model": model, "messages": [{"role": "user", "content": prompt}], **extra})


AUTO_EXAMPLES = [  # rows of the documented policy (app/relay/routing/auto.py)
    ("Translate 'good morning' into French.", "cheap-model"),
    ("Why does ```print(1/0)``` fail?", "strong-model"),
    ("Prove that the square root of 2 is irrational.", "strong-model"),
    ("Explain step by step how compound interest grows.", "strong-model"),
    ("Summarise this report. " + "The quarter went well for every team. " * 80, "long-model"),
]


@pytest.mark.parametrize(("prompt", "expected"), AUTO_EXAMPLES,
                         ids=[e[1] + str(i) for i, e in enumerate(AUTO_EXAMPLES)])
def test_auto_routes_documented_examples_and_reports_the_model(routed: Relay, upstreams: dict[str, ProviderServer],
                                                               prompt: str, expected: str) -> None:
    if not routed.api("GET", "/channels").json():
        add_upstream_channel(routed, "openai", upstreams["openai"], MODELS)
    r = _ask(routed, "auto", prompt)
    assert r.status_code == 200, r.text
    assert upstreams["openai"].provider.requests[-1].body["model"] == expected
    assert r.json()["model"] == expected


def test_alias_split_and_fallbacks(routed: Relay, upstreams: dict[str, ProviderServer]) -> None:
    if not routed.api("GET", "/channels").json():
        add_upstream_channel(routed, "openai", upstreams["openai"], MODELS)
    fake = upstreams["openai"].provider
    assert _ask(routed, "smart", "hello").json()["model"] == "strong-model"
    assert fake.requests[-1].body["model"] == "strong-model"

    # The split's arms show in usage: requested "ab-model", served arm-a or arm-b.
    for model in MODELS:
        set_catalog_price(routed, model, input=1, output=1)
    set_catalog_price(routed, "ab-model", input=1, output=1)
    customer = create_account(routed, "customer")
    grant(routed, customer, 1_000_000)
    key = key_for(routed, customer)
    served = {_ask(routed, "ab-model", f"split {i}", key).json()["model"] for i in range(30)}
    assert served == {"arm-a", "arm-b"}
    today = str(datetime.now(UTC).date())
    rows = list(csv.DictReader(io.StringIO(routed.api("GET", f"/accounts/{customer}/usage.csv",
                                                      params={"from": today, "to": today}).text)))
    assert {r["model_requested"] for r in rows} == {"ab-model"}
    assert {r["model_served"] for r in rows} == {"arm-a", "arm-b"}

    # A request-level fallback list: the first model's only channel fails, the next model answers.
    fake.script(Fail(500))
    r = _ask(routed, "broken-model", "fall back please", models=["backup-model"])
    assert r.status_code == 200 and r.json()["model"] == "backup-model"
    assert [q.body["model"] for q in fake.requests[-2:]] == ["broken-model", "backup-model"]
    bad = _ask(routed, "broken-model", "x", models="backup-model")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "models"


def test_account_routing_strategy_overrides_priority(relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    model = "strategy-model"
    dear = add_upstream_channel(relay, "openai", upstreams["openai"], [model], priority=10)
    cheap = add_upstream_channel(relay, "anthropic", upstreams["anthropic"], [model], priority=0)
    for channel, price in ((dear, "10"), (cheap, "1")):
        r = relay.api("PUT", f"/channels/{channel['id']}/prices/{model}",
                      json={"input_usd": price, "output_usd": price})
        assert r.status_code == 200, r.text
    set_catalog_price(relay, model, input=20_000_000, output=20_000_000)
    customer = create_account(relay, "customer")
    grant(relay, customer, 10_000_000)

    key = key_for(relay, customer)
    assert _ask(relay, model, "by priority", key).status_code == 200
    assert upstreams["openai"].provider.requests[-1].body["model"] == model

    r = relay.api("PUT", f"/accounts/{customer}/routing", json={"strategy": "cost"})
    assert r.status_code == 200 and r.json()["routing_strategy"] == "cost"
    key = key_for(relay, customer)  # a fresh key context (cached contexts refresh within 30 s)
    before = len(upstreams["anthropic"].provider.requests)
    assert _ask(relay, model, "by cost", key).status_code == 200
    assert len(upstreams["anthropic"].provider.requests) == before + 1
    assert relay.api("PUT", f"/accounts/{customer}/routing", json={"strategy": "fastest"}).status_code == 400
