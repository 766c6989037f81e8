"""The OpenAI Chat Completions codec against recorded provider traffic and the official SDK."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from app.relay.protocols import ir
from app.relay.protocols.base import ProtocolError
from app.relay.protocols.openai import codec
from app.relay.protocols.sse import SSEDecoder, SSEEvent

RECORDED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "recorded"
OPENAI_DIR = RECORDED / "openai"


def _chat_fixtures() -> list[dict[str, str]]:
    """Rows of SOURCES.tsv recorded against /v1/chat/completions."""
    with (RECORDED / "SOURCES.tsv").open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [r for r in rows if r["file"].startswith("openai/") and r["endpoint"].endswith("/chat/completions")]


CHAT_ROWS = _chat_fixtures()
CHAT_REQUESTS = sorted(r["request_file"] for r in CHAT_ROWS if r["request_file"])
CHAT_RESPONSES = sorted(r["file"] for r in CHAT_ROWS if r["file"].endswith(".json") and r["http_status"] == "200")
CHAT_STREAMS = sorted(r["file"] for r in CHAT_ROWS if r["file"].endswith(".sse"))
CHAT_ERRORS = sorted((r["file"], int(r["http_status"])) for r in CHAT_ROWS if r["http_status"] != "200")


def _read(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def _expected_usage(raw: dict[str, Any]) -> ir.Usage:
    cached = (raw.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (raw.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return ir.Usage(
        input_tokens=raw["prompt_tokens"] - cached,
        output_tokens=raw["completion_tokens"],
        cache_read_tokens=cached,
        reasoning_tokens=reasoning,
    )


def _sse_payloads(data: bytes) -> list[bytes]:
    return [line[len(b"data: ") :] for line in data.split(b"\n") if line.startswith(b"data: ")]


def _decode_stream(data: bytes, chunk_size: int = 7) -> list[ir.StreamEvent]:
    """Feed raw SSE bytes in awkward slices through SSEDecoder and the codec's stream decoder."""
    sse, decoder = SSEDecoder(), codec.stream_decoder()
    events: list[ir.StreamEvent] = []
    for i in range(0, len(data), chunk_size):
        for event in sse.feed(data[i : i + chunk_size]):
            events.extend(decoder.feed(event))
    for event in sse.close():
        events.extend(decoder.feed(event))
    events.extend(decoder.close())
    return events


def _encode_stream(events: list[ir.StreamEvent], *, model: str = "client-model", include_usage: bool = True) -> bytes:
    encoder = codec.stream_encoder(model=model, include_usage=include_usage)
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def _original_stream(data: bytes) -> tuple[str, dict[int, dict[str, str]], dict[str, Any] | None, str | None]:
    """What the recorded stream says: text, tool calls by index, usage object, finish reason."""
    text, tools, usage, finish = "", {}, None, None
    for payload in _sse_payloads(data):
        if payload == b"[DONE]":
            continue
        chunk = json.loads(payload)
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                entry = tools.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                entry["id"] = call.get("id") or entry["id"]
                fn = call.get("function") or {}
                entry["name"] = fn.get("name") or entry["name"]
                entry["arguments"] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return text, tools, usage, finish


def _accumulate(events: list[ir.StreamEvent]) -> tuple[str, list[ir.ToolCallBlock], ir.Usage | None, str | None]:
    text = ""
    tools: dict[int, ir.ToolCallBlock] = {}
    usage: ir.Usage | None = None
    stop: str | None = None
    for event in events:
        if isinstance(event, ir.BlockStart) and isinstance(event.block, ir.ToolCallBlock):
            tools[event.index] = ir.ToolCallBlock(id=event.block.id, name=event.block.name)
        elif isinstance(event, ir.BlockDelta) and event.kind == "text":
            text += event.text
        elif isinstance(event, ir.BlockDelta) and event.kind == "arguments":
            tools[event.index].arguments += event.text
        elif isinstance(event, ir.MessageDelta):
            usage = event.usage or usage
            stop = event.stop_reason or stop
    return text, list(tools.values()), usage, stop


def _sdk_client(handler: Callable[[httpx.Request], httpx.Response]) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://relay.test/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def _sse_client(body: bytes) -> openai.OpenAI:
    return _sdk_client(lambda _req: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body))


def _assert_block_structure(events: list[ir.StreamEvent]) -> None:
    """Blocks are opened in index order 0, 1, 2..., deltas only hit open blocks, all get closed."""
    open_blocks: set[int] = set()
    next_index = 0
    for event in events:
        if isinstance(event, ir.BlockStart):
            assert event.index == next_index
            next_index += 1
            open_blocks.add(event.index)
        elif isinstance(event, ir.BlockDelta):
            assert event.index in open_blocks
        elif isinstance(event, ir.BlockStop):
            open_blocks.remove(event.index)
    assert not open_blocks


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize("name", CHAT_REQUESTS)
def test_recorded_chat_request_round_trips_through_emit(name: str) -> None:
    parsed = codec.parse_request(_read(name))
    raw = json.loads(_read(name))
    assert parsed.model == raw["model"]
    assert parsed.stream == bool(raw.get("stream"))
    again = codec.parse_request(codec.emit_request(parsed, model=parsed.model))
    assert again == parsed


def test_recorded_tool_history_maps_to_tool_call_and_named_result() -> None:
    parsed = codec.parse_request(_read("openai/chat_stream_text_include_usage.request.json"))
    assert parsed.include_usage is True
    assert [m.role for m in parsed.messages] == ["user", "assistant", "assistant", "user"]
    call = parsed.messages[2].content[0]
    assert isinstance(call, ir.ToolCallBlock)
    assert (call.name, json.loads(call.arguments)) == ("multiply", {"a": 1231, "b": 2331})
    result = parsed.messages[3].content[0]
    assert isinstance(result, ir.ToolResultBlock)
    assert (result.tool_call_id, result.name, result.content) == (call.id, "multiply", [ir.TextBlock("2869461")])
    assert parsed.tools[0].parameters["required"] == ["a", "b"]


def test_recorded_parallel_tool_request_keeps_tools_and_choice() -> None:
    parsed = codec.parse_request(_read("openai/chat_nonstream_parallel_tool_calls.request.json"))
    assert [t.name for t in parsed.tools] == [
        "parallel_local_search_one",
        "parallel_local_search_two",
        "parallel_local_search_three",
    ]
    assert parsed.tool_choice == ir.ToolChoice(mode="auto")
    assert parsed.system[0].text.startswith("You are Parallel Tool Agent")


def test_request_content_parts_images_reasoning_and_options() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be terse."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                ],
            },
            {"role": "assistant", "reasoning_content": "Looks like a cat.", "content": "A cat."},
        ],
        "max_completion_tokens": 100,
        "max_tokens": 5,
        "stop": "END",
        "seed": 7,
        "top_p": 0.5,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "user": "u-1",
        "reasoning_effort": "high",
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "parallel_tool_calls": False,
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
    }
    req = codec.parse_request(json.dumps(body).encode())
    assert req.system == [ir.TextBlock("Be terse.")]
    assert req.messages[0].content == [
        ir.TextBlock("What is this?"),
        ir.ImageBlock(data="iVBORw0KGgo=", media_type="image/png", detail="low"),
        ir.ImageBlock(url="https://example.com/cat.jpg"),
    ]
    assert req.messages[1].content == [ir.ThinkingBlock(text="Looks like a cat."), ir.TextBlock("A cat.")]
    assert req.max_tokens == 100
    assert req.stop == ["END"]
    assert (req.seed, req.top_p, req.presence_penalty, req.frequency_penalty, req.user) == (7, 0.5, 0.1, 0.2, "u-1")
    assert req.thinking == ir.Thinking(effort="high")
    assert req.tool_choice == ir.ToolChoice(mode="tool", name="lookup", disable_parallel=True)
    assert req.tools == [ir.Tool(name="lookup")]
    assert req.response_format == ir.ResponseFormat(
        type="json_schema", name="answer", schema={"type": "object"}, strict=True
    )
    assert req.include_usage is False

    emitted = json.loads(codec.emit_request(req, model="gpt-4o"))
    image_parts = emitted["messages"][1]["content"]
    assert image_parts[1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
    }
    # reasoning_content is not sent back: OpenAI rejects unknown message fields.
    assert emitted["messages"][2] == {"role": "assistant", "content": "A cat."}
    assert emitted["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert emitted["parallel_tool_calls"] is False
    assert emitted["reasoning_effort"] == "high"
    assert emitted["max_tokens"] == 100


def test_emit_request_for_upstream_streams_with_usage_and_flattens_foreign_shapes() -> None:
    req = ir.Request(
        model="claude-sonnet",
        system=[ir.TextBlock("You are a bot.", cache_control={"type": "ephemeral"}), ir.TextBlock("Be brief.")],
        messages=[
            ir.Message(role="user", content=[ir.TextBlock("Weather in Paris?")]),
            ir.Message(
                role="assistant",
                content=[
                    ir.ThinkingBlock(text="Need the tool.", signature="sig"),
                    ir.ToolCallBlock(id="toolu_1", name="weather", arguments='{"city":"Paris"}'),
                ],
            ),
            ir.Message(
                role="user",
                content=[
                    ir.ToolResultBlock(
                        tool_call_id="toolu_1",
                        name="weather",
                        content=[ir.TextBlock("18C"), ir.ImageBlock(data="AAAA", media_type="image/png")],
                    ),
                    ir.TextBlock("And tomorrow?"),
                ],
            ),
        ],
        top_k=40,
        max_tokens=256,
        stream=True,
        include_usage=False,
        thinking=ir.Thinking(budget_tokens=10000),
    )
    body = json.loads(codec.emit_request(req, model="o3-mini"))
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "You are a bot.\n\nBe brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "user", "content": "And tomorrow?"},
    ]
    assert "top_k" not in body
    assert body["max_completion_tokens"] == 256 and "max_tokens" not in body  # reasoning model
    assert body["reasoning_effort"] == "high"
    assert json.loads(codec.emit_request(req, model="deepseek-chat"))["max_tokens"] == 256


_USER_X = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": _USER_X}, "model"),
        ({"model": "gpt-4o"}, "messages"),
        ({"model": "gpt-4o", "messages": []}, "messages"),
        ({"model": "gpt-4o", "messages": "hello"}, "messages"),
        (
            {
                "model": "gpt-4o",
                "messages": [*_USER_X, {"role": "assistant", "content": "b"}, {"role": "user", "content": 42}],
            },
            "messages[2].content",
        ),
        ({"model": "gpt-4o", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "gpt-4o", "messages": [{"content": "x"}]}, "messages[0].role"),
        ({"model": "gpt-4o", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages[0].content[0].type",
        ),
        ({"model": "gpt-4o", "messages": _USER_X, "temperature": "hot"}, "temperature"),
        ({"model": "gpt-4o", "messages": _USER_X, "tool_choice": "sometimes"}, "tool_choice"),
        ({"model": "gpt-4o", "messages": _USER_X, "tools": [{"type": "function"}]}, "tools[0].function"),
        (
            {"model": "gpt-4o", "messages": _USER_X, "response_format": {"type": "json_schema"}},
            "response_format.json_schema",
        ),
    ],
)
def test_malformed_request_names_the_offending_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ProtocolError) as excinfo:
        codec.parse_request(json.dumps(body).encode())
    assert excinfo.value.error.param == param
    assert excinfo.value.error.status == 400
    assert param in str(excinfo.value)


@pytest.mark.parametrize("body", [b"", b"{not json", b"[1, 2]", b'"text"'])
def test_request_that_is_not_a_json_object_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError) as excinfo:
        codec.parse_request(body)
    assert excinfo.value.error.kind == "invalid_request"


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize("name", CHAT_RESPONSES)
def test_recorded_response_parses_with_normalised_usage(name: str) -> None:
    raw = json.loads(_read(name))
    parsed = codec.parse_response(_read(name))
    assert parsed.usage == _expected_usage(raw["usage"])
    assert codec.parse_usage(_read(name)) == parsed.usage
    assert parsed.usage.prompt_tokens == raw["usage"]["prompt_tokens"]
    assert parsed.id == raw["id"] and parsed.created == raw["created"]


def test_cached_and_reasoning_tokens_are_split_out() -> None:
    cached = codec.parse_response(_read("openai/chat_nonstream_usage_cached_tokens.json")).usage
    assert (cached.cache_read_tokens, cached.input_tokens) == (1024, 1144 - 1024)
    reasoning = codec.parse_response(_read("openai/chat_nonstream_usage_reasoning_tokens.json")).usage
    assert (reasoning.reasoning_tokens, reasoning.output_tokens) == (128, 138)


@pytest.mark.parametrize(
    ("name", "stop"),
    [
        ("openai/chat_nonstream_simple.json", "end_turn"),
        ("openai/chat_nonstream_finish_length.json", "max_tokens"),
        ("openai/chat_nonstream_parallel_tool_calls.json", "tool_use"),
    ],
)
def test_recorded_finish_reasons_map_to_ir(name: str, stop: str) -> None:
    assert codec.parse_response(_read(name)).stop_reason == stop


@pytest.mark.parametrize("name", CHAT_RESPONSES)
def test_emitted_response_validates_with_the_sdk_and_keeps_content(name: str) -> None:
    raw = json.loads(_read(name))
    body = codec.emit_response(codec.parse_response(_read(name)), model="client-model")
    completion = ChatCompletion.model_validate_json(body)
    original = raw["choices"][0]
    assert completion.object == "chat.completion"
    assert (completion.id, completion.created, completion.model) == (raw["id"], raw["created"], "client-model")
    choice = completion.choices[0]
    assert choice.finish_reason == original["finish_reason"]
    assert choice.message.content == original["message"]["content"]
    calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or ()]
    assert calls == [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in original["message"].get("tool_calls") or ()
    ]
    assert completion.usage is not None
    assert completion.usage.model_dump(exclude_none=True) == raw["usage"]


def test_emit_response_from_foreign_ir_has_openai_id_thinking_and_finish_reason() -> None:
    response = ir.Response(
        id="msg_01ABC",
        model="claude-x",
        content=[
            ir.ThinkingBlock(text="hmm", signature="s"),
            ir.TextBlock("Hi"),
            ir.ToolCallBlock(id="toolu_1", name="f", arguments='{"x":1}'),
        ],
        stop_reason="tool_use",
        usage=ir.Usage(
            input_tokens=10, output_tokens=5, cache_read_tokens=100, cache_write_tokens=20, reasoning_tokens=3
        ),
    )
    body = codec.emit_response(response, model="gpt-4o")
    completion = ChatCompletion.model_validate_json(body)
    assert completion.id == "chatcmpl-msg_01ABC" and completion.created > 0
    assert completion.choices[0].finish_reason == "tool_calls"
    assert json.loads(body)["choices"][0]["message"]["reasoning_content"] == "hmm"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        130,
        5,
        135,
    )
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 100
    assert codec.parse_usage(body) == response.usage  # cache writes survive the round trip


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("content_filter", "content_filter"),
        ("refusal", "content_filter"),
        (None, "stop"),
    ],
)
def test_ir_stop_reasons_map_to_sdk_finish_reasons(stop: ir.StopReason | None, finish: str) -> None:
    body = codec.emit_response(
        ir.Response(id="chatcmpl-1", model="m", content=[ir.TextBlock("x")], stop_reason=stop), model="m"
    )
    assert ChatCompletion.model_validate_json(body).choices[0].finish_reason == finish


def test_response_reasoning_fields_and_refusal_parse() -> None:
    body = json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "deepseek-reasoner",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "42", "reasoning_content": "6*7"},
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "prompt_cache_hit_tokens": 4},
        }
    )
    parsed = codec.parse_response(body.encode())
    assert parsed.content == [ir.ThinkingBlock(text="6*7"), ir.TextBlock("42")]
    assert parsed.usage == ir.Usage(input_tokens=6, output_tokens=20, cache_read_tokens=4)
    refusal = codec.parse_response(
        json.dumps(
            {
                "id": "y",
                "choices": [
                    {
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "refusal": "I can't help with that.",
                            "reasoning": "no",
                        },
                    }
                ],
            }
        ).encode()
    )
    assert refusal.content == [ir.ThinkingBlock(text="no"), ir.TextBlock("I can't help with that.")]
    assert refusal.stop_reason == "refusal"


def test_parse_usage_is_none_without_usage_and_garbage_response_is_a_protocol_error() -> None:
    assert codec.parse_usage(b'{"id": "x", "choices": []}') is None
    assert codec.parse_usage(b"<html>") is None
    with pytest.raises(ProtocolError) as excinfo:
        codec.parse_response(b"<html>502 Bad Gateway</html>")
    assert excinfo.value.error.kind == "api_error"


# --------------------------------------------------------------------------- streams


@pytest.mark.parametrize("name", CHAT_STREAMS)
def test_recorded_stream_decodes_in_awkward_chunks(name: str) -> None:
    data = _read(name)
    events = _decode_stream(data, chunk_size=7)
    text, tools, usage, finish = _original_stream(data)
    got_text, got_tools, got_usage, got_stop = _accumulate(events)
    assert isinstance(events[0], ir.StreamStart) and isinstance(events[-1], ir.StreamEnd)
    assert got_text == text
    assert [(t.id, t.name, t.arguments) for t in got_tools] == [
        (t["id"], t["name"], t["arguments"]) for _, t in sorted(tools.items())
    ]
    assert usage is not None and got_usage == _expected_usage(usage)
    assert got_stop == {"stop": "end_turn", "tool_calls": "tool_use"}[finish or "stop"]
    _assert_block_structure(events)
    assert events == _decode_stream(data, chunk_size=len(data))


@pytest.mark.parametrize("name", CHAT_STREAMS)
def test_recorded_stream_reencodes_into_chunks_the_sdk_accumulates(name: str) -> None:
    data = _read(name)
    text, tools, usage, finish = _original_stream(data)
    body = _encode_stream(_decode_stream(data))
    payloads = _sse_payloads(body)
    assert payloads[-1] == b"[DONE]" and payloads.count(b"[DONE]") == 1
    chunks = [ChatCompletionChunk.model_validate_json(p) for p in payloads[:-1]]
    assert all(c.object == "chat.completion.chunk" and c.model == "client-model" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump(exclude_none=True) == usage

    client = _sse_client(body)
    with client.chat.completions.stream(model="client-model", messages=[{"role": "user", "content": "x"}]) as s:
        final = s.get_final_completion()
    message = final.choices[0].message
    assert (message.content or "") == text
    assert final.choices[0].finish_reason == finish
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()] == [
        (t["id"], t["name"], t["arguments"]) for _, t in sorted(tools.items())
    ]
    assert final.usage is not None and final.usage.prompt_tokens == usage["prompt_tokens"]


@pytest.mark.parametrize("name", CHAT_STREAMS)
def test_usage_sniffer_reads_recorded_stream(name: str) -> None:
    data = _read(name)
    sniffer = codec.usage_sniffer()
    for event in SSEDecoder().feed(data):
        sniffer.feed(event)
    _, _, usage, _ = _original_stream(data)
    assert usage is not None
    assert sniffer.usage == _expected_usage(usage)
    assert sniffer.finished and sniffer.error is None


def _stream_events(*, usage: ir.Usage | None = None) -> list[ir.StreamEvent]:
    return [
        ir.StreamStart(id="msg_1", model="upstream"),
        ir.BlockStart(index=0, block=ir.TextBlock("")),
        ir.BlockDelta(index=0, kind="text", text="Hello"),
        ir.BlockStop(index=0),
        ir.MessageDelta(stop_reason="end_turn"),
        ir.MessageDelta(usage=usage or ir.Usage(input_tokens=3, output_tokens=1)),
        ir.StreamEnd(),
    ]


def test_stream_usage_chunk_only_when_the_client_asked_for_it() -> None:
    without = _encode_stream(_stream_events(), include_usage=False)
    payloads = _sse_payloads(without)
    assert b'"usage"' not in without
    assert payloads[-1] == b"[DONE]"
    assert json.loads(payloads[-2])["choices"][0]["finish_reason"] == "stop"
    with _sse_client(without).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    ) as stream:
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert all(c.usage is None for c in chunks)

    with_usage = _encode_stream(_stream_events(), include_usage=True)
    last = json.loads(_sse_payloads(with_usage)[-2])
    assert last["choices"] == [] and last["usage"]["prompt_tokens"] == 3 and last["usage"]["total_tokens"] == 4
    assert json.loads(_sse_payloads(with_usage)[0])["id"] == "chatcmpl-msg_1"


def test_stream_decoder_handles_reasoning_then_text_then_parallel_tools() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> SSEEvent:
        return SSEEvent(
            None,
            json.dumps(
                {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 5,
                    "model": "deepseek-reasoner",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            ).encode(),
        )

    decoder = codec.stream_decoder()
    events: list[ir.StreamEvent] = []
    for event in [
        chunk({"role": "assistant", "content": "", "reasoning_content": "Let me"}),
        chunk({"reasoning_content": " think."}),
        chunk({"content": "Calling."}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_a", "type": "function", "function": {"name": "a", "arguments": '{"x"'}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
        chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_b", "type": "function", "function": {"name": "b", "arguments": "{}"}}
                ]
            }
        ),
        chunk({}, finish="tool_calls"),
        SSEEvent(None, b"[DONE]"),
    ]:
        events.extend(decoder.feed(event))
    assert events[0] == ir.StreamStart(id="c1", model="deepseek-reasoner", created=5)
    starts = [e for e in events if isinstance(e, ir.BlockStart)]
    assert starts == [
        ir.BlockStart(index=0, block=ir.ThinkingBlock(text="")),
        ir.BlockStart(index=1, block=ir.TextBlock("")),
        ir.BlockStart(index=2, block=ir.ToolCallBlock(id="call_a", name="a")),
        ir.BlockStart(index=3, block=ir.ToolCallBlock(id="call_b", name="b")),
    ]
    _assert_block_structure(events)
    thinking = "".join(e.text for e in events if isinstance(e, ir.BlockDelta) and e.kind == "thinking")
    assert thinking == "Let me think."
    _, tools, _, stop = _accumulate(events)
    assert [(t.name, t.arguments) for t in tools] == [("a", '{"x":1}'), ("b", "{}")]
    assert stop == "tool_use"
    assert events[-1] == ir.StreamEnd()

    # Re-encoded, thinking rides in reasoning_content and the tool calls keep OpenAI indices 0, 1.
    body = _encode_stream(events)
    deltas = [json.loads(p)["choices"][0]["delta"] for p in _sse_payloads(body)[:-2] if json.loads(p)["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Let me think."
    assert [tc["index"] for d in deltas for tc in d.get("tool_calls", []) if "id" in tc] == [0, 1]


def test_stream_cut_before_done_has_no_stream_end() -> None:
    data = _read("openai/chat_stream_text_include_usage.sse")
    truncated = data[: data.index(b"data: [DONE]")]
    events = _decode_stream(truncated)
    assert not any(isinstance(e, ir.StreamEnd) for e in events)
    sniffer = codec.usage_sniffer()
    for event in SSEDecoder().feed(truncated):
        sniffer.feed(event)
    assert sniffer.usage is not None and not sniffer.finished


def test_in_stream_error_payload_becomes_stream_error_everywhere() -> None:
    payload = b'{"error": {"message": "The server had an error", "type": "server_error", "param": null, "code": null}}'
    decoder = codec.stream_decoder()
    decoder.feed(SSEEvent(None, b'{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}'))
    (event,) = decoder.feed(SSEEvent(None, payload))
    assert isinstance(event, ir.StreamError)
    assert (event.error.kind, event.error.message) == ("api_error", "The server had an error")

    sniffer = codec.usage_sniffer()
    sniffer.feed(SSEEvent(None, payload))
    assert sniffer.error is not None and sniffer.error.message == "The server had an error"

    error = ir.Error(kind="overloaded", message="Overloaded", status=529)
    emitted = codec.emit_stream_error(error)
    assert emitted.startswith(b"data: ") and emitted.endswith(b"\n\n")
    events = _stream_events()[:3] + [ir.StreamError(error=error)]
    with _sse_client(_encode_stream(events)).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    ) as stream:
        with pytest.raises(openai.APIError, match="Overloaded"):
            list(stream)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("name", "status"), CHAT_ERRORS)
def test_recorded_error_bodies_parse_into_kinds(name: str, status: int) -> None:
    raw = json.loads(_read(name))["error"]
    error = codec.parse_error(status, _read(name))
    assert error.kind == {400: "invalid_request", 404: "not_found"}[status]
    assert (error.message, error.code, error.status) == (raw["message"], raw["code"], status)


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (
            429,
            b'{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",'
            b' "param": null, "code": "insufficient_quota"}}',
            "insufficient_quota",
            "You exceeded your current quota",
        ),
        (
            429,
            b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}',
            "rate_limit",
            "Rate limit reached",
        ),
        (
            529,
            b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
            "overloaded",
            "Overloaded",
        ),
        (
            403,
            b'{"error": {"code": 403, "message": "Permission denied", "status": "PERMISSION_DENIED"}}',
            "permission",
            "Permission denied",
        ),
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "api_error", "502 Bad Gateway"),
        (503, b"", "overloaded", "Upstream returned HTTP 503"),
        (401, b'{"detail": "Invalid token"}', "authentication", "Invalid token"),
        (
            500,
            b'{"object": "error", "message": "boom", "type": "InternalServerError", "code": 500}',
            "api_error",
            "boom",
        ),
    ],
)
def test_foreign_and_non_json_errors_parse(status: int, body: bytes, kind: str, message: str) -> None:
    error = codec.parse_error(status, body)
    assert (error.kind, error.message, error.status) == (kind, message, status)


@pytest.mark.parametrize(
    ("error", "status", "exc", "wire_type", "code"),
    [
        (
            ir.Error(kind="invalid_request", message="bad", status=400, param="messages"),
            400,
            openai.BadRequestError,
            "invalid_request_error",
            None,
        ),
        (
            ir.Error(kind="authentication", message="no key", status=401),
            401,
            openai.AuthenticationError,
            "authentication_error",
            "invalid_api_key",
        ),
        (
            ir.Error(kind="permission", message="nope", status=403),
            403,
            openai.PermissionDeniedError,
            "permission_error",
            None,
        ),
        (
            ir.Error(kind="not_found", message="no model", status=404),
            404,
            openai.NotFoundError,
            "not_found_error",
            "model_not_found",
        ),
        (
            ir.Error(kind="request_too_large", message="big", status=413),
            413,
            openai.APIStatusError,
            "invalid_request_error",
            "request_too_large",
        ),
        (
            ir.Error(kind="rate_limit", message="slow down", status=429),
            429,
            openai.RateLimitError,
            "rate_limit_exceeded",
            "rate_limit_exceeded",
        ),
        (
            ir.Error(kind="insufficient_quota", message="top up", status=402),
            429,
            openai.RateLimitError,
            "insufficient_quota",
            "insufficient_quota",
        ),
        (ir.Error(kind="api_error", message="boom", status=502), 502, openai.InternalServerError, "server_error", None),
        (
            ir.Error(kind="overloaded", message="busy", status=529),
            503,
            openai.InternalServerError,
            "service_unavailable",
            None,
        ),
        (
            ir.Error(kind="timeout", message="slow", status=504),
            504,
            openai.InternalServerError,
            "server_error",
            "timeout",
        ),
    ],
)
def test_emitted_errors_raise_the_right_sdk_exception(
    error: ir.Error, status: int, exc: type[openai.APIStatusError], wire_type: str, code: str | None
) -> None:
    got_status, body = codec.emit_error(error)
    assert got_status == status
    wire = json.loads(body)["error"]
    assert (wire["message"], wire["type"], wire["code"], wire["param"]) == (error.message, wire_type, code, error.param)
    client = _sdk_client(
        lambda _req: httpx.Response(got_status, content=body, headers={"content-type": "application/json"})
    )
    with pytest.raises(exc) as excinfo:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert excinfo.value.status_code == status
    assert excinfo.value.code == code
    assert codec.parse_error(got_status, body).kind == error.kind


def test_recorded_errors_survive_parse_then_emit() -> None:
    for name, status in CHAT_ERRORS:
        out_status, body = codec.emit_error(codec.parse_error(status, _read(name)))
        assert out_status == status
        assert json.loads(body)["error"]["message"] == json.loads(_read(name))["error"]["message"]


def test_fixture_discovery_found_every_chat_kind() -> None:
    names = CHAT_REQUESTS + CHAT_RESPONSES + CHAT_STREAMS + [n for n, _ in CHAT_ERRORS]
    assert len(CHAT_REQUESTS) >= 8 and len(CHAT_RESPONSES) >= 5 and len(CHAT_STREAMS) >= 3 and CHAT_ERRORS
    assert all((RECORDED / n).exists() for n in names)


# --------------------------------------------------------------------------- provider quirks


def test_gemini_thought_signature_travels_in_extra_content() -> None:
    extra = {"google": {"thought_signature": "c2lnbmF0dXJl"}}
    body = {
        "model": "gemini-3-pro",
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "w", "arguments": "{}"},
                        "extra_content": extra,
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
    }
    req = codec.parse_request(json.dumps(body).encode())
    call = req.messages[1].content[0]
    assert isinstance(call, ir.ToolCallBlock) and call.signature == "c2lnbmF0dXJl"
    assert codec.parse_request(codec.emit_request(req, model="gemini-3-pro")) == req

    block = ir.ToolCallBlock(id="call_2", name="w", arguments="{}", signature="c2ln")
    response = ir.Response(id="r", model="g", content=[block], stop_reason="tool_use")
    emitted = json.loads(codec.emit_response(response, model="g"))
    assert emitted["choices"][0]["message"]["tool_calls"][0]["extra_content"] == {
        "google": {"thought_signature": "c2ln"}
    }
    assert codec.parse_response(json.dumps(emitted).encode()).content == [block]

    events = [
        ir.StreamStart(id="r", model="g"),
        ir.BlockStart(index=0, block=block),
        ir.BlockStop(index=0),
        ir.MessageDelta(stop_reason="tool_use"),
        ir.StreamEnd(),
    ]
    decoded = _decode_stream(_encode_stream(events))
    assert [e for e in decoded if isinstance(e, ir.BlockStart)] == [
        ir.BlockStart(index=0, block=ir.ToolCallBlock(id="call_2", name="w", signature="c2ln"))
    ]
    assert _accumulate(decoded)[1] == [ir.ToolCallBlock(id="call_2", name="w", arguments="{}")]


def test_foreign_history_images_in_assistant_turns_are_dropped() -> None:
    req = ir.Request(
        model="m",
        messages=[
            ir.Message(role="user", content=[ir.TextBlock("draw")]),
            ir.Message(role="assistant", content=[ir.ImageBlock(url="https://x/y.png"), ir.TextBlock("done")]),
            ir.Message(role="assistant", content=[ir.ThinkingBlock(text="only thoughts")]),
        ],
    )
    assert json.loads(codec.emit_request(req, model="gpt-4o"))["messages"] == [
        {"role": "user", "content": "draw"},
        {"role": "assistant", "content": "done"},
    ]


def test_stream_decoder_skips_azure_prompt_filter_chunk_and_reads_usage_only_chunk() -> None:
    decoder = codec.stream_decoder()
    azure = b'{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}'
    assert decoder.feed(SSEEvent(None, azure)) == []
    usage = b'{"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}'
    assert decoder.feed(SSEEvent(None, usage)) == [
        ir.StreamStart(id="c", model="m"),
        ir.MessageDelta(usage=ir.Usage(input_tokens=5, output_tokens=2)),
    ]
    assert decoder.feed(SSEEvent(None, b"[DONE]")) == [ir.StreamEnd()]
    assert decoder.close() == []


def test_stream_decoder_separates_calls_that_reuse_wire_index_zero() -> None:
    def call(call_id: str, name: str, args: str) -> SSEEvent:
        delta = {"tool_calls": [{"index": 0, "id": call_id, "function": {"name": name, "arguments": args}}]}
        return SSEEvent(None, json.dumps({"id": "c", "model": "mistral", "choices": [{"delta": delta}]}).encode())

    decoder = codec.stream_decoder()
    events = [e for ev in (call("a1", "f", '{"x":1}'), call("b2", "g", "{}")) for e in decoder.feed(ev)]
    _, tools, _, _ = _accumulate(events)
    assert [(t.id, t.name, t.arguments) for t in tools] == [("a1", "f", '{"x":1}'), ("b2", "g", "{}")]
