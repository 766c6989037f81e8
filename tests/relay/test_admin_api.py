"""The operator JSON API: only operator keys may use it, channel keys are encrypted at rest and
never shown, and changes take effect on the relay at once."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import text

from app.db import create_engine
from tests.fakes import ProviderServer, echo_text
from tests.support.harness import Relay
from tests.support.upstreams import add_upstream_channel


def test_operator_api_needs_an_operator_key(relay: Relay) -> None:
    assert httpx.get(relay.base_url + "/api/v1/channels").status_code == 401
    plain = relay.create_key()
    r = httpx.get(relay.base_url + "/api/v1/channels", headers={"authorization": f"Bearer {plain}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def _stored_secrets(relay: Relay) -> list[str]:
    async def read() -> list[str]:
        engine = create_engine(relay.settings)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text("SELECT secret_encrypted FROM channel_keys"))).scalars())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_channel_keys_are_encrypted_at_rest_and_never_shown(relay: Relay) -> None:
    secret = f"sk-very-secret-{uuid.uuid4().hex}"
    ch = relay.add_channel(type="openai", base_url="https://api.example.com/v1", api_keys=[secret], models=["x-1"])
    assert secret not in str(ch) and ch["key_count"] == 1
    assert secret not in relay.api("GET", f"/channels/{ch['id']}").text
    stored = _stored_secrets(relay)
    assert stored and all(secret not in s for s in stored)
    relay.api("DELETE", f"/channels/{ch['id']}")


def test_channel_changes_apply_to_the_relay_at_once(relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    model = f"adm-{uuid.uuid4().hex[:8]}"
    ch = add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    client = relay.openai()
    assert client.chat.completions.create(model=model, messages=[{"role": "user", "content": "a"}]).choices
    r = relay.api("PATCH", f"/channels/{ch['id']}", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    r = httpx.post(relay.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {relay.admin_key}"},
                   json={"model": model, "messages": [{"role": "user", "content": "b"}]})
    assert r.status_code == 404
    relay.api("PATCH", f"/channels/{ch['id']}", json={"enabled": True})
    answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "c"}])
    assert answer.choices[0].message.content == echo_text("c")
    assert relay.api("DELETE", f"/channels/{ch['id']}").status_code == 204
    assert relay.api("GET", f"/channels/{ch['id']}").status_code == 404


def test_invalid_channel_input_is_a_400_with_a_reason(relay: Relay) -> None:
    r = relay.api("POST", "/channels", json={"name": "bad", "type": "openai", "models": ["m"], "api_keys": ["k"],
                                             "base_url": "ftp://nope"})
    assert r.status_code == 400 and "base_url" in r.json()["error"]["message"]
    r = relay.api("POST", "/channels", json={"name": "bad2", "type": "nope", "models": ["m"]})
    assert r.status_code == 400


def test_openapi_schema_lists_the_operator_api(relay: Relay) -> None:
    schema = httpx.get(relay.base_url + "/api/schema/openapi.json").json()
    assert "/api/v1/channels" in schema["paths"] and "/api/v1/keys" in schema["paths"]
    assert "/v1/chat/completions" not in schema["paths"]


def test_metrics_show_requests_and_circuit_states(relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    model = f"met-{uuid.uuid4().hex[:8]}"
    ch = add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    relay.openai().chat.completions.create(model=model, messages=[{"role": "user", "content": "count me"}])
    text = httpx.get(relay.base_url + "/metrics").text
    assert 'waystation_requests_total{' in text and f'model="{model}"' in text
    assert f'waystation_circuit_state{{channel="{ch["id"]}"}} 0.0' in text
    assert "count me" not in text
