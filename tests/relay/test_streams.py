"""Streams: an upstream failure after the first byte ends the stream with an error event in the
client's protocol; a client that disconnects mid-stream does not cut the upstream read; the usage
chunk reaches only OpenAI clients that asked for it; Gemini's JSON-array streams."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from app.relay.protocols.sse import SSEDecoder
from tests.fakes import BreakMidStream, ProviderServer, Slow
from tests.support.harness import Relay
from tests.support.upstreams import add_upstream_channel

KINDS = ("openai", "anthropic", "gemini")


def _stream_request(relay: Relay, client: str, model: str, *, include_usage: bool = True,
                    sse: bool = True) -> tuple[str, bytes]:
    if client == "openai":
        body: dict = {"model": model, "stream": True, "messages": [{"role": "user", "content": "tell me a story"}]}
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        return "/v1/chat/completions", json.dumps(body).encode()
    if client == "anthropic":
        return "/v1/messages", json.dumps({"model": model, "stream": True, "max_tokens": 100,
                                           "messages": [{"role": "user", "content": "tell me a story"}]}).encode()
    suffix = "?alt=sse" if sse else ""
    return (f"/v1beta/models/{model}:streamGenerateContent{suffix}",
            json.dumps({"contents": [{"role": "user", "parts": [{"text": "tell me a story"}]}]}).encode())


def _post_stream(relay: Relay, path: str, body: bytes) -> httpx.Response:
    return httpx.post(relay.base_url + path, content=body, timeout=30,
                      headers={"authorization": f"Bearer {relay.admin_key}", "content-type": "application/json"})


@pytest.mark.parametrize("upstream", KINDS)
@pytest.mark.parametrize("client", KINDS)
def test_upstream_break_after_first_byte_ends_with_an_error_event(relay: Relay, upstreams: dict[str, ProviderServer],
                                                                   client: str, upstream: str) -> None:
    model = f"brk-{uuid.uuid4().hex[:8]}"
    add_upstream_channel(relay, upstream, upstreams[upstream], [model], priority=1)
    add_upstream_channel(relay, "openai", upstreams["openai"], [model], priority=0)  # must NOT be used
    upstreams[upstream].provider.script(BreakMidStream(2))
    before = len(upstreams["openai"].provider.requests)

    path, body = _stream_request(relay, client, model)
    r = _post_stream(relay, path, body)
    assert r.status_code == 200
    events = SSEDecoder().feed(r.content) + SSEDecoder().close()
    last = events[-1] if client != "openai" else [e for e in events if e.data != b"[DONE]"][-1]
    doc = json.loads(last.data)
    if client == "openai":
        assert "error" in doc and doc["error"]["message"]
        assert b"[DONE]" not in r.content
    elif client == "anthropic":
        assert last.event == "error" and doc["type"] == "error"
        assert b"message_stop" not in r.content
    else:
        assert "error" in doc and doc["error"]["message"]
    # Some content had already reached the client, so no other channel was tried.
    assert len(upstreams["openai"].provider.requests) == before + (1 if upstream == "openai" else 0)


@pytest.mark.parametrize("client", KINDS)
def test_client_disconnect_mid_stream_lets_the_upstream_finish(relay: Relay, upstreams: dict[str, ProviderServer],
                                                               client: str) -> None:
    model = f"dc-{uuid.uuid4().hex[:8]}"
    add_upstream_channel(relay, "anthropic", upstreams["anthropic"], [model])
    fake = upstreams["anthropic"].provider
    fake.chunks = 12
    fake.script(Slow(0.05))
    path, body = _stream_request(relay, client, model)
    with httpx.Client(timeout=30) as http, http.stream(
            "POST", relay.base_url + path, content=body,
            headers={"authorization": f"Bearer {relay.admin_key}", "content-type": "application/json"}) as r:
        assert r.status_code == 200
        got = 0
        for _chunk in r.iter_raw():
            got += 1
            if got == 3:
                break  # leaving the block closes the connection mid-stream
    # The relay keeps reading until the upstream reports its final usage.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (fake.requests and fake.requests[-1].completed):
        time.sleep(0.05)
    assert fake.requests[-1].completed and not fake.requests[-1].aborted
    assert fake.last_usage is not None


@pytest.mark.parametrize("upstream", KINDS)
def test_openai_usage_chunk_only_when_asked(relay: Relay, upstreams: dict[str, ProviderServer], upstream: str) -> None:
    model = f"uc-{uuid.uuid4().hex[:8]}"
    add_upstream_channel(relay, upstream, upstreams[upstream], [model])
    for asked in (False, True):
        path, body = _stream_request(relay, "openai", model, include_usage=asked)
        r = _post_stream(relay, path, body)
        chunks = [json.loads(e.data) for e in SSEDecoder().feed(r.content) if e.data != b"[DONE]"]
        usage_chunks = [c for c in chunks if c.get("usage")]
        assert r.content.rstrip().endswith(b"data: [DONE]")
        if asked:
            assert len(usage_chunks) == 1 and usage_chunks[0]["choices"] == []
        else:
            assert usage_chunks == []
        if upstream == "openai":
            assert upstreams["openai"].provider.requests[-1].body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("upstream", KINDS)
def test_gemini_stream_without_alt_sse_is_a_json_array(relay: Relay, upstreams: dict[str, ProviderServer],
                                                       upstream: str) -> None:
    model = f"ja-{uuid.uuid4().hex[:8]}"
    add_upstream_channel(relay, upstream, upstreams[upstream], [model])
    path, body = _stream_request(relay, "gemini", model, sse=False)
    r = _post_stream(relay, path, body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    elements = json.loads(r.content)
    assert isinstance(elements, list) and len(elements) >= 2
    text = "".join(p.get("text", "") for e in elements for c in e.get("candidates", [])
                   for p in c.get("content", {}).get("parts", []))
    assert "tell me a story" in text
    assert elements[-1]["candidates"][0]["finishReason"] == "STOP"
    assert elements[-1]["usageMetadata"]["promptTokenCount"] > 0
