"""Acceptance: every recorded provider response is parsed, converted to the other two protocols and
validated by the target SDK's own types; passthrough replays through the running relay are
byte-identical (except the model name, when the channel maps it)."""

from __future__ import annotations

import json
import re
import uuid

import anthropic.types as at
import httpx
import openai.types.chat as oc
import pydantic
import pytest
from anthropic.types import message_create_params as anthropic_params
from google.genai import types as gt
from openai.types.chat import completion_create_params as openai_params

from app.relay.protocols import CODECS, ir
from app.relay.protocols.sse import SSEDecoder, SSEEvent
from tests.fakes import ProviderServer, Replay
from tests.support.harness import Relay
from tests.support.recorded import Recorded, all_recorded
from tests.support.upstreams import add_upstream_channel

RECORDED = all_recorded()
CHAT = [r for r in RECORDED if r.operation == "chat" and not r.is_error]
ERRORS = [r for r in RECORDED if r.is_error]
OTHERS = {"openai": ("anthropic", "gemini"), "anthropic": ("openai", "gemini"), "gemini": ("openai", "anthropic")}

ANTHROPIC_EVENT = pydantic.TypeAdapter(at.RawMessageStreamEvent)
OPENAI_REQUEST = pydantic.TypeAdapter(openai_params.CompletionCreateParamsBase)
ANTHROPIC_REQUEST = pydantic.TypeAdapter(anthropic_params.MessageCreateParamsBase)


def _ir_stream(rec: Recorded) -> list[ir.StreamEvent]:
    """A recorded stream through its own protocol's decoder. Google's JSON-array stream is split
    into its elements and fed as the SSE events the relay always asks Gemini for."""
    decoder = CODECS[rec.kind].stream_decoder()
    events: list[ir.StreamEvent] = []
    if rec.is_sse:
        sse = SSEDecoder()
        for chunk in [rec.body[i:i + 97] for i in range(0, len(rec.body), 97)]:
            for e in sse.feed(chunk):
                events += decoder.feed(e)
        for e in sse.close():
            events += decoder.feed(e)
    else:
        for element in json.loads(rec.body):
            events += decoder.feed(SSEEvent(None, json.dumps(element).encode()))
    return events + decoder.close()


def _is_stream(rec: Recorded) -> bool:
    return rec.is_sse or rec.relpath.endswith("stream_json_array_thoughts_function_call.json")


def _validate_stream(target: str, payload: bytes) -> int:
    """Parse what an encoder produced with the target SDK's types; returns the events validated."""
    count = 0
    if target == "gemini":
        for e in SSEDecoder().feed(payload):
            gt.GenerateContentResponse.model_validate_json(e.data)
            count += 1
        return count
    for e in SSEDecoder().feed(payload):
        if target == "openai":
            if e.data == b"[DONE]":
                continue
            oc.ChatCompletionChunk.model_validate_json(e.data)
        else:
            ANTHROPIC_EVENT.validate_json(e.data)
        count += 1
    return count


@pytest.mark.parametrize("rec", CHAT, ids=lambda r: r.id)
def test_recorded_response_converts_to_the_other_protocols(rec: Recorded) -> None:
    for target in OTHERS[rec.kind]:
        codec = CODECS[target]
        if _is_stream(rec):
            events = _ir_stream(rec)
            assert any(isinstance(e, ir.StreamEnd) for e in events), rec.id
            encoder = codec.stream_encoder(model="public-model", include_usage=True, sse=True)
            payload = b"".join(encoder.encode(e) for e in events) + encoder.close()
            assert _validate_stream(target, payload) >= 2
        else:
            response = CODECS[rec.kind].parse_response(rec.body)
            body = codec.emit_response(response, model="public-model")
            if target == "openai":
                parsed = oc.ChatCompletion.model_validate_json(body)
                assert parsed.usage.completion_tokens == response.usage.output_tokens
                assert parsed.usage.prompt_tokens == response.usage.prompt_tokens
            elif target == "anthropic":
                parsed = at.Message.model_validate_json(body)
                assert parsed.usage.output_tokens == response.usage.output_tokens
            else:
                parsed = gt.GenerateContentResponse.model_validate_json(body)
                assert parsed.usage_metadata.prompt_token_count == response.usage.prompt_tokens


REQUESTS = [r for r in RECORDED if r.request_body is not None and r.operation == "chat"]


@pytest.mark.parametrize("rec", REQUESTS, ids=lambda r: r.id)
def test_recorded_request_converts_to_the_other_protocols(rec: Recorded) -> None:
    request = CODECS[rec.kind].parse_request(rec.request_body, model=rec.model, stream=_is_stream(rec))
    for target in OTHERS[rec.kind]:
        body = json.loads(CODECS[target].emit_request(request, model="upstream-model"))
        if target == "openai":
            OPENAI_REQUEST.validate_python(body)
        elif target == "anthropic":
            ANTHROPIC_REQUEST.validate_python(body)
        else:
            for content in body["contents"]:
                gt.Content.model_validate(content)
            for key, model in (("generationConfig", gt.GenerationConfig), ("systemInstruction", gt.Content),
                               ("toolConfig", gt.ToolConfig)):
                if key in body:
                    model.model_validate(body[key])
            for tool in body.get("tools", []):
                gt.Tool.model_validate(tool)


@pytest.mark.parametrize("rec", ERRORS, ids=lambda r: r.id)
def test_recorded_error_maps_to_the_other_protocols(rec: Recorded) -> None:
    error = CODECS[rec.kind].parse_error(rec.status, rec.body)
    assert error.message
    for target in OTHERS[rec.kind]:
        status, body = CODECS[target].emit_error(error)
        doc = json.loads(body)
        assert 400 <= status < 600
        assert doc["error"]["message"] == error.message


# ------------------------------------------------------------------------------ passthrough replays

PASSTHROUGH = [r for r in RECORDED if not r.is_error and r.request_body is not None
               and not r.relpath.endswith("stream_json_array_thoughts_function_call.json")]


def _call(relay: Relay, rec: Recorded, public: str) -> httpx.Response:
    key = relay.admin_key
    if rec.kind == "gemini":
        method = "streamGenerateContent?alt=sse" if rec.is_sse else "generateContent"
        return httpx.post(f"{relay.base_url}/v1beta/models/{public}:{method}", content=rec.request_body,
                          headers={"x-goog-api-key": key, "content-type": "application/json"}, timeout=30)
    body = json.loads(rec.request_body)
    body["model"] = public
    path = {"chat": "/v1/chat/completions" if rec.kind == "openai" else "/v1/messages",
            "responses": "/v1/responses", "embeddings": "/v1/embeddings"}[rec.operation]
    return httpx.post(relay.base_url + path, content=json.dumps(body).encode(), timeout=30,
                      headers={"authorization": f"Bearer {key}", "content-type": "application/json"})


@pytest.mark.parametrize("rec", PASSTHROUGH, ids=lambda r: r.id)
def test_passthrough_replay_is_byte_identical(relay: Relay, upstreams: dict[str, ProviderServer],
                                              rec: Recorded) -> None:
    public = rec.model
    add_upstream_channel(relay, rec.kind, upstreams[rec.kind], [public], name=f"replay-{uuid.uuid4().hex[:8]}",
                         priority=1000)
    upstreams[rec.kind].provider.script(Replay(rec.relpath))
    try:
        r = _call(relay, rec, public)
    finally:
        _delete_channels_for(relay, public)  # several fixtures share a model name
    assert r.status_code == 200, r.text
    assert r.content == rec.body


_MODEL = re.compile(rb'"model"\s*:\s*"[^"]*"')


@pytest.mark.parametrize("rec", [r for r in PASSTHROUGH if r.kind != "gemini"], ids=lambda r: r.id)
def test_passthrough_replay_with_mapped_model_differs_only_in_model(
        relay: Relay, upstreams: dict[str, ProviderServer], rec: Recorded) -> None:
    public = f"alias-{uuid.uuid4().hex[:8]}"
    add_upstream_channel(relay, rec.kind, upstreams[rec.kind], [public], model_map={public: rec.model})
    upstreams[rec.kind].provider.script(Replay(rec.relpath))
    r = _call(relay, rec, public)
    assert r.status_code == 200, r.text
    assert upstreams[rec.kind].provider.requests[-1].body["model"] == rec.model
    got, want = r.content, rec.body
    if _MODEL.search(want):
        assert f'"model":"{public}"'.encode() in got
    assert _MODEL.sub(b'"model":"X"', got) == _MODEL.sub(b'"model":"X"', want)


def _delete_channels_for(relay: Relay, model: str) -> None:
    for ch in relay.api("GET", "/channels").json():
        if model in ch["models"]:
            relay.api("DELETE", f"/channels/{ch['id']}")
