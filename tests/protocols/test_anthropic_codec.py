"""The Anthropic Messages codec against recorded provider traffic and the official anthropic SDK."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anthropic
import msgspec
import pytest
from anthropic.types import Message

from app.relay.protocols import ir
from app.relay.protocols.anthropic import DEFAULT_MAX_TOKENS, codec
from app.relay.protocols.base import ProtocolError
from app.relay.protocols.sse import SSEDecoder, SSEEvent

try:  # anthropic >= 2 talks through httpx2 and rejects plain httpx objects
    import httpx2 as http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as http  # type: ignore[no-redef]

FIXTURES = Path("/work/shared/fixtures/recorded/anthropic")
REQUESTS = sorted(FIXTURES.glob("*.request.json"))
MESSAGES = sorted(p for p in FIXTURES.glob("messages_*.json") if not p.name.endswith(".request.json"))
STREAMS = sorted(FIXTURES.glob("*.sse"))


def ids(paths: Iterable[Path]) -> list[str]:
    return [p.name.split(".")[0] for p in paths]


# --------------------------------------------------------------------------- helpers


def sse_events(data: bytes, chunk: int = 7) -> list[SSEEvent]:
    decoder = SSEDecoder()
    out: list[SSEEvent] = []
    for i in range(0, len(data), chunk):
        out.extend(decoder.feed(data[i : i + chunk]))
    out.extend(decoder.close())
    return out


def decode_stream(data: bytes, chunk: int = 7) -> list[ir.StreamEvent]:
    decoder = codec.stream_decoder()
    out: list[ir.StreamEvent] = []
    for event in sse_events(data, chunk):
        out.extend(decoder.feed(event))
    out.extend(decoder.close())
    return out


def raw_events(data: bytes) -> list[dict[str, Any]]:
    """The fixture's JSON events, parsed without the code under test."""
    out = []
    for frame in data.decode().split("\n\n"):
        for line in frame.splitlines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
    return out


def expected_blocks(data: bytes) -> list[dict[str, Any]]:
    blocks: dict[int, dict[str, Any]] = {}
    for e in raw_events(data):
        if e["type"] == "content_block_start":
            cb = e["content_block"]
            blocks[e["index"]] = {"type": cb["type"], "text": "", "thinking": "", "signature": "",
                                  "args": "", "id": cb.get("id"), "name": cb.get("name")}
        elif e["type"] == "content_block_delta":
            d, b = e["delta"], blocks[e["index"]]
            if d["type"] == "text_delta":
                b["text"] += d["text"]
            elif d["type"] == "thinking_delta":
                b["thinking"] += d["thinking"]
            elif d["type"] == "signature_delta":
                b["signature"] += d["signature"]
            elif d["type"] == "input_json_delta":
                b["args"] += d["partial_json"]
    return [blocks[i] for i in sorted(blocks)]


def expected_usage(data: bytes) -> ir.Usage:
    events = raw_events(data)
    start = next(e for e in events if e["type"] == "message_start")["message"]["usage"]
    final = {**start, **next(e for e in events if e["type"] == "message_delta")["usage"]}
    return ir.Usage(input_tokens=final["input_tokens"], output_tokens=final["output_tokens"],
                    cache_read_tokens=final["cache_read_input_tokens"],
                    cache_write_tokens=final["cache_creation_input_tokens"],
                    reasoning_tokens=final.get("output_tokens_details", {}).get("thinking_tokens", 0))


def accumulate(events: list[ir.StreamEvent]) -> dict[str, Any]:
    blocks: dict[int, dict[str, Any]] = {}
    acc: dict[str, Any] = {"blocks": blocks, "usage": None, "stop_reason": None, "stop_sequence": None,
                           "start": None, "ended": False, "open": set()}
    for e in events:
        assert not acc["ended"], "event after StreamEnd"
        if isinstance(e, ir.StreamStart):
            acc["start"] = e
            acc["usage"] = e.usage
        elif isinstance(e, ir.BlockStart):
            assert e.index == len(blocks), "IR indices must be sequential"
            b = e.block
            blocks[e.index] = {"block": b, "text": "", "thinking": "", "signature": "", "args": ""}
            acc["open"].add(e.index)
        elif isinstance(e, ir.BlockDelta):
            assert e.index in acc["open"]
            key = {"text": "text", "thinking": "thinking", "signature": "signature", "arguments": "args"}[e.kind]
            blocks[e.index][key] += e.text
        elif isinstance(e, ir.BlockStop):
            acc["open"].remove(e.index)
        elif isinstance(e, ir.MessageDelta):
            acc["stop_reason"] = e.stop_reason or acc["stop_reason"]
            acc["stop_sequence"] = e.stop_sequence or acc["stop_sequence"]
            acc["usage"] = e.usage or acc["usage"]
        elif isinstance(e, ir.StreamEnd):
            acc["ended"] = True
    return acc


Handler = Callable[[http.Request], http.Response]


def sdk_client(handler: Handler) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-test", base_url="http://relay.test",
                               http_client=http.Client(transport=http.MockTransport(handler)), max_retries=0)


def sse_client(body: bytes) -> anthropic.Anthropic:
    return sdk_client(lambda request: http.Response(
        200, headers={"content-type": "text/event-stream"}, content=body))


def sdk_stream(body: bytes) -> tuple[Message, list[Any]]:
    client = sse_client(body)
    with client.messages.stream(model="claude-test", max_tokens=1024,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    return final, events


def block_summary(message: Message) -> list[dict[str, Any]]:
    keep = ("type", "text", "thinking", "signature", "id", "name", "input", "data")
    return [{k: v for k, v in b.model_dump().items() if k in keep} for b in message.content]


def usage_summary(message: Message) -> dict[str, Any]:
    u = message.usage
    details = u.output_tokens_details.thinking_tokens if u.output_tokens_details else 0
    return {"input": u.input_tokens, "output": u.output_tokens, "cache_read": u.cache_read_input_tokens or 0,
            "cache_write": u.cache_creation_input_tokens or 0, "thinking": details}


def encode_ir(events: list[ir.StreamEvent], model: str = "client-model") -> bytes:
    encoder = codec.stream_encoder(model=model)
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize("path", REQUESTS, ids=ids(REQUESTS))
def test_request_fixture_round_trips(path: Path) -> None:
    parsed = codec.parse_request(path.read_bytes())
    emitted = codec.emit_request(parsed, model=parsed.model)
    assert codec.parse_request(emitted) == parsed
    raw = json.loads(path.read_bytes())
    body = json.loads(emitted)
    assert body["model"] == raw["model"]
    assert body["max_tokens"] == raw["max_tokens"]
    assert len(body["messages"]) == len(raw["messages"])


def test_request_cache_control_and_system_string() -> None:
    path = FIXTURES / "messages_nonstream_cache_read.request.json"
    raw = json.loads(path.read_bytes())
    parsed = codec.parse_request(path.read_bytes())
    assert parsed.system == [ir.TextBlock(text=raw["system"])]
    assert parsed.messages[0].content == [ir.TextBlock(text="Say hello in one word.",
                                                       cache_control={"type": "ephemeral"})]
    body = json.loads(codec.emit_request(parsed, model="claude-x"))
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["system"] == raw["system"]


def test_request_fixture_fields() -> None:
    thinking = codec.parse_request((FIXTURES / "messages_nonstream_thinking.request.json").read_bytes())
    assert thinking.thinking == ir.Thinking(enabled=True, budget_tokens=5000)
    assert thinking.max_tokens == 10000

    tools = codec.parse_request((FIXTURES / "messages_nonstream_parallel_tool_use.request.json").read_bytes())
    assert tools.tool_choice == ir.ToolChoice(mode="auto")
    assert tools.tools[0].name == "retrieve_entity_info"
    assert tools.tools[0].parameters["required"] == ["name"]

    stop = codec.parse_request((FIXTURES / "messages_stream_stop_sequence.request.json").read_bytes())
    assert stop.stop == ["```"] and stop.temperature == 1.0 and stop.stream is True
    assert stop.messages[1] == ir.Message(role="assistant", content=[ir.TextBlock(text="```python")])

    sig = codec.parse_request(
        (FIXTURES / "messages_stream_thinking_signature_tool_use.request.json").read_bytes())
    assert sig.thinking == ir.Thinking(enabled=True, budget_tokens=1024)
    assert sig.tools[0].parameters == {"properties": {}, "type": "object"}


def _body(**fields: Any) -> bytes:
    base: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 100,
                            "messages": [{"role": "user", "content": "hi"}]}
    base.update(fields)
    return json.dumps(base).encode()


def test_parse_request_conversation_blocks() -> None:
    body = _body(
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Really."}],
        metadata={"user_id": "user-42"},
        top_k=5, top_p=0.9,
        messages=[
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
                {"type": "text", "text": "weather?"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny", "is_error": False},
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                 "content": [{"type": "text", "text": "retry"}], "cache_control": {"type": "ephemeral"}},
                {"type": "tool_result", "tool_use_id": "toolu_unknown"}]},
        ],
    )
    req = codec.parse_request(body)
    assert req.system == [ir.TextBlock(text="Be brief.", cache_control={"type": "ephemeral"}),
                          ir.TextBlock(text="Really.")]
    assert req.user == "user-42" and req.top_k == 5 and req.top_p == 0.9
    assert req.messages[0].content == [
        ir.ImageBlock(data="iVBOR", media_type="image/png"),
        ir.ImageBlock(url="https://x.test/a.jpg"),
        ir.TextBlock(text="doc"),
        ir.TextBlock(text="weather?"),
    ]
    assert req.messages[1].content == [
        ir.ThinkingBlock(text="hmm", signature="sig=="),
        ir.ThinkingBlock(redacted_data="opaque"),
        ir.ToolCallBlock(id="toolu_1", name="get_weather", arguments='{"city":"Paris"}'),
    ]
    assert req.messages[2].content == [
        ir.ToolResultBlock(tool_call_id="toolu_1", content=[ir.TextBlock(text="sunny")], name="get_weather"),
        ir.ToolResultBlock(tool_call_id="toolu_1", content=[ir.TextBlock(text="retry")], is_error=True,
                           name="get_weather", cache_control={"type": "ephemeral"}),
        ir.ToolResultBlock(tool_call_id="toolu_unknown"),
    ]
    again = codec.parse_request(codec.emit_request(req, model=req.model))
    assert again == req


def test_parse_request_tools_thinking_and_overrides() -> None:
    req = codec.parse_request(_body(
        tools=[{"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
                "cache_control": {"type": "ephemeral"}},
               {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
        tool_choice={"type": "tool", "name": "web_search", "disable_parallel_tool_use": True},
        thinking={"type": "disabled"}, stream=True), model="override-model", stream=False)
    assert [t.name for t in req.tools] == ["lookup"]
    assert req.tools[0].cache_control == {"type": "ephemeral"}
    assert req.tool_choice == ir.ToolChoice(mode="auto", disable_parallel=True)  # named a skipped tool
    assert req.thinking == ir.Thinking(enabled=False)
    assert req.model == "override-model" and req.stream is False

    adaptive = codec.parse_request(_body(thinking={"type": "adaptive", "display": "omitted"},
                                         output_config={"effort": "high"}))
    assert adaptive.thinking == ir.Thinking(enabled=True, effort="high", include_thoughts=False)
    for choice, expected in [({"type": "any"}, ir.ToolChoice(mode="required")),
                             ({"type": "none"}, ir.ToolChoice(mode="none")),
                             ({"type": "tool", "name": "lookup"}, ir.ToolChoice(mode="tool", name="lookup"))]:
        assert codec.parse_request(_body(tool_choice=choice)).tool_choice == expected


@pytest.mark.parametrize(("body", "param"), [
    (_body(max_tokens=None), "max_tokens"),
    (_body(max_tokens="100"), "max_tokens"),
    (_body(messages=None), "messages"),
    (_body(messages=[]), "messages"),
    (_body(messages={"role": "user"}), "messages"),
    (_body(messages=[{"role": "system", "content": "x"}]), "messages.0.role"),
    (_body(messages=[{"role": "user", "content": 5}]), "messages.0.content"),
    (_body(messages=[{"role": "user", "content": "a"},
                     {"role": "assistant", "content": [{"type": "video", "url": "x"}]}]),
     "messages.1.content.0.type"),
    (_body(messages=[{"role": "user", "content": [{"text": "no type"}]}]), "messages.0.content.0.type"),
    (_body(messages=[{"role": "user", "content": [{"type": "text"}]}]), "messages.0.content.0.text"),
    (_body(messages=[{"role": "user", "content": "a"},
                     {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f",
                                                        "input": "[1]"}]}]),
     "messages.1.content.0.input"),
    (_body(messages=[{"role": "user", "content": [{"type": "tool_result"}]}]),
     "messages.0.content.0.tool_use_id"),
    (_body(messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "file",
                                                                                "file_id": "f"}}]}]),
     "messages.0.content.0.source.type"),
    (_body(messages=[{"role": "user", "content": [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVB"}}]}]),
     "messages.0.content.0.source.type"),
    (_body(system=[{"type": "image", "source": {}}]), "system.0.type"),
    (_body(tools=[{"description": "no name"}]), "tools.0.name"),
    (_body(tools=[{"name": "f", "input_schema": []}]), "tools.0.input_schema"),
    (_body(tool_choice={"type": "sometimes"}), "tool_choice.type"),
    (_body(thinking={"type": "enabled"}), "thinking.budget_tokens"),
    (_body(thinking={"type": "on"}), "thinking.type"),
    (_body(temperature="hot"), "temperature"),
    (_body(stop_sequences=["ok", 3]), "stop_sequences.1"),
    (_body(metadata={"user_id": 7}), "metadata.user_id"),
    (_body(model=None), "model"),
    (b"{not json", None),
    (b"[1, 2]", None),
])
def test_malformed_requests_name_the_field(body: bytes, param: str | None) -> None:
    with pytest.raises(ProtocolError) as info:
        codec.parse_request(body)
    assert info.value.error.param == param
    assert info.value.error.status == 400 and info.value.error.kind == "invalid_request"
    assert str(info.value)


# --------------------------------------------------------------------------- emit_request


def _emit(req: ir.Request) -> dict[str, Any]:
    return json.loads(codec.emit_request(req, model="claude-upstream"))


def test_emit_request_from_openai_shaped_conversation() -> None:
    req = ir.Request(
        model="gpt-4o",
        system=[ir.TextBlock(text="sys")],
        messages=[
            ir.Message(role="user", content=[ir.TextBlock(text="look"),
                                             ir.ImageBlock(url="data:image/jpeg;base64,/9j/4AAQ")]),
            ir.Message(role="user", content=[ir.ImageBlock(url="https://x.test/b.png", detail="high")]),
            ir.Message(role="assistant", content=[
                ir.ThinkingBlock(text="unsigned reasoning"),
                ir.TextBlock(text=""),
                ir.ToolCallBlock(id="call_1", name="f", arguments='{"a": 1}'),
                ir.ToolCallBlock(id="call_2", name="g", arguments="")]),
            ir.Message(role="user", content=[ir.ToolResultBlock(tool_call_id="call_1",
                                                                content=[ir.TextBlock(text="one")])]),
            ir.Message(role="user", content=[ir.TextBlock(text="and?"),
                                             ir.ToolResultBlock(tool_call_id="call_2", is_error=True)]),
        ],
        tools=[ir.Tool(name="f", description="F", parameters={"type": "object"}), ir.Tool(name="g")],
        tool_choice=ir.ToolChoice(mode="required", disable_parallel=True),
        stop=["\n", "END"], seed=7, stream=True, user="u1", temperature=0.2, top_k=3,
    )
    body = _emit(req)
    assert body["model"] == "claude-upstream"
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS == 4096
    assert body["system"] == "sys"
    assert body["messages"] == [
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/b.png"}}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
            {"type": "tool_use", "id": "call_2", "name": "g", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "one"}]},
            {"type": "tool_result", "tool_use_id": "call_2", "is_error": True},
            {"type": "text", "text": "and?"}]},
    ]
    assert body["tools"] == [{"name": "f", "description": "F", "input_schema": {"type": "object"}},
                             {"name": "g", "input_schema": {"type": "object", "properties": {}}}]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u1"}
    assert body["stream"] is True and body["temperature"] == 0.2 and body["top_k"] == 3
    assert "seed" not in body


def test_emit_request_thinking_blocks_and_budgets() -> None:
    signed = ir.Message(role="assistant", content=[ir.ThinkingBlock(text="t", signature="s"),
                                                   ir.ThinkingBlock(redacted_data="r"),
                                                   ir.TextBlock(text="answer  \n")])
    req = ir.Request(model="o3", messages=[ir.Message(role="user", content=[ir.TextBlock(text="q")]), signed],
                     thinking=ir.Thinking(effort="high"), temperature=0.5, top_p=0.5, top_k=4)
    body = _emit(req)
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "t", "signature": "s"},
        {"type": "redacted_thinking", "data": "r"},
        {"type": "text", "text": "answer"},  # final assistant prefill may not end in whitespace
    ]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert body["max_tokens"] > 16384
    assert "temperature" not in body and "top_p" not in body and "top_k" not in body

    for effort, budget in [("low", 1024), ("medium", 4096), ("high", 16384)]:
        b = _emit(ir.Request(model="m", messages=[], max_tokens=2000, thinking=ir.Thinking(effort=effort)))
        assert b["thinking"]["budget_tokens"] == budget and b["max_tokens"] > budget
    assert _emit(ir.Request(model="m", messages=[], max_tokens=20000,
                            thinking=ir.Thinking(budget_tokens=8000)))["max_tokens"] == 20000
    assert _emit(ir.Request(model="m", messages=[], thinking=ir.Thinking(enabled=False)))["thinking"] == {
        "type": "disabled"}
    assert _emit(ir.Request(model="m", messages=[], thinking=ir.Thinking(effort="none")))["thinking"] == {
        "type": "disabled"}
    forced = _emit(ir.Request(model="m", messages=[], tools=[ir.Tool(name="f")], temperature=0.3,
                              tool_choice=ir.ToolChoice(mode="required"), thinking=ir.Thinking(effort="low")))
    assert "thinking" not in forced and forced["tool_choice"] == {"type": "any"} and forced["temperature"] == 0.3


def test_emit_request_tool_choice_and_response_format() -> None:
    tools = [ir.Tool(name="f")]
    none = _emit(ir.Request(model="m", messages=[], tools=tools, tool_choice=ir.ToolChoice(mode="none")))
    assert none["tool_choice"] == {"type": "none"}
    named = _emit(ir.Request(model="m", messages=[], tools=tools, tool_choice=ir.ToolChoice(mode="tool", name="f")))
    assert named["tool_choice"] == {"type": "tool", "name": "f"}
    assert "tool_choice" not in _emit(ir.Request(model="m", messages=[], tool_choice=ir.ToolChoice()))

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = _emit(ir.Request(model="m", messages=[], system=[ir.TextBlock(text="s", cache_control={"type": "x"})],
                            response_format=ir.ResponseFormat(type="json_schema", name="n", schema=schema)))
    assert body["system"][0] == {"type": "text", "text": "s", "cache_control": {"type": "x"}}
    assert json.dumps(schema, separators=(",", ":")) in body["system"][1]["text"]
    assert "JSON" in _emit(ir.Request(model="m", messages=[],
                                      response_format=ir.ResponseFormat(type="json_object")))["system"]


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize("path", MESSAGES, ids=ids(MESSAGES))
def test_response_fixture_parses_and_reemits(path: Path) -> None:
    raw = json.loads(path.read_bytes())
    resp = codec.parse_response(path.read_bytes())
    u = raw["usage"]
    assert resp.usage == ir.Usage(input_tokens=u["input_tokens"], output_tokens=u["output_tokens"],
                                  cache_read_tokens=u["cache_read_input_tokens"],
                                  cache_write_tokens=u["cache_creation_input_tokens"])
    assert codec.parse_usage(path.read_bytes()) == resp.usage
    assert resp.id == raw["id"] and resp.model == raw["model"]
    assert resp.stop_reason == raw["stop_reason"]

    emitted = codec.emit_response(resp, model="client-model")
    message = Message.model_validate_json(emitted)
    assert message.id == raw["id"] and message.model == "client-model"
    assert message.stop_reason == raw["stop_reason"] and message.stop_sequence == raw["stop_sequence"]
    assert [b.model_dump(exclude_none=True) for b in message.content] == [
        {k: v for k, v in b.items() if k != "citations"} for b in raw["content"]]
    assert codec.parse_response(emitted) == msgspec.structs.replace(resp, model="client-model")


def test_response_specific_values() -> None:
    cached = codec.parse_response((FIXTURES / "messages_nonstream_cache_read.json").read_bytes())
    assert cached.usage.cache_read_tokens == 1217 and cached.usage.input_tokens == 3
    assert cached.usage.prompt_tokens == 1220

    thinking = codec.parse_response((FIXTURES / "messages_nonstream_thinking.json").read_bytes())
    assert isinstance(thinking.content[0], ir.ThinkingBlock)
    assert thinking.content[0].signature and thinking.content[0].signature.startswith("ErAECkYIChgCKkAR")
    message = Message.model_validate_json(codec.emit_response(thinking, model="m"))
    assert message.content[0].type == "thinking"
    assert message.content[0].signature == thinking.content[0].signature

    tools = codec.parse_response((FIXTURES / "messages_nonstream_parallel_tool_use.json").read_bytes())
    calls = [b for b in tools.content if isinstance(b, ir.ToolCallBlock)]
    assert [json.loads(c.arguments)["name"] for c in calls] == ["Alice", "Bob", "Charlie", "Daisy"]
    assert tools.stop_reason == "tool_use"


def test_emit_response_from_foreign_ir() -> None:
    resp = ir.Response(
        id="chatcmpl-abc", model="gpt-4o", stop_reason="content_filter",
        content=[ir.ThinkingBlock(text="why"), ir.TextBlock(text="hi"), ir.ImageBlock(url="https://x"),
                 ir.ToolCallBlock(id="call_1", name="f", arguments='{"x": [1]}')],
        usage=ir.Usage(input_tokens=10, output_tokens=20, cache_read_tokens=5, reasoning_tokens=7),
    )
    message = Message.model_validate_json(codec.emit_response(resp, model="claude-alias"))
    assert message.id == "msg_chatcmpl-abc"
    assert message.stop_reason == "refusal"
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].signature == ""
    assert message.content[2].input == {"x": [1]}
    assert message.usage.output_tokens_details is not None
    assert message.usage.output_tokens_details.thinking_tokens == 7
    assert usage_summary(message) == {"input": 10, "output": 20, "cache_read": 5, "cache_write": 0,
                                      "thinking": 7}
    assert Message.model_validate_json(codec.emit_response(ir.Response(id="", model="x", content=[]),
                                                           model="m")).stop_reason == "end_turn"


def test_parse_usage_edge_cases() -> None:
    assert codec.parse_usage(b"not json") is None
    assert codec.parse_usage(b'{"id": "msg_1"}') is None
    usage = codec.parse_usage(b'{"usage": {"input_tokens": 1, "output_tokens": 9, '
                              b'"output_tokens_details": {"thinking_tokens": 4}}}')
    assert usage == ir.Usage(input_tokens=1, output_tokens=9, reasoning_tokens=4)
    with pytest.raises(ProtocolError):
        codec.parse_response(b"<html>")


# --------------------------------------------------------------------------- streams


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("path", STREAMS, ids=ids(STREAMS))
def test_stream_fixture_decodes(path: Path, chunk: int) -> None:
    data = path.read_bytes()
    events = decode_stream(data, chunk)
    acc = accumulate(events)
    assert isinstance(events[0], ir.StreamStart) and isinstance(events[-1], ir.StreamEnd)
    assert not acc["open"]
    start_msg = raw_events(data)[0]["message"]
    assert acc["start"].id == start_msg["id"] and acc["start"].model == start_msg["model"]
    assert acc["start"].usage.input_tokens == start_msg["usage"]["input_tokens"]
    assert acc["start"].usage.cache_read_tokens == start_msg["usage"]["cache_read_input_tokens"]

    expected = expected_blocks(data)
    got = [acc["blocks"][i] for i in sorted(acc["blocks"])]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        block = g["block"]
        if e["type"] == "text":
            assert isinstance(block, ir.TextBlock) and g["text"] == e["text"]
        elif e["type"] == "thinking":
            assert isinstance(block, ir.ThinkingBlock)
            assert (g["thinking"], g["signature"]) == (e["thinking"], e["signature"])
        else:
            assert isinstance(block, ir.ToolCallBlock)
            assert (block.id, block.name) == (e["id"], e["name"])
            assert json.loads(g["args"] or "{}") == json.loads(e["args"] or "{}")
    assert acc["usage"] == expected_usage(data)
    delta = next(e for e in raw_events(data) if e["type"] == "message_delta")["delta"]
    assert acc["stop_reason"] == delta["stop_reason"]
    assert acc["stop_sequence"] == delta["stop_sequence"]


def test_stream_specific_values() -> None:
    cached = accumulate(decode_stream((FIXTURES / "messages_stream_cache_read.sse").read_bytes()))
    assert cached["usage"].cache_read_tokens == 1217
    thinking = accumulate(decode_stream(
        (FIXTURES / "messages_stream_thinking_signature_tool_use.sse").read_bytes()))
    assert thinking["usage"] == ir.Usage(input_tokens=598, output_tokens=92, reasoning_tokens=53)
    assert thinking["blocks"][0]["signature"].startswith("EoQDCm0IDhgCKkCD")
    stop = accumulate(decode_stream((FIXTURES / "messages_stream_stop_sequence.sse").read_bytes()))
    assert (stop["stop_reason"], stop["stop_sequence"]) == ("stop_sequence", "```")


@pytest.mark.parametrize("path", STREAMS, ids=ids(STREAMS))
def test_stream_reencoded_matches_in_sdk(path: Path) -> None:
    data = path.read_bytes()
    original, _ = sdk_stream(data)
    reencoded = encode_ir(decode_stream(data))
    final, events = sdk_stream(reencoded)
    assert final.id == original.id and final.model == "client-model"
    assert block_summary(final) == block_summary(original)
    assert (final.stop_reason, final.stop_sequence) == (original.stop_reason, original.stop_sequence)
    assert usage_summary(final) == usage_summary(original)
    raw_types = [e.type for e in events]
    assert raw_types[0] == "message_start" and raw_types[-1] == "message_stop"
    text = "".join(e.text for e in events if e.type == "text")
    assert text == "".join(b.text for b in original.content if b.type == "text")
    # the re-encoded stream decodes back to the same IR (apart from the model name)
    assert accumulate(decode_stream(reencoded))["blocks"] == accumulate(decode_stream(data))["blocks"]


def test_stream_encoder_serialises_interleaved_foreign_stream() -> None:
    """An OpenAI-like IR stream: no message_start usage, two tool calls streamed interleaved, finish
    reason and usage in separate MessageDeltas, a StreamEnd while a block is still open."""
    events: list[ir.StreamEvent] = [
        ir.StreamStart(id="chatcmpl-9", model="gpt-4o"),
        ir.BlockStart(index=0, block=ir.TextBlock(text="")),
        ir.BlockDelta(index=0, kind="text", text="Checking "),
        ir.BlockStart(index=1, block=ir.ToolCallBlock(id="call_a", name="f")),
        ir.BlockDelta(index=0, kind="text", text="both."),
        ir.BlockDelta(index=1, kind="arguments", text='{"city": '),
        ir.BlockStart(index=2, block=ir.ToolCallBlock(id="call_b", name="f")),
        ir.BlockDelta(index=2, kind="arguments", text='{"city": "Rome"}'),
        ir.BlockDelta(index=1, kind="arguments", text='"Oslo"}'),
        ir.BlockDelta(index=1, kind="signature", text="gemini-sig"),
        ir.BlockStop(index=0),
        ir.BlockStop(index=2),
        ir.MessageDelta(stop_reason="tool_use"),
        ir.MessageDelta(usage=ir.Usage(input_tokens=30, output_tokens=12, cache_read_tokens=4)),
        ir.StreamEnd(),
    ]
    body = encode_ir(events, model="claude-alias")
    final, raw = sdk_stream(body)
    assert final.id == "msg_chatcmpl-9" and final.model == "claude-alias"
    assert block_summary(final) == [
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "call_a", "name": "f", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "call_b", "name": "f", "input": {"city": "Rome"}},
    ]
    assert final.stop_reason == "tool_use"
    assert usage_summary(final) == {"input": 30, "output": 12, "cache_read": 4, "cache_write": 0, "thinking": 0}
    assert [e.index for e in raw if e.type == "content_block_start"] == [0, 1, 2]
    assert body.endswith(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")


def test_stream_encoder_synthesises_start_and_closes_blocks() -> None:
    events: list[ir.StreamEvent] = [
        ir.BlockStart(index=0, block=ir.ThinkingBlock(text="")),
        ir.BlockDelta(index=0, kind="thinking", text="deep"),
        ir.BlockDelta(index=0, kind="signature", text="sig"),
        ir.BlockStop(index=0),
        ir.BlockStart(index=1, block=ir.ImageBlock(url="https://x")),
        ir.BlockStop(index=1),
        ir.BlockDelta(index=2, kind="text", text="late text"),
        ir.MessageDelta(stop_reason="max_tokens", usage=ir.Usage(output_tokens=3)),
        ir.StreamEnd(),
    ]
    body = encode_ir(events)
    assert body.startswith(b"event: message_start\n")
    final, _ = sdk_stream(body)
    assert block_summary(final) == [{"type": "thinking", "thinking": "deep", "signature": "sig"},
                                    {"type": "text", "text": "late text"}]
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 3
    assert final.id.startswith("msg_")


def test_stream_error_event_round_trip() -> None:
    err = ir.Error(kind="overloaded", message="Overloaded", status=529)
    body = encode_ir([ir.StreamStart(id="msg_1", model="x"), ir.BlockStart(index=0, block=ir.TextBlock(text="")),
                      ir.BlockDelta(index=0, kind="text", text="par"), ir.StreamError(error=err)])
    assert body.endswith(b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
                         b'"message":"Overloaded"}}\n\n')
    assert codec.emit_stream_error(err) == body[body.index(b"event: error"):]
    with pytest.raises(anthropic.APIStatusError) as info:
        sdk_stream(body)
    assert "Overloaded" in str(info.value)
    decoded = decode_stream(body)
    assert decoded[-1] == ir.StreamError(error=ir.Error(kind="overloaded", message="Overloaded", status=529))
    assert not any(isinstance(e, ir.StreamEnd) for e in decoded)


def test_stream_decoder_truncated_and_odd_events() -> None:
    data = (FIXTURES / "messages_stream_text.sse").read_bytes()
    cut = data[: data.index(b"event: message_stop")]
    events = decode_stream(cut)
    assert not any(isinstance(e, ir.StreamEnd) for e in events)
    assert codec.stream_decoder().close() == []

    decoder = codec.stream_decoder()
    assert decoder.feed(SSEEvent("ping", b'{"type": "ping"}')) == []
    assert decoder.feed(SSEEvent("content_block_start", b'{"type":"content_block_start","index":0,'
                                 b'"content_block":{"type":"server_tool_use","id":"s","name":"web_search",'
                                 b'"input":{}}}')) == []
    assert decoder.feed(SSEEvent("content_block_delta", b'{"type":"content_block_delta","index":0,'
                                 b'"delta":{"type":"input_json_delta","partial_json":"{}"}}')) == []
    started = decoder.feed(SSEEvent("content_block_start", b'{"type":"content_block_start","index":1,'
                                    b'"content_block":{"type":"text","text":"pre"}}'))
    assert started == [ir.BlockStart(index=0, block=ir.TextBlock(text="")),
                       ir.BlockDelta(index=0, kind="text", text="pre")]
    bad = decoder.feed(SSEEvent("content_block_delta", b"{oops"))
    assert isinstance(bad[0], ir.StreamError) and bad[0].error.kind == "api_error"


# --------------------------------------------------------------------------- usage sniffer


@pytest.mark.parametrize("path", STREAMS, ids=ids(STREAMS))
def test_usage_sniffer_matches_decoder(path: Path) -> None:
    data = path.read_bytes()
    sniffer = codec.usage_sniffer()
    assert sniffer.usage is None and not sniffer.finished
    for event in sse_events(data, 13):
        sniffer.feed(event)
    assert sniffer.finished and sniffer.error is None
    assert sniffer.usage == expected_usage(data)


def test_usage_sniffer_partial_skips_content_and_errors() -> None:
    data = (FIXTURES / "messages_stream_cache_read.sse").read_bytes()
    sniffer = codec.usage_sniffer()
    for event in sse_events(data[: data.index(b"event: content_block_start")]):
        sniffer.feed(event)
    assert sniffer.usage == ir.Usage(input_tokens=3, output_tokens=6, cache_read_tokens=1217)
    assert not sniffer.finished
    sniffer.feed(SSEEvent("content_block_delta", b"not json at all"))  # never decoded
    sniffer.feed(SSEEvent("error", b'{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}'))
    assert sniffer.error == ir.Error(kind="rate_limit", message="slow", status=429)
    assert not sniffer.finished


# --------------------------------------------------------------------------- errors


def test_error_fixtures() -> None:
    e400 = codec.parse_error(400, (FIXTURES / "error_400_invalid_request.json").read_bytes())
    assert e400.kind == "invalid_request" and e400.status == 400
    assert e400.message.startswith("This model does not support effort level 'xhigh'")
    e404 = codec.parse_error(404, (FIXTURES / "error_404_not_found_model.json").read_bytes())
    assert (e404.kind, e404.status, e404.message) == ("not_found", 404, "model: claude-sonet-4-5")


@pytest.mark.parametrize(("status", "body", "kind"), [
    (529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "overloaded"),
    (402, b'{"type":"error","error":{"type":"billing_error","message":"pay"}}', "insufficient_quota"),
    (400, b'{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too '
          b'low to access the Anthropic API."}}', "insufficient_quota"),
    (401, b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}',
     "authentication"),
    (403, b'{"type":"error","error":{"type":"permission_error","message":"no"}}', "permission"),
    (413, b'{"type":"error","error":{"type":"request_too_large","message":"big"}}', "request_too_large"),
    (429, b'{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}', "rate_limit"),
    (500, b'{"type":"error","error":{"type":"api_error","message":"oops"}}', "api_error"),
    (502, b"<html><body>Bad gateway</body></html>", "api_error"),
    (503, b"", "overloaded"),
    (504, b"upstream timed out", "timeout"),
    (429, b'{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}',
     "rate_limit"),
    (404, b'{"error": "no such model"}', "not_found"),
])
def test_parse_error_shapes(status: int, body: bytes, kind: str) -> None:
    err = codec.parse_error(status, body)
    assert err.kind == kind and err.status == status and err.message


@pytest.mark.parametrize(("kind", "status", "etype", "exc"), [
    ("invalid_request", 400, "invalid_request_error", anthropic.BadRequestError),
    ("authentication", 401, "authentication_error", anthropic.AuthenticationError),
    ("insufficient_quota", 402, "billing_error", getattr(anthropic, "PaymentRequiredError",
                                                           anthropic.APIStatusError)),
    ("permission", 403, "permission_error", anthropic.PermissionDeniedError),
    ("not_found", 404, "not_found_error", anthropic.NotFoundError),
    ("request_too_large", 413, "request_too_large", anthropic.APIStatusError),
    ("rate_limit", 429, "rate_limit_error", anthropic.RateLimitError),
    ("api_error", 500, "api_error", anthropic.InternalServerError),
    ("timeout", 504, "timeout_error", anthropic.InternalServerError),
    ("overloaded", 529, "overloaded_error", getattr(anthropic, "OverloadedError", anthropic.InternalServerError)),
])
def test_emitted_errors_raise_the_right_sdk_exception(kind: Any, status: int, etype: str,
                                                       exc: type[Exception]) -> None:
    err = ir.Error(kind=kind, message=f"boom {kind}", status=418)
    emitted_status, body = codec.emit_error(err)
    assert emitted_status == status
    assert json.loads(body) == {"type": "error", "error": {"type": etype, "message": f"boom {kind}"}}
    client = sdk_client(lambda request: http.Response(emitted_status, content=body,
                                                      headers={"content-type": "application/json"}))
    with pytest.raises(exc) as info:
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert info.value.body["error"]["type"] == etype  # type: ignore[attr-defined]
    again = codec.parse_error(emitted_status, body)
    assert (again.kind, again.message, again.status) == (kind, f"boom {kind}", status)
