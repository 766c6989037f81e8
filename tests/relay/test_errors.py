"""Acceptance: errors reach the caller in its own protocol's shape and status, as the official
SDKs understand them: bad key 401, unknown model 404, forbidden model 403, malformed body 400
naming the field, upstream client errors passed on."""

from __future__ import annotations

import uuid

import anthropic
import httpx
import openai
import pytest
from google.genai import errors as genai_errors

from tests.fakes import Fail, ProviderServer
from tests.support.harness import Relay
from tests.support.upstreams import add_upstream_channel

KINDS = ("openai", "anthropic", "gemini")


def _call(relay: Relay, client: str, model: str, key: str | None) -> Exception:
    """Make one plain call with the SDK and return the exception it raised."""
    try:
        if client == "openai":
            relay.openai(key).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        elif client == "anthropic":
            relay.anthropic(key).messages.create(model=model, max_tokens=16,
                                                 messages=[{"role": "user", "content": "hi"}])
        else:
            g = relay.genai(key)
            g.models.generate_content(model=model, contents="hi")
    except Exception as exc:  # noqa: BLE001 - the test inspects whatever the SDK raised
        return exc
    raise AssertionError("the call succeeded")


def _status(exc: Exception) -> int:
    return exc.code if isinstance(exc, genai_errors.APIError) else exc.status_code  # type: ignore[attr-defined]


@pytest.fixture
def served_model(relay: Relay, upstreams: dict[str, ProviderServer]) -> str:
    model = f"err-{uuid.uuid4().hex[:8]}"
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    return model


@pytest.mark.parametrize("client", KINDS)
def test_bad_key_is_401(relay: Relay, served_model: str, client: str) -> None:
    exc = _call(relay, client, served_model, "sk-ws-not-a-real-key")
    expected = {"openai": openai.AuthenticationError, "anthropic": anthropic.AuthenticationError,
                "gemini": genai_errors.ClientError}[client]
    assert isinstance(exc, expected) and _status(exc) == 401


@pytest.mark.parametrize("client", KINDS)
def test_unknown_model_is_404(relay: Relay, served_model: str, client: str) -> None:
    exc = _call(relay, client, "no-such-model", None)
    expected = {"openai": openai.NotFoundError, "anthropic": anthropic.NotFoundError,
                "gemini": genai_errors.ClientError}[client]
    assert isinstance(exc, expected) and _status(exc) == 404
    assert "no-such-model" in str(exc)


@pytest.mark.parametrize("client", KINDS)
def test_model_outside_the_keys_allowlist_is_403(relay: Relay, served_model: str, client: str) -> None:
    key = relay.create_key(models=["some-other-model"])
    exc = _call(relay, client, served_model, key)
    expected = {"openai": openai.PermissionDeniedError, "anthropic": anthropic.PermissionDeniedError,
                "gemini": genai_errors.ClientError}[client]
    assert isinstance(exc, expected) and _status(exc) == 403


@pytest.mark.parametrize(("client", "path", "body", "field"), [
    ("openai", "/v1/chat/completions", b'{"model": "m", "messages": "hello"}', "messages"),
    ("openai", "/v1/chat/completions", b'{"messages": []}', "model"),
    ("openai", "/v1/chat/completions", b'{"model": "m", "messages": [', "JSON"),
    ("anthropic", "/v1/messages", b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}', "max_tokens"),
    ("anthropic", "/v1/messages", b'{"model": "m", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}',
     "messages"),
    ("gemini", "/v1beta/models/m:generateContent", b'{"contents": [{"role": "user", "parts": [{"bogus": 1}]}]}',
     "contents"),
    ("gemini", "/v1beta/models/m:generateContent", b'{"contents": 5}', "contents"),
])
def test_malformed_body_is_400_naming_the_field(relay: Relay, client: str, path: str, body: bytes,
                                                field: str) -> None:
    r = httpx.post(relay.base_url + path, content=body, timeout=10,
                   headers={"authorization": f"Bearer {relay.admin_key}", "content-type": "application/json"})
    assert r.status_code == 400, r.text
    doc = r.json()
    if client == "openai":
        assert doc["error"]["type"] == "invalid_request_error"
        assert (doc["error"]["param"] or "").startswith(field) or field in doc["error"]["message"]
    elif client == "anthropic":
        assert doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error"
        assert field in doc["error"]["message"]
    else:
        assert doc["error"]["status"] == "INVALID_ARGUMENT" and doc["error"]["code"] == 400
        assert field in doc["error"]["message"]


@pytest.mark.parametrize("client", KINDS)
def test_upstream_client_error_is_passed_on_not_retried(relay: Relay, upstreams: dict[str, ProviderServer],
                                                        client: str) -> None:
    model = f"err-{uuid.uuid4().hex[:8]}"
    add_upstream_channel(relay, "anthropic", upstreams["anthropic"], [model], priority=1)
    add_upstream_channel(relay, "openai", upstreams["openai"], [model], priority=0)
    upstreams["anthropic"].provider.script(Fail(400))
    exc = _call(relay, client, model, None)
    assert _status(exc) == 400
    assert len(upstreams["openai"].provider.requests) == 0  # the caller's mistake fails everywhere


def test_unknown_route_and_wrong_method_answer_json(relay: Relay) -> None:
    r = httpx.get(relay.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {relay.admin_key}"})
    assert r.status_code == 405
    r = httpx.post(relay.base_url + "/v1/nothing-here", headers={"authorization": f"Bearer {relay.admin_key}"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
