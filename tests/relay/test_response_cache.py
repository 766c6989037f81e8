"""Acceptance for the response cache: a hit returns a byte-identical body with no upstream call,
is marked cached in usage, and is billed by the cache rule (input at the cache-read price)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tests.fakes import ProviderServer
from tests.support.harness import Relay
from tests.support.money import balance, create_account, grant, key_for, set_catalog_price
from tests.support.upstreams import add_upstream_channel

CACHE_READ_PRICE = 100_000  # $0.10 per million cached input tokens: 0.1 micro-unit per token


def _usage_rows(relay: Relay, account: int) -> list[dict[str, str]]:
    today = str(datetime.now(UTC).date())
    text = relay.api("GET", f"/accounts/{account}/usage.csv", params={"from": today, "to": today}).text
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("upstream", ["openai", "anthropic"])
def test_cache_hit_is_byte_identical_without_an_upstream_call(relay: Relay, upstreams: dict[str, ProviderServer],
                                                              upstream: str, stream: bool) -> None:
    model = f"cache-{uuid.uuid4().hex[:8]}"
    add_upstream_channel(relay, upstream, upstreams[upstream], [model])
    set_catalog_price(relay, model, input=1_000_000, output=1_000_000, cache_read=CACHE_READ_PRICE)
    customer = create_account(relay, "customer")
    grant(relay, customer, 1_000_000)
    key = key_for(relay, customer)
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "cache me if you can"}]}
    headers = {"authorization": f"Bearer {key}", "x-waystation-cache": "300"}

    first = httpx.post(relay.base_url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert first.status_code == 200 and first.headers["x-waystation-cache"] == "miss"
    calls = len(upstreams[upstream].provider.requests)
    after_first = balance(relay, customer)

    second = httpx.post(relay.base_url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert second.status_code == 200 and second.headers["x-waystation-cache"] == "hit"
    assert second.content == first.content
    assert len(upstreams[upstream].provider.requests) == calls  # no upstream call

    rows = {r["request_id"]: r for r in _usage_rows(relay, customer)}
    hit = rows[second.headers["x-request-id"]]
    miss = rows[first.headers["x-request-id"]]
    assert hit["cache_hit"] in ("true", "True", "1") and miss["cache_hit"] in ("false", "False", "0")
    prompt = int(miss["input_tokens"]) + int(miss["cache_read_tokens"]) + int(miss["cache_write_tokens"])
    assert int(hit["cache_read_tokens"]) == prompt and int(hit["output_tokens"]) == 0
    assert after_first - balance(relay, customer) == -(-prompt * CACHE_READ_PRICE // 1_000_000)

    # Opting out, or another account, misses.
    bypass = httpx.post(relay.base_url + "/v1/chat/completions", json=body, timeout=30,
                        headers={**headers, "x-waystation-cache": "off"})
    assert "x-waystation-cache" not in bypass.headers
    assert len(upstreams[upstream].provider.requests) == calls + 1
