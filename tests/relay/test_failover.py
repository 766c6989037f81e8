"""Acceptance: failover before the first byte, errors after it, and 503 when every channel fails,
always in the caller's own protocol."""

from __future__ import annotations

import uuid

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors

from tests.fakes import Fail, ProviderServer, Stall, refused_url
from tests.fakes._common import echo_text
from tests.support.clients import ASK
from tests.support.harness import Relay
from tests.support.upstreams import add_upstream_channel

KINDS = ("openai", "anthropic", "gemini")
#: The healthy channel is of another type than the failing one, so failover also crosses protocols.
HEALTHY = {"openai": "anthropic", "anthropic": "gemini", "gemini": "openai"}


def _model() -> str:
    return f"fo-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("failure", ["http500", "refused", "stall"])
@pytest.mark.parametrize("client", KINDS)
def test_first_channel_fails_second_answers(relay: Relay, upstreams: dict[str, ProviderServer], client: str,
                                            failure: str, stream: bool) -> None:
    model = _model()
    bad_kind, good_kind = client, HEALTHY[client]
    bad = upstreams[bad_kind]
    if failure == "http500":
        bad.provider.script(Fail(500))
        add_upstream_channel(relay, bad_kind, bad, [model], priority=10)
    elif failure == "refused":
        add_upstream_channel(relay, bad_kind, refused_url() + ("/v1" if bad_kind == "openai" else ""), [model],
                             priority=10)
    else:
        bad.provider.script(Stall(3.0))
        add_upstream_channel(relay, bad_kind, bad, [model], priority=10, first_byte_timeout=0.5)
    add_upstream_channel(relay, good_kind, upstreams[good_kind], [model], priority=0)

    prompt = f"failover {failure}"
    answer = ASK[client](relay, model, prompt, stream=stream)
    assert answer.text == echo_text(prompt)
    good = upstreams[good_kind].provider
    assert len(good.requests) == 1
    if failure != "refused":
        assert len(bad.provider.requests) == 1  # tried once, never again


def _expect_503(client: str, relay: Relay, model: str) -> dict:
    if client == "openai":
        with pytest.raises(openai.InternalServerError) as info:
            relay.openai().chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 503
        return info.value.response.json()
    if client == "anthropic":
        with pytest.raises(anthropic.APIStatusError) as info:
            relay.anthropic().messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 503
        return info.value.response.json()
    client = relay.genai()
    with pytest.raises(genai_errors.ServerError) as info:
        client.models.generate_content(model=model, contents="x")
    assert info.value.code == 503
    return info.value.details


@pytest.mark.parametrize("client", KINDS)
def test_all_channels_failing_is_a_503_in_the_callers_shape(relay: Relay, upstreams: dict[str, ProviderServer],
                                                            client: str) -> None:
    model = _model()
    upstreams["openai"].provider.script(Fail(500))
    upstreams["anthropic"].provider.script(Fail(529))
    add_upstream_channel(relay, "openai", upstreams["openai"], [model], priority=2)
    add_upstream_channel(relay, "anthropic", upstreams["anthropic"], [model], priority=1)
    add_upstream_channel(relay, "gemini", refused_url(), [model], priority=0)

    body = _expect_503(client, relay, model)
    if client == "openai":
        assert body["error"]["type"] and "No upstream could serve" in body["error"]["message"]
    elif client == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] in ("overloaded_error", "api_error")
        assert "No upstream could serve" in body["error"]["message"]
    else:
        assert body["error"]["code"] == 503 and body["error"]["status"] == "UNAVAILABLE"
    assert len(upstreams["openai"].provider.requests) == 1
    assert len(upstreams["anthropic"].provider.requests) == 1
