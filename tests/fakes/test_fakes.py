"""Tests of the fake providers themselves, with the official SDKs pointed straight at them (no relay)."""

from __future__ import annotations

import json
import threading
import time

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from . import (
    BreakMidStream,
    Fail,
    FakeProvider,
    ProviderServer,
    Replay,
    Respond,
    Slow,
    Stall,
    StallAfterHeaders,
    extract_usage,
    fixture_bytes,
    refused_url,
)
from ._common import arguments_for_schema

try:  # recent openai/anthropic SDKs run on httpx2
    import httpx2
except ImportError:  # pragma: no cover
    httpx2 = httpx

KEY = "sk-fake-test"
USER = "hello there general kenobi how are you"
ECHO = "Echo: " + USER


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def servers():
    started = {
        kind: ProviderServer(FakeProvider(kind, api_key=KEY)).start() for kind in ("openai", "anthropic", "gemini")
    }
    yield started
    for server in started.values():
        server.stop()


def _fresh(servers, kind):
    server = servers[kind]
    server.provider.reset()
    return server


@pytest.fixture
def oai_server(servers):
    return _fresh(servers, "openai")


@pytest.fixture
def ant_server(servers):
    return _fresh(servers, "anthropic")


@pytest.fixture
def gem_server(servers):
    return _fresh(servers, "gemini")


@pytest.fixture
def oai(oai_server):
    return openai.OpenAI(base_url=oai_server.base_url + "/v1", api_key=KEY, max_retries=0)


@pytest.fixture
def ant(ant_server):
    return anthropic.Anthropic(base_url=ant_server.base_url, api_key=KEY, max_retries=0)


def gemini_client(server, key=KEY):
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=server.base_url, api_version="v1beta"))


@pytest.fixture
def gem(gem_server):
    return gemini_client(gem_server)


SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "ratio": {"type": "number"},
        "metric": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "ignored": {"type": "string"},
    },
    "required": ["city", "days", "ratio", "metric", "tags", "extra", "unit"],
}
ARGS = {"city": "test", "days": 42, "ratio": 1.5, "metric": True, "tags": [], "extra": {}, "unit": "celsius"}
OAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]
ANT_TOOLS = [{"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}]


def test_arguments_for_schema():
    assert arguments_for_schema(SCHEMA) == ARGS
    assert arguments_for_schema({"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}, "s": {}}}) == {
        "n": 42,
        "s": "test",
    }
    assert arguments_for_schema({"type": "object", "properties": {}}) == {}


# --------------------------------------------------------------------------- OpenAI


def test_openai_chat_text(oai, oai_server):
    resp = oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": USER}])
    assert resp.choices[0].message.content == ECHO
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "gpt-4o-mini"
    assert resp.usage.model_dump(exclude_none=True) == oai_server.provider.last_usage
    assert resp.usage.prompt_tokens == len(USER.split()) + 10
    assert resp.usage.completion_tokens == len(ECHO.split())
    req = oai_server.provider.last_request
    assert (req.method, req.path, req.endpoint, req.model) == (
        "POST",
        "/v1/chat/completions",
        "chat.completions",
        "gpt-4o-mini",
    )
    assert req.header("authorization") == f"Bearer {KEY}"
    assert req.body["messages"] == [{"role": "user", "content": USER}]


def test_openai_chat_stream_with_and_without_usage(oai, oai_server):
    stream = oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": USER}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ECHO
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 5
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump(exclude_none=True) == oai_server.provider.last_usage

    raw = httpx.post(
        oai_server.base_url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": USER}], "stream": True},
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.endswith("data: [DONE]\n\n")
    events = [json.loads(line[6:]) for line in raw.text.split("\n\n") if line.startswith("data: {")]
    assert all("usage" not in e and e["choices"] for e in events)
    assert oai_server.provider.last_usage is None  # nothing reported without include_usage


def test_openai_tool_call_and_result(oai, oai_server):
    resp = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}], tools=OAI_TOOLS
    )
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == ARGS

    stream = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather?"}],
        tools=OAI_TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    fragments = [
        c.choices[0].delta.tool_calls[0].function.arguments
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    ]
    assert len(fragments) > 3 and json.loads("".join(fragments)) == ARGS
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage.model_dump(exclude_none=True) == oai_server.provider.last_usage

    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_calls": [{"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny 21C"},
    ]
    resp = oai.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=OAI_TOOLS)
    assert resp.choices[0].message.content == "Tool result: sunny 21C"


def test_openai_max_tokens_and_cached_reasoning_usage(oai, oai_server):
    oai_server.provider.cached_tokens, oai_server.provider.reasoning_tokens = 4, 7
    resp = oai.chat.completions.create(
        model="o3", messages=[{"role": "user", "content": USER}], max_completion_tokens=2
    )
    assert resp.choices[0].message.content == "Echo: hello" and resp.choices[0].finish_reason == "length"
    assert resp.usage.prompt_tokens_details.cached_tokens == 4
    assert resp.usage.completion_tokens_details.reasoning_tokens == 7
    assert resp.usage.completion_tokens == 2 + 7
    assert resp.usage.model_dump(exclude_none=True) == oai_server.provider.last_usage


def test_openai_embeddings_completions_responses_models(oai, oai_server):
    floats = oai.embeddings.create(model="text-embedding-3-small", input=["a b c", "d"], encoding_format="float")
    b64 = oai.embeddings.create(model="text-embedding-3-small", input=["a b c", "d"])  # SDK asks for base64
    assert oai_server.provider.last_request.body["encoding_format"] == "base64"
    assert len(floats.data) == 2 and len(floats.data[0].embedding) == 16
    assert [d.embedding for d in floats.data] == [d.embedding for d in b64.data]
    assert floats.usage.prompt_tokens == 4

    comp = oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="say hi")
    assert comp.choices[0].text == "Echo: say hi" and comp.usage.total_tokens == comp.usage.prompt_tokens + 3

    resp = oai.responses.create(model="gpt-4.1", input="ping pong")
    assert resp.output_text == "Echo: ping pong" and resp.model == "gpt-4.1"
    assert resp.usage.model_dump(exclude_none=True) == oai_server.provider.last_usage
    with oai.responses.stream(model="gpt-4.1", input=[{"role": "user", "content": "ping pong"}]) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Echo: ping pong" and final.usage.output_tokens == 3

    assert "gpt-4o-mini" in [m.id for m in oai.models.list()]


def test_openai_azure_route(oai_server):
    client = openai.AzureOpenAI(
        azure_endpoint=oai_server.base_url, api_key=KEY, api_version="2024-10-21", max_retries=0
    )
    resp = client.chat.completions.create(model="my-deployment", messages=[{"role": "user", "content": USER}])
    assert resp.choices[0].message.content == ECHO
    req = oai_server.provider.last_request
    assert (req.deployment, req.api_version, req.header("api-key")) == ("my-deployment", "2024-10-21", KEY)
    bad = openai.AzureOpenAI(
        azure_endpoint=oai_server.base_url, api_key="nope", api_version="2024-10-21", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as exc:
        bad.chat.completions.create(model="my-deployment", messages=[{"role": "user", "content": "x"}])
    assert exc.value.body["code"] == "401"


def test_openai_auth_errors(oai_server):
    bad = openai.OpenAI(base_url=oai_server.base_url + "/v1", api_key="sk-wrong-key-123", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as exc:
        bad.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert exc.value.code == "invalid_api_key" and "Incorrect API key provided" in exc.value.message
    missing = httpx.post(oai_server.base_url + "/v1/chat/completions", json={"model": "m", "messages": []})
    assert missing.status_code == 401 and "didn't provide an API key" in missing.json()["error"]["message"]
    assert oai_server.provider.pending == 0


async def test_openai_custom_prefix_in_process():
    fake = FakeProvider("openai", api_key=None, prefix="/api/v1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        r = await client.post(
            "/api/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert r.json()["choices"][0]["message"]["content"] == "Echo: hi"
        assert (await client.get("/v1/models")).status_code == 404


# --------------------------------------------------------------------------- Anthropic


def test_anthropic_text(ant, ant_server):
    msg = ant.messages.create(model="claude-test-1", max_tokens=100, messages=[{"role": "user", "content": USER}])
    assert msg.content[0].text == ECHO and msg.stop_reason == "end_turn" and msg.model == "claude-test-1"
    assert msg.usage.model_dump(exclude_none=True) == ant_server.provider.last_usage
    assert msg.usage.input_tokens == len(USER.split()) + 10
    assert ant_server.provider.last_request.header("anthropic-version")

    with ant.messages.stream(model="claude-test-2", max_tokens=100, messages=[{"role": "user", "content": USER}]) as s:
        pieces = list(s.text_stream)
        final = s.get_final_message()
    assert "".join(pieces) == ECHO and len(pieces) == 5
    assert final.usage.model_dump(exclude_none=True) == ant_server.provider.last_usage


def test_anthropic_raw_stream_format(ant_server):
    r = httpx.post(
        ant_server.base_url + "/v1/messages",
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        json={"model": "claude-x", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    )
    events = [e.split("\n")[0][7:] for e in r.text.strip().split("\n\n")]
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert any(line.startswith("data: {") and line.endswith("} ") or line.endswith("  ") for line in r.text.split("\n"))
    assert extract_usage("anthropic", r.content, True) == ant_server.provider.last_usage


def test_anthropic_tool_use_and_result(ant, ant_server):
    msg = ant.messages.create(
        model="c", max_tokens=100, tools=ANT_TOOLS, messages=[{"role": "user", "content": "weather?"}]
    )
    block = msg.content[0]
    assert msg.stop_reason == "tool_use" and block.type == "tool_use" and block.id.startswith("toolu_")
    assert block.input == ARGS

    with ant.messages.stream(
        model="c", max_tokens=100, tools=ANT_TOOLS, messages=[{"role": "user", "content": "weather?"}]
    ) as s:
        partial = [e.partial_json for e in s if e.type == "input_json"]
        final = s.get_final_message()
    assert len([p for p in partial if p]) > 3 and final.content[0].input == ARGS
    assert final.usage.model_dump(exclude_none=True) == ant_server.provider.last_usage

    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": block.id, "name": "get_weather", "input": ARGS}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny 21C"}]},
    ]
    msg = ant.messages.create(model="c", max_tokens=100, tools=ANT_TOOLS, messages=messages)
    assert msg.content[0].text == "Tool result: sunny 21C"


def test_anthropic_count_tokens_version_and_auth(ant, ant_server):
    count = ant.messages.count_tokens(model="c", messages=[{"role": "user", "content": "a b c"}])
    assert count.input_tokens == 13
    r = httpx.post(
        ant_server.base_url + "/v1/messages", headers={"x-api-key": KEY}, json={"model": "c", "messages": []}
    )
    assert r.status_code == 400 and r.json()["error"]["message"] == "anthropic-version: header is required"
    bad = anthropic.Anthropic(base_url=ant_server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as exc:
        bad.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert exc.value.body["error"]["type"] == "authentication_error"


# --------------------------------------------------------------------------- Gemini


def test_gemini_text_and_stream(gem, gem_server):
    resp = gem.models.generate_content(model="gemini-2.5-flash", contents=USER)
    assert resp.text == ECHO and resp.model_version == "gemini-2.5-flash"
    assert (
        resp.usage_metadata.model_dump(mode="json", by_alias=True, exclude_none=True) == gem_server.provider.last_usage
    )
    assert gem_server.provider.last_request.header("x-goog-api-key") == KEY

    chunks = list(gem.models.generate_content_stream(model="gemini-2.0-flash", contents=USER))
    assert "".join(c.text for c in chunks) == ECHO and len(chunks) == 5
    counts = [c.usage_metadata.candidates_token_count for c in chunks]
    assert counts == sorted(counts) and counts[-1] == len(ECHO.split())  # cumulative
    assert (
        chunks[-1].usage_metadata.model_dump(mode="json", by_alias=True, exclude_none=True)
        == gem_server.provider.last_usage
    )
    assert gem_server.provider.last_request.query == {"alt": "sse"}


def test_gemini_raw_framing(gem_server):
    url = gem_server.base_url + "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": USER}]}]}
    sse = httpx.post(url + "?alt=sse", headers={"x-goog-api-key": KEY}, json=body)
    assert sse.headers["content-type"] == "text/event-stream"
    assert sse.content.count(b"\r\n\r\n") == 5 and sse.content.endswith(b"}\r\n\r\n")
    array = httpx.post(url + f"?key={KEY}", json=body)  # no alt=sse: one JSON array
    parsed = array.json()
    assert isinstance(parsed, list) and len(parsed) == 5 and b"\n,\r\n" in array.content
    assert "".join(p["candidates"][0]["content"]["parts"][0]["text"] for p in parsed) == ECHO
    assert parsed[-1]["candidates"][0]["finishReason"] == "STOP"


def test_gemini_function_call_and_response(gem, gem_server):
    gem_server.provider.cached_tokens, gem_server.provider.reasoning_tokens = 3, 5
    tool = types.Tool(
        function_declarations=[types.FunctionDeclaration(name="get_weather", parameters_json_schema=SCHEMA)]
    )
    config = types.GenerateContentConfig(tools=[tool])
    resp = gem.models.generate_content(model="gemini-2.5-flash", contents="weather?", config=config)
    call = resp.function_calls[0]
    assert call.name == "get_weather" and call.args == ARGS and call.id is None
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    usage = resp.usage_metadata
    assert (usage.cached_content_token_count, usage.thoughts_token_count) == (3, 5)
    assert usage.model_dump(mode="json", by_alias=True, exclude_none=True) == gem_server.provider.last_usage

    chunks = list(gem.models.generate_content_stream(model="gemini-2.5-flash", contents="weather?", config=config))
    assert len(chunks) == 1 and chunks[0].function_calls[0].args == ARGS

    contents = [
        types.Content(role="user", parts=[types.Part(text="weather?")]),
        types.Content(role="model", parts=[types.Part(function_call=call)]),
        types.Content(
            role="user", parts=[types.Part.from_function_response(name="get_weather", response={"result": "sunny"})]
        ),
    ]
    resp = gem.models.generate_content(model="gemini-2.5-flash", contents=contents, config=config)
    assert resp.text == "Tool result: sunny"


def test_gemini_auth_and_models(gem, gem_server):
    bad = gemini_client(gem_server, key="bad")
    with pytest.raises(genai_errors.ClientError) as exc:
        bad.models.generate_content(model="gemini-2.0-flash", contents="x")
    assert exc.value.code == 400 and exc.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    with pytest.raises(genai_errors.ClientError):
        list(bad.models.generate_content_stream(model="gemini-2.0-flash", contents="x"))
    assert "models/gemini-2.0-flash" in [m.name for m in gem.models.list()]


# --------------------------------------------------------------------------- scripted behaviours


@pytest.mark.parametrize(
    ("kind", "fixture", "path", "body"),
    [
        ("openai", "openai/chat_stream_tool_calls.sse", "/v1/chat/completions", {"model": "m", "stream": True}),
        ("anthropic", "anthropic/messages_stream_text.sse", "/v1/messages", {"model": "m", "stream": True}),
        ("gemini", "gemini/stream_sse_text_usage.sse", "/v1beta/models/g:streamGenerateContent?alt=sse", {}),
        ("openai", "openai/error_404_model_not_found.json", "/v1/chat/completions", {"model": "m"}),
    ],
)
def test_replay_is_byte_exact(servers, kind, fixture, path, body):
    server = _fresh(servers, kind)
    server.provider.script(Replay(fixture))
    headers = {
        "Authorization": f"Bearer {KEY}",
        "x-api-key": KEY,
        "anthropic-version": "2023-06-01",
        "x-goog-api-key": KEY,
    }
    r = httpx.post(server.base_url + path, headers=headers, json=body)
    assert r.content == fixture_bytes(fixture)
    if fixture.endswith(".sse"):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert server.provider.last_usage == extract_usage(kind, r.content, True) is not None
    else:
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")


def test_replay_through_sdks(oai, ant, gem, oai_server, ant_server, gem_server):
    oai_server.provider.script(Replay("openai/chat_stream_tool_calls.sse"))
    chunks = list(oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True))
    args = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    )
    assert json.loads(args) == {"a": 1231, "b": 2331} and chunks[-1].usage.prompt_tokens == 54

    ant_server.provider.script(Replay("anthropic/messages_stream_tool_use_input_json_delta.sse"))
    with ant.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as s:
        final = s.get_final_message()
    assert final.content[1].input == {"city": "San Francisco"} and final.usage.output_tokens == 85

    gem_server.provider.script(Replay("gemini/stream_json_array_thoughts_function_call.json"))
    r = httpx.post(
        gem_server.base_url + "/v1beta/models/g:streamGenerateContent", headers={"x-goog-api-key": KEY}, json={}
    )
    assert len(r.json()) == 2 and gem_server.provider.last_usage["totalTokenCount"] == 86
    gem_server.provider.script(Replay("gemini/generate_nonstream_text.json"))
    assert gem.models.generate_content(model="g", contents="x").text.startswith("Hi there!")


def test_fail_realistic_bodies(oai, ant, gem, oai_server, ant_server, gem_server):
    oai_server.provider.script(Fail(429), Fail(500), Fail(418, body={"error": {"message": "teapot"}}))
    with pytest.raises(openai.RateLimitError) as exc:
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert exc.value.code == "rate_limit_exceeded" and "gpt-4o-mini" in exc.value.message
    with pytest.raises(openai.InternalServerError) as exc:
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert exc.value.body["type"] == "server_error"
    with pytest.raises(openai.APIStatusError) as exc:
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert exc.value.status_code == 418 and exc.value.message.endswith("teapot")
    assert oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]).choices  # script empty

    ant_server.provider.script(Fail(529))
    with pytest.raises(anthropic.APIStatusError) as exc:
        ant.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert exc.value.status_code == 529 and exc.value.body["error"]["type"] == "overloaded_error"

    gem_server.provider.script(Fail(503))
    with pytest.raises(genai_errors.ServerError) as exc:
        gem.models.generate_content(model="g", contents="x")
    assert exc.value.code == 503 and exc.value.status == "UNAVAILABLE"
    assert [r.status for r in gem_server.provider.requests] == [503]
    assert gem_server.provider.last_usage is None


def test_stall_delays_first_byte(oai_server):
    provider = oai_server.provider
    provider.script(Stall(seconds=5), Stall(0.2, then=Fail(503)))
    url, headers = oai_server.base_url + "/v1/chat/completions", {"Authorization": f"Bearer {KEY}"}
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, headers=headers, json=body, timeout=httpx.Timeout(5, read=0.3))
    assert time.monotonic() - start < 1.5
    deadline = time.monotonic() + 2
    while not provider.requests[0].aborted and time.monotonic() < deadline:  # client left: the stall ends
        time.sleep(0.01)
    assert provider.requests[0].aborted and provider.requests[0].status is None
    start = time.monotonic()
    r = httpx.post(url, headers=headers, json=body)
    assert r.status_code == 503 and time.monotonic() - start >= 0.2


def test_stall_after_headers(oai_server):
    oai_server.provider.script(StallAfterHeaders(5))
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    start = time.monotonic()
    with httpx.Client(timeout=httpx.Timeout(5, read=0.3)) as client:
        with client.stream(
            "POST", oai_server.base_url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
        ) as r:
            assert r.status_code == 200 and time.monotonic() - start < 2
            with pytest.raises(httpx.ReadTimeout):
                r.read()


def test_break_mid_stream(oai, oai_server, ant, ant_server):
    oai_server.provider.script(BreakMidStream(after_chunks=3))
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": USER}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream(
            "POST", oai_server.base_url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
        ) as r:
            for line in r.iter_lines():
                if line:
                    received.append(line)
    assert len(received) == 3 and not any("[DONE]" in x or '"usage":{' in x for x in received)
    assert oai_server.provider.last_request.aborted and oai_server.provider.last_usage is None

    oai_server.provider.script(BreakMidStream(1, then=Replay("openai/chat_nonstream_simple.json")))
    with pytest.raises(openai.APIConnectionError):  # non-stream body cut in half
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])

    ant_server.provider.script(BreakMidStream(4))
    with pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError)):
        with ant.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": USER}]) as s:
            list(s.text_stream)
    assert ant_server.provider.last_usage is None


def test_slow_and_chunk_interval(oai_server):
    provider = oai_server.provider
    provider.script(Slow(0.06), Respond(body={"ok": True}))
    body = {"model": "m", "messages": [{"role": "user", "content": USER}], "stream": True}
    arrivals = []
    start = time.monotonic()
    with httpx.stream(
        "POST", oai_server.base_url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
    ) as r:
        for line in r.iter_lines():
            if line:
                arrivals.append(time.monotonic() - start)
    assert len(arrivals) == 8 and arrivals[-1] - arrivals[0] >= 6 * 0.06 * 0.9
    r = httpx.post(oai_server.base_url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert r.json() == {"ok": True} and provider.pending == 0


def test_refused_url_and_server_lifecycle():
    with pytest.raises(httpx.ConnectError):
        httpx.get(refused_url() + "/v1/models", timeout=2)

    server = ProviderServer(FakeProvider("openai", api_key=None)).start()
    server.provider.script(Stall(30))
    t = threading.Thread(
        target=lambda: httpx.post(server.url("/v1/chat/completions"), json={"model": "m"}, timeout=10), daemon=True
    )
    t.start()
    server.provider.wait_for_requests(1)
    start = time.monotonic()
    server.stop()  # must not wait for the 30 s stall
    assert time.monotonic() - start < 2 and not server.running
    t.join(3)
    assert not t.is_alive()
