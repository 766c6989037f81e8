"""The Gemini generateContent codec against recorded provider traffic and the official google-genai SDK."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from app.relay.protocols import ir
from app.relay.protocols.base import ProtocolError
from app.relay.protocols.gemini import codec
from app.relay.protocols.sse import SSEDecoder, SSEEvent

GEMINI_DIR = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "recorded" / "gemini"

REQUESTS = sorted(p.name for p in GEMINI_DIR.glob("*.request.json"))
RESPONSES = sorted(p.name for p in GEMINI_DIR.glob("generate_*.json") if not p.name.endswith(".request.json"))
STREAMS = sorted(p.name for p in GEMINI_DIR.glob("*.sse"))
ARRAY_STREAM = "stream_json_array_thoughts_function_call.json"


def _read(name: str) -> bytes:
    return (GEMINI_DIR / name).read_bytes()


def _model_for(name: str) -> str:
    """The model a fixture was recorded against (from SOURCES.tsv), close enough for parsing."""
    if name.startswith(("generate_nonstream_text", "generate_nonstream_function_call", "error_400")):
        return "gemini-2.0-flash-001"
    if name.startswith("stream_sse_thought_parts"):
        return "gemini-2.5-pro"
    return "gemini-2.5-flash"


def _expected_usage(meta: dict[str, Any]) -> ir.Usage:
    cached = meta.get("cachedContentTokenCount", 0)
    thoughts = meta.get("thoughtsTokenCount", 0)
    return ir.Usage(input_tokens=meta["promptTokenCount"] - cached, cache_read_tokens=cached,
                    output_tokens=meta.get("candidatesTokenCount", 0) + thoughts, reasoning_tokens=thoughts)


def _sse_chunks(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[len(b"data: "):]) for line in data.split(b"\r\n") if line.startswith(b"data: ")]


def _original(chunks: list[dict[str, Any]]) -> tuple[str, str, list[dict[str, Any]], dict[str, Any]]:
    """Text, thought text, function-call parts and last usageMetadata of recorded chunks."""
    text, thoughts, calls = "", "", []
    for chunk in chunks:
        for part in chunk["candidates"][0]["content"]["parts"]:
            if "functionCall" in part:
                calls.append(part)
            elif part.get("thought"):
                thoughts += part["text"]
            else:
                text += part.get("text", "")
    return text, thoughts, calls, chunks[-1]["usageMetadata"]


def _decode_sse(data: bytes, chunk_size: int = 7) -> list[ir.StreamEvent]:
    sse, decoder = SSEDecoder(), codec.stream_decoder()
    events: list[ir.StreamEvent] = []
    for i in range(0, len(data), chunk_size):
        for event in sse.feed(data[i:i + chunk_size]):
            events.extend(decoder.feed(event))
    for event in sse.close():
        events.extend(decoder.feed(event))
    return events + decoder.close()


def _array_elements(data: bytes) -> list[bytes]:
    """Google's JSON-array stream, split into the elements a decoder would see one by one."""
    return [json.dumps(element).encode() for element in json.loads(data)]


def _decode_elements(elements: list[bytes]) -> list[ir.StreamEvent]:
    decoder = codec.stream_decoder()
    events: list[ir.StreamEvent] = []
    for element in elements:
        events.extend(decoder.feed(SSEEvent(None, element)))
    return events + decoder.close()


def _accumulate(events: list[ir.StreamEvent]) -> dict[str, Any]:
    text, thoughts, stop, usage = "", "", None, None
    calls: dict[int, ir.ToolCallBlock] = {}
    signatures: dict[int, str] = {}
    for event in events:
        if isinstance(event, ir.BlockStart) and isinstance(event.block, ir.ToolCallBlock):
            calls[event.index] = ir.ToolCallBlock(id=event.block.id, name=event.block.name,
                                                  signature=event.block.signature)
        elif isinstance(event, ir.BlockDelta):
            if event.kind == "text":
                text += event.text
            elif event.kind == "thinking":
                thoughts += event.text
            elif event.kind == "arguments":
                calls[event.index].arguments += event.text
            else:
                signatures[event.index] = signatures.get(event.index, "") + event.text
        elif isinstance(event, ir.MessageDelta):
            stop = event.stop_reason or stop
            usage = event.usage or usage
    return {"text": text, "thoughts": thoughts, "calls": list(calls.values()), "stop": stop,
            "usage": usage, "signatures": signatures}


def _assert_block_structure(events: list[ir.StreamEvent]) -> None:
    open_blocks: set[int] = set()
    next_index = 0
    assert isinstance(events[0], ir.StreamStart)
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


def _sdk(handler: Callable[[httpx.Request], httpx.Response]) -> genai.Client:
    transport = httpx.MockTransport(handler)
    return genai.Client(api_key="x", http_options=types.HttpOptions(
        base_url="http://relay.test", httpx_client=httpx.Client(transport=transport)))


def _slices(data: bytes, size: int = 7) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize("name", REQUESTS)
def test_request_fixture_round_trips(name: str) -> None:
    model = _model_for(name)
    parsed = codec.parse_request(_read(name), model=model, stream=name.startswith("stream"))
    assert parsed.model == model and parsed.messages
    again = codec.parse_request(codec.emit_request(parsed, model=model), model=model,
                                stream=parsed.stream)
    assert again == parsed


def test_request_fixture_fields() -> None:
    req = codec.parse_request(_read("generate_nonstream_function_call.request.json"),
                              model="models/gemini-2.0-flash-001")
    assert req.model == "gemini-2.0-flash-001" and req.stream is False
    assert req.system[0].text.startswith("You are Calculator.")
    assert req.stop == ["\nObservation:"]
    (tool,) = req.tools
    assert tool.name == "sum_numbers"
    assert tool.parameters == {"properties": {
        "a": {"description": "The first number to add", "title": "A", "type": "number"},
        "b": {"description": "The second number to add", "title": "B", "type": "number"}},
        "required": ["a", "b"], "type": "object"}
    thinking = codec.parse_request(_read("generate_nonstream_max_tokens.request.json"), model="m").thinking
    assert thinking == ir.Thinking(enabled=False, include_thoughts=False)
    media = codec.parse_request(_read("generate_nonstream_usage_cached_and_thoughts.request.json"), model="m")
    assert media.messages[0].content[1] == ir.ImageBlock(url="https://m.youtube.com/watch?v=lCdaVNyHtjU",
                                                         media_type="video/mp4")


def test_parse_request_full_conversation_snake_case() -> None:
    body = {
        "system_instruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}, {"inline_data": {"mime_type": "image/png", "data": "AAAA"}}]},
            {"role": "model", "parts": [
                {"text": "plan", "thought": True},
                {"function_call": {"name": "get", "args": {"q": 1}}, "thought_signature": "c2ln"},
                {"functionCall": {"name": "get", "args": {"q": 2}}},
                {"functionCall": {"name": "other", "args": {}, "id": "fixed"}},
            ]},
            {"role": "user", "parts": [
                {"function_response": {"name": "other", "response": {"ok": True}}},
                {"functionResponse": {"name": "get", "response": {"r": 1}}},
                {"functionResponse": {"name": "get", "response": {"r": 2}}},
            ]},
            {"role": "user", "parts": [{"text": "and?"}]},
            {"role": "model", "parts": [{"text": "answer", "thoughtSignature": "dGV4dA=="}]},
        ],
        "tools": [{"function_declarations": [{"name": "get", "parameters_json_schema": {
            "type": "object", "additionalProperties": False}}]}, {"googleSearch": {}}],
        "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["get"]}},
        "generation_config": {"max_output_tokens": 50, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
                              "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2,
                              "response_mime_type": "application/json",
                              "response_schema": {"type": "OBJECT", "properties": {
                                  "x": {"type": "STRING", "nullable": True}}},
                              "thinking_config": {"thinking_budget": 2048, "include_thoughts": True}},
    }
    req = codec.parse_request(json.dumps(body).encode(), model="gemini-2.5-flash", stream=True)
    assert req.stream and req.system == [ir.TextBlock(text="sys")]
    user, model, results, final = req.messages
    assert user.content[1] == ir.ImageBlock(data="AAAA", media_type="image/png")
    assert model.content == [
        ir.ThinkingBlock(text="plan"),
        ir.ToolCallBlock(id="call_1", name="get", arguments='{"q":1}', signature="c2ln"),
        ir.ToolCallBlock(id="call_2", name="get", arguments='{"q":2}'),
        ir.ToolCallBlock(id="fixed", name="other", arguments="{}"),
    ]
    # Results pair with calls by name, in order; consecutive user turns are merged.
    assert [(b.tool_call_id, b.name, b.content[0].text) for b in results.content[:3]] == [
        ("fixed", "other", '{"ok":true}'), ("call_1", "get", '{"r":1}'), ("call_2", "get", '{"r":2}')]
    assert results.content[3] == ir.TextBlock(text="and?")
    # A signature on a plain text part is carried by a ThinkingBlock just before it.
    assert final.content == [ir.ThinkingBlock(text="", signature="dGV4dA=="), ir.TextBlock(text="answer")]
    assert [t.name for t in req.tools] == ["get"]
    assert req.tools[0].parameters == {"type": "object", "additionalProperties": False}
    assert req.tool_choice == ir.ToolChoice(mode="tool", name="get")
    assert (req.max_tokens, req.temperature, req.top_p, req.top_k, req.seed) == (50, 0.5, 0.9, 40, 7)
    assert (req.presence_penalty, req.frequency_penalty) == (0.1, 0.2)
    assert req.response_format == ir.ResponseFormat(type="json_schema", schema={
        "type": "object", "properties": {"x": {"type": ["string", "null"]}}})
    assert req.thinking == ir.Thinking(enabled=True, budget_tokens=2048, include_thoughts=True)
    # Upstream bodies carry no ids: calls and results are re-paired by name and order, results
    # follow their calls, and the unsigned thought is dropped (Gemini cannot use it unsigned).
    emitted = codec.emit_request(req, model="gemini-2.5-flash")
    assert b'"id"' not in emitted
    again = codec.parse_request(emitted, model="gemini-2.5-flash", stream=True)
    assert again.messages[1].content == [
        ir.ToolCallBlock(id="call_1", name="get", arguments='{"q":1}', signature="c2ln"),
        ir.ToolCallBlock(id="call_2", name="get", arguments='{"q":2}'),
        ir.ToolCallBlock(id="call_3", name="other", arguments="{}"),
    ]
    assert [(b.tool_call_id, b.name, b.content[0].text) for b in again.messages[2].content[:3]] == [
        ("call_1", "get", '{"r":1}'), ("call_2", "get", '{"r":2}'), ("call_3", "other", '{"ok":true}')]
    assert again.messages[2].content[3] == ir.TextBlock(text="and?")
    assert (again.messages[0], again.messages[3]) == (req.messages[0], req.messages[3])
    assert (again.system, again.tools, again.tool_choice, again.thinking, again.response_format) == \
        (req.system, req.tools, req.tool_choice, req.thinking, req.response_format)


def test_parse_request_from_sdk_body() -> None:
    """What google-genai itself sends (snake_case thinkingConfig keys, upper-case schema types)."""
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, content=codec.emit_response(
            ir.Response(id="r1", model="m", content=[ir.TextBlock(text="ok")], stop_reason="end_turn"),
            model="gemini-2.5-flash"))

    config = types.GenerateContentConfig(
        system_instruction="be brief", temperature=0.2, max_output_tokens=64, stop_sequences=["END"],
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
            name="f", description="d", parameters={"type": "object", "properties": {"a": {"type": "string"}}})])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="NONE")),
        thinking_config=types.ThinkingConfig(thinking_budget=100, include_thoughts=True),
        response_mime_type="application/json")
    result = _sdk(handler).models.generate_content(model="gemini-2.5-flash", contents="hi", config=config)
    assert result.text == "ok"
    req = codec.parse_request(seen[0], model="gemini-2.5-flash")
    assert req.system == [ir.TextBlock(text="be brief")]
    assert req.messages == [ir.Message(role="user", content=[ir.TextBlock(text="hi")])]
    assert req.tools == [ir.Tool(name="f", description="d", parameters={
        "type": "object", "properties": {"a": {"type": "string"}}})]
    assert req.tool_choice == ir.ToolChoice(mode="none")
    assert (req.temperature, req.max_tokens, req.stop) == (0.2, 64, ["END"])
    assert req.thinking == ir.Thinking(enabled=True, budget_tokens=100, include_thoughts=True)
    assert req.response_format == ir.ResponseFormat(type="json_object")


def test_emit_request_from_foreign_ir() -> None:
    req = ir.Request(
        model="client-model",
        system=[ir.TextBlock(text="sys")],
        messages=[
            ir.Message(role="user", content=[
                ir.TextBlock(text="look"),
                ir.ImageBlock(url="https://x.test/cat.png?size=1"),
                ir.ImageBlock(url="https://x.test/photo"),
                ir.ImageBlock(url="data:image/webp;base64,UklG"),
                ir.ImageBlock(data="iVBO", media_type="image/png")]),
            ir.Message(role="user", content=[ir.TextBlock(text="again")]),
            ir.Message(role="assistant", content=[
                ir.ThinkingBlock(text="anthropic thoughts", signature="EqAnthropic", redacted_data=None),
                ir.ThinkingBlock(redacted_data="opaque"),
                ir.ThinkingBlock(text="unsigned"),
                ir.TextBlock(text="calling"),
                ir.ToolCallBlock(id="toolu_1", name="lookup", arguments='{"q": "x"}'),
                ir.ToolCallBlock(id="toolu_2", name="lookup", arguments=""),
            ]),
            ir.Message(role="user", content=[  # results out of call order, as OpenAI allows
                ir.ToolResultBlock(tool_call_id="toolu_2", content=[ir.TextBlock(text="plain")], is_error=True),
                ir.ToolResultBlock(tool_call_id="toolu_1", content=[ir.TextBlock(text='{"hits": 3}')]),
            ]),
        ],
        tools=[ir.Tool(name="lookup", description="Look up", parameters={
            "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "properties": {"q": {"type": "string"}}, "additionalProperties": False})],
        tool_choice=ir.ToolChoice(mode="required", disable_parallel=True),
        max_tokens=100, stop=["x"], response_format=ir.ResponseFormat(type="json_schema", name="n",
                                                                       schema={"type": "object"}),
        thinking=ir.Thinking(effort="medium"), user="u1",
    )
    body = json.loads(codec.emit_request(req, model="gemini-2.5-flash"))
    assert "model" not in body
    user, model, results = body["contents"]
    assert user == {"role": "user", "parts": [
        {"text": "look"},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/cat.png?size=1"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/photo"}},
        {"inlineData": {"mimeType": "image/webp", "data": "UklG"}},
        {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
        {"text": "again"}]}
    # The signed thinking moves its signature onto the text part that follows; unsigned and redacted
    # thinking are dropped.
    assert model == {"role": "model", "parts": [
        {"text": "anthropic thoughts", "thought": True},
        {"text": "calling", "thoughtSignature": "EqAnthropic"},
        {"functionCall": {"name": "lookup", "args": {"q": "x"}}},
        {"functionCall": {"name": "lookup", "args": {}}}]}
    # No ids upstream: results are sent in call order so Gemini pairs them right.
    assert results["parts"] == [
        {"functionResponse": {"name": "lookup", "response": {"hits": 3}}},
        {"functionResponse": {"name": "lookup", "response": {"error": "plain"}}}]
    assert body["systemInstruction"] == {"parts": [{"text": "sys"}]}
    assert body["tools"] == [{"functionDeclarations": [{"name": "lookup", "description": "Look up",
                                                        "parametersJsonSchema": {
                                                            "type": "object",
                                                            "properties": {"q": {"type": "string"}},
                                                            "additionalProperties": False}}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body["generationConfig"] == {
        "maxOutputTokens": 100, "stopSequences": ["x"], "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
        "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True}}
    # Parsing it back pairs the results with the calls and keeps the signature with the thinking.
    back = codec.parse_request(codec.emit_request(req, model="gemini-2.5-flash"), model="gemini-2.5-flash")
    assert back.messages[1].content[:2] == [ir.ThinkingBlock(text="anthropic thoughts", signature="EqAnthropic"),
                                            ir.TextBlock(text="calling")]
    assert [b.name for b in back.messages[2].content] == ["lookup", "lookup"]


@pytest.mark.parametrize(("thinking", "model", "expected"), [
    (ir.Thinking(effort="low"), "gemini-2.5-flash", {"thinkingBudget": 1024, "includeThoughts": True}),
    (ir.Thinking(effort="high", include_thoughts=False), "gemini-2.5-pro", {"thinkingBudget": 24576}),
    (ir.Thinking(effort="high"), "gemini-3-pro-preview", {"thinkingLevel": "high", "includeThoughts": True}),
    (ir.Thinking(budget_tokens=2000), "gemini-3-flash", {"thinkingBudget": 2000, "includeThoughts": True}),
    (ir.Thinking(enabled=False, include_thoughts=False), "gemini-2.5-flash", {"thinkingBudget": 0}),
])
def test_emit_thinking_config(thinking: ir.Thinking, model: str, expected: dict[str, Any]) -> None:
    req = ir.Request(model="x", messages=[ir.Message(role="user", content=[ir.TextBlock(text="q")])],
                     thinking=thinking)
    assert json.loads(codec.emit_request(req, model=model))["generationConfig"]["thinkingConfig"] == expected


@pytest.mark.parametrize(("choice", "expected"), [
    (ir.ToolChoice(), {"mode": "AUTO"}),
    (ir.ToolChoice(mode="none"), {"mode": "NONE"}),
    (ir.ToolChoice(mode="tool", name="f"), {"mode": "ANY", "allowedFunctionNames": ["f"]}),
])
def test_emit_tool_choice(choice: ir.ToolChoice, expected: dict[str, Any]) -> None:
    req = ir.Request(model="x", messages=[ir.Message(role="user", content=[ir.TextBlock(text="q")])],
                     tools=[ir.Tool(name="f")], tool_choice=choice)
    body = json.loads(codec.emit_request(req, model="gemini-2.5-flash"))
    assert body["toolConfig"]["functionCallingConfig"] == expected


def test_gemini3_gets_placeholder_signature_for_foreign_calls() -> None:
    req = ir.Request(model="x", messages=[
        ir.Message(role="user", content=[ir.TextBlock(text="q")]),
        ir.Message(role="assistant", content=[ir.ToolCallBlock(id="c1", name="f", arguments="{}"),
                                              ir.ToolCallBlock(id="c2", name="f", arguments="{}")]),
        ir.Message(role="user", content=[ir.ToolResultBlock(tool_call_id="c1", content=[ir.TextBlock(text="1")]),
                                         ir.ToolResultBlock(tool_call_id="c2", content=[ir.TextBlock(text="2")])]),
    ])
    parts = json.loads(codec.emit_request(req, model="gemini-3-pro-preview"))["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]
    older = json.loads(codec.emit_request(req, model="gemini-2.5-flash"))["contents"][1]["parts"]
    assert "thoughtSignature" not in older[0]
    # The placeholder never reaches the IR.
    back = codec.parse_request(codec.emit_request(req, model="gemini-3-pro-preview"), model="gemini-3-pro-preview")
    assert back.messages[1].content[0] == ir.ToolCallBlock(id="call_1", name="f", arguments="{}")


@pytest.mark.parametrize(("body", "param"), [
    (b"not json", None),
    (b"[]", "body"),
    (b"{}", "contents"),
    (b'{"contents": []}', "contents"),
    (b'{"contents": [{"role": "system", "parts": [{"text": "x"}]}]}', "contents[0].role"),
    (b'{"contents": [{"role": "user", "parts": []}]}', "contents[0].parts"),
    (b'{"contents": [{"role": "user"}]}', "contents[0].parts"),
    (b'{"contents": [{"parts": [{"text": "a"}]}, {"parts": [{"text": "b"}, {"bogus": 1}]}]}', "contents[1].parts[1]"),
    (b'{"contents": [{"parts": [{"text": 5}]}]}', "contents[0].parts[0].text"),
    (b'{"contents": [{"parts": [{"functionCall": {"args": {}}}]}]}', "contents[0].parts[0].functionCall.name"),
    (b'{"contents": [{"parts": [{"functionCall": {"name": "f", "args": [1]}}]}]}',
     "contents[0].parts[0].functionCall.args"),
    (b'{"contents": [{"parts": [{"inlineData": {"mimeType": "image/png"}}]}]}',
     "contents[0].parts[0].inlineData.data"),
    (b'{"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"temperature": "hot"}}',
     "generationConfig.temperature"),
    (b'{"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"maxOutputTokens": true}}',
     "generationConfig.maxOutputTokens"),
    (b'{"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"stopSequences": [1]}}',
     "generationConfig.stopSequences[0]"),
    (b'{"contents": [{"parts": [{"text": "a"}]}], "toolConfig": {"functionCallingConfig": {"mode": "SOME"}}}',
     "toolConfig.functionCallingConfig.mode"),
    (b'{"contents": [{"parts": [{"text": "a"}]}], "tools": [{"functionDeclarations": [{"description": "x"}]}]}',
     "tools[0].functionDeclarations[0].name"),
    (b'{"contents": [{"parts": [{"text": "a"}]}], "systemInstruction": {"parts": [{"text": 1}]}}',
     "systemInstruction.parts[0].text"),
])
def test_protocol_errors_name_the_field(body: bytes, param: str | None) -> None:
    with pytest.raises(ProtocolError) as info:
        codec.parse_request(body, model="gemini-2.5-flash")
    assert info.value.error.kind == "invalid_request" and info.value.error.status == 400
    assert info.value.error.param == param
    assert info.value.error.message


def test_model_is_required() -> None:
    with pytest.raises(ProtocolError) as info:
        codec.parse_request(b'{"contents": [{"parts": [{"text": "a"}]}]}')
    assert info.value.error.param == "model"


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize("name", RESPONSES)
def test_response_fixture_parses_and_reemits(name: str) -> None:
    raw = json.loads(_read(name))
    resp = codec.parse_response(_read(name))
    assert resp.id == raw["responseId"] and resp.model == raw["modelVersion"]
    assert resp.usage == _expected_usage(raw["usageMetadata"])
    assert codec.parse_usage(_read(name)) == resp.usage
    # This SDK version does not know usageMetadata.serviceTier (and forbids unknown fields).
    known = json.loads(_read(name))
    known["usageMetadata"].pop("serviceTier", None)
    original = types.GenerateContentResponse.model_validate(known)
    body = codec.emit_response(resp, model="client-model")
    sdk = types.GenerateContentResponse.model_validate_json(body)
    assert sdk.model_version == "client-model" and sdk.response_id == raw["responseId"]
    assert sdk.text == original.text
    assert [(c.name, c.args) for c in sdk.function_calls or []] == \
        [(c.name, c.args) for c in original.function_calls or []]
    assert sdk.candidates[0].finish_reason == original.candidates[0].finish_reason
    assert sdk.usage_metadata.prompt_token_count == original.usage_metadata.prompt_token_count
    assert sdk.usage_metadata.candidates_token_count == original.usage_metadata.candidates_token_count
    assert sdk.usage_metadata.total_token_count == original.usage_metadata.total_token_count
    assert codec.parse_response(body).usage == resp.usage


def test_response_cached_and_thought_usage() -> None:
    usage = codec.parse_response(_read("generate_nonstream_usage_cached_and_thoughts.json")).usage
    assert usage == ir.Usage(input_tokens=17713 - 17379, cache_read_tokens=17379,
                             output_tokens=68 + 821, reasoning_tokens=821)
    assert usage.total_tokens == 18602


def test_response_stop_reasons() -> None:
    call = codec.parse_response(_read("generate_nonstream_function_call.json"))
    assert call.stop_reason == "tool_use"
    (block,) = call.content
    assert isinstance(block, ir.ToolCallBlock) and block.name == "sum_numbers"
    assert json.loads(block.arguments) == {"a": 10000, "b": 20000} and block.id
    assert codec.parse_response(_read("generate_nonstream_max_tokens.json")).stop_reason == "max_tokens"
    assert codec.parse_response(_read("generate_nonstream_text.json")).stop_reason == "end_turn"
    for reason, stop in [("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
                         ("PROHIBITED_CONTENT", "content_filter"), ("MALFORMED_FUNCTION_CALL", "end_turn"),
                         ("OTHER", "end_turn")]:
        body = {"candidates": [{"finishReason": reason, "index": 0}], "responseId": "r"}
        assert codec.parse_response(json.dumps(body).encode()).stop_reason == stop
    blocked = codec.parse_response(b'{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": '
                                   b'{"promptTokenCount": 5, "totalTokenCount": 5}}')
    assert blocked.stop_reason == "content_filter" and blocked.content == []
    assert blocked.usage == ir.Usage(input_tokens=5)


def test_emit_response_thoughts_calls_and_filter() -> None:
    resp = ir.Response(id="resp-1", model="upstream", stop_reason="tool_use", content=[
        ir.ThinkingBlock(text="hmm", signature="c2lnMQ=="),
        ir.TextBlock(text="Let me check."),
        ir.ToolCallBlock(id="call_9", name="weather", arguments='{"city":"Paris"}', signature="c2lnMg=="),
    ], usage=ir.Usage(input_tokens=10, cache_read_tokens=5, output_tokens=30, reasoning_tokens=20))
    body = codec.emit_response(resp, model="gemini-2.5-pro")
    sdk = types.GenerateContentResponse.model_validate_json(body)
    parts = sdk.candidates[0].content.parts
    assert parts[0].thought and parts[0].text == "hmm"
    assert parts[1].text == "Let me check." and parts[1].thought_signature is not None
    assert sdk.function_calls[0].name == "weather" and sdk.function_calls[0].args == {"city": "Paris"}
    assert sdk.function_calls[0].id == "call_9" and parts[2].thought_signature is not None
    assert sdk.candidates[0].finish_reason == types.FinishReason.STOP
    meta = sdk.usage_metadata
    assert (meta.prompt_token_count, meta.cached_content_token_count, meta.candidates_token_count,
            meta.thoughts_token_count, meta.total_token_count) == (15, 5, 10, 20, 45)
    again = codec.parse_response(body)
    assert again.content == resp.content and again.usage == resp.usage and again.stop_reason == "tool_use"
    for stop, finish in [("max_tokens", "MAX_TOKENS"), ("content_filter", "SAFETY"),
                         ("stop_sequence", "STOP"), ("end_turn", "STOP")]:
        out = types.GenerateContentResponse.model_validate_json(codec.emit_response(
            ir.Response(id="r", model="m", content=[], stop_reason=stop), model="m"))
        assert out.candidates[0].finish_reason == finish


def test_malformed_response_is_an_upstream_error() -> None:
    with pytest.raises(ProtocolError) as info:
        codec.parse_response(b"<html>")
    assert info.value.error.kind == "api_error"
    assert codec.parse_usage(b"<html>") is None
    assert codec.parse_usage(b'{"candidates": []}') is None


# --------------------------------------------------------------------------- streams


@pytest.mark.parametrize("name", STREAMS)
def test_sse_fixture_decodes_in_awkward_slices(name: str) -> None:
    data = _read(name)
    text, thoughts, _, last_usage = _original(_sse_chunks(data))
    for size in (1, 7, 64, len(data)):
        events = _decode_sse(data, size)
        _assert_block_structure(events)
        got = _accumulate(events)
        assert got["text"] == text and got["thoughts"] == thoughts
        assert got["usage"] == _expected_usage(last_usage)
        assert got["stop"] == "end_turn"
        assert isinstance(events[-1], ir.StreamEnd)
    start = events[0]
    assert isinstance(start, ir.StreamStart)
    assert start.id == _sse_chunks(data)[0]["responseId"] and start.model == _sse_chunks(data)[0]["modelVersion"]


def test_thought_stream_signature_signs_the_thinking_block() -> None:
    data = _read("stream_sse_thought_parts.sse")
    events = _decode_sse(data)
    starts = [e for e in events if isinstance(e, ir.BlockStart)]
    assert [type(s.block) for s in starts] == [ir.ThinkingBlock, ir.TextBlock]
    signature = next(p["thoughtSignature"] for c in _sse_chunks(data)
                     for p in c["candidates"][0]["content"]["parts"] if "thoughtSignature" in p)
    assert _accumulate(events)["signatures"] == {0: signature}


def test_json_array_fixture_decodes() -> None:
    data = _read(ARRAY_STREAM)
    chunks = json.loads(data)
    _, thoughts, calls, last_usage = _original(chunks)
    events = _decode_elements(_array_elements(data))
    _assert_block_structure(events)
    got = _accumulate(events)
    assert got["thoughts"] == thoughts and got["text"] == ""
    (call,) = got["calls"]
    assert call.name == calls[0]["functionCall"]["name"] and json.loads(call.arguments) == {}
    assert call.signature == calls[0]["thoughtSignature"] and call.id.startswith("call_")
    assert got["stop"] == "tool_use"
    assert got["usage"] == _expected_usage(last_usage)
    assert isinstance(events[-1], ir.StreamEnd)
    assert codec.parse_usage(data) == _expected_usage(last_usage)


def test_stream_without_finish_has_no_end_and_error_chunk() -> None:
    decoder = codec.stream_decoder()
    first = _sse_chunks(_read("stream_sse_text_usage.sse"))[0]
    events = decoder.feed(SSEEvent(None, json.dumps(first).encode()))
    assert isinstance(events[0], ir.StreamStart)
    closing = decoder.close()
    assert [type(e) for e in closing] == [ir.BlockStop]
    decoder = codec.stream_decoder()
    decoder.feed(SSEEvent(None, json.dumps(first).encode()))
    (error,) = decoder.feed(SSEEvent(None, b'{"error": {"code": 503, "message": "The model is overloaded.",'
                                           b' "status": "UNAVAILABLE"}}'))
    assert isinstance(error, ir.StreamError)
    assert (error.error.kind, error.error.status) == ("overloaded", 503)
    assert decoder.close() == []


def _fixture_events(name: str) -> list[ir.StreamEvent]:
    if name == ARRAY_STREAM:
        return _decode_elements(_array_elements(_read(name)))
    return _decode_sse(_read(name))


@pytest.mark.parametrize("name", [*STREAMS, ARRAY_STREAM])
def test_encoder_sse_is_consumed_by_the_sdk(name: str) -> None:
    events = _fixture_events(name)
    encoder = codec.stream_encoder(model="client-model", sse=True)
    assert encoder.content_type == "text/event-stream"
    wire = b"".join(encoder.encode(e) for e in events) + encoder.close()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=_slices(wire))

    chunks = list(_sdk(handler).models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert seen[0].url.params.get("alt") == "sse"
    expected = _accumulate(events)
    text = "".join(p.text or "" for c in chunks for p in c.candidates[0].content.parts or () if not p.thought)
    thoughts = "".join(p.text or "" for c in chunks for p in c.candidates[0].content.parts or () if p.thought)
    assert (text, thoughts) == (expected["text"], expected["thoughts"])
    calls = [fc for c in chunks for fc in c.function_calls or ()]
    assert [(fc.name, fc.args) for fc in calls] == [(c.name, json.loads(c.arguments)) for c in expected["calls"]]
    meta = chunks[-1].usage_metadata
    usage: ir.Usage = expected["usage"]
    assert meta.prompt_token_count == usage.prompt_tokens
    assert meta.candidates_token_count == usage.output_tokens - usage.reasoning_tokens
    assert (meta.thoughts_token_count or 0) == usage.reasoning_tokens
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert all(c.model_version == "client-model" for c in chunks)
    # Our own decoder reads it back to the same content.
    again = _accumulate(_decode_sse(wire, 5))
    assert {k: again[k] for k in ("text", "thoughts", "stop", "usage")} == \
        {k: expected[k] for k in ("text", "thoughts", "stop", "usage")}
    assert [(c.name, c.arguments, c.signature) for c in again["calls"]] == \
        [(c.name, c.arguments, c.signature) for c in expected["calls"]]


@pytest.mark.parametrize("name", [*STREAMS, ARRAY_STREAM])
def test_encoder_json_array_mode(name: str) -> None:
    events = _fixture_events(name)
    encoder = codec.stream_encoder(model="client-model", sse=False)
    wire = b"".join(encoder.encode(e) for e in events) + encoder.close()
    assert wire.startswith(b"[{") and wire.endswith(b"}]") and b",\r\n{" in wire
    elements = json.loads(wire)
    chunks = [types.GenerateContentResponse.model_validate(e) for e in elements]
    expected = _accumulate(events)
    text = "".join(p.text or "" for c in chunks for p in c.candidates[0].content.parts or () if not p.thought)
    assert text == expected["text"]
    assert codec.parse_usage(wire) == expected["usage"]
    got = _accumulate(_decode_elements([json.dumps(e).encode() for e in elements]))
    assert (got["text"], got["thoughts"], got["usage"], got["stop"]) == \
        (expected["text"], expected["thoughts"], expected["usage"], expected["stop"])
    empty = codec.stream_encoder(model="m", sse=False)
    assert empty.close() == b"[]"


def test_encoder_buffers_tool_calls_and_moves_signatures() -> None:
    usage = ir.Usage(input_tokens=12, output_tokens=9, reasoning_tokens=4)
    events: list[ir.StreamEvent] = [
        ir.StreamStart(id="msg_1", model="claude", usage=ir.Usage(input_tokens=12)),
        ir.BlockStart(index=0, block=ir.ThinkingBlock(text="")),
        ir.BlockDelta(index=0, kind="thinking", text="Let me "),
        ir.BlockDelta(index=0, kind="thinking", text="think."),
        ir.BlockDelta(index=0, kind="signature", text="c2lnLXRoaW5r"),
        ir.BlockStop(index=0),
        ir.BlockStart(index=1, block=ir.TextBlock(text="")),
        ir.BlockDelta(index=1, kind="text", text="Checking."),
        ir.BlockStop(index=1),
        ir.BlockStart(index=2, block=ir.ToolCallBlock(id="toolu_1", name="weather")),
        ir.BlockDelta(index=2, kind="arguments", text='{"ci'),
        ir.BlockDelta(index=2, kind="arguments", text='ty": "Paris"}'),
        ir.BlockDelta(index=2, kind="signature", text="c2lnLWNhbGw="),
        ir.BlockStop(index=2),
        ir.BlockStart(index=3, block=ir.ToolCallBlock(id="toolu_2", name="noargs")),
        ir.BlockStop(index=3),
        ir.MessageDelta(stop_reason="tool_use", usage=usage),
        ir.StreamEnd(),
    ]
    encoder = codec.stream_encoder(model="client-model")
    pieces = [encoder.encode(e) for e in events]
    assert pieces[0] == b"" and pieces[10] == b"" and pieces[11] == b""  # buffered until BlockStop
    wire = b"".join(pieces) + encoder.close()
    chunks = [types.GenerateContentResponse.model_validate(c) for c in _sse_chunks(wire)]
    assert all(c.response_id == "msg_1" for c in chunks)
    text_part = next(p for c in chunks for p in c.candidates[0].content.parts if p.text == "Checking.")
    assert text_part.thought_signature is not None
    calls = [fc for c in chunks for fc in c.function_calls or ()]
    assert [(fc.id, fc.name, fc.args) for fc in calls] == [("toolu_1", "weather", {"city": "Paris"}),
                                                            ("toolu_2", "noargs", {})]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.prompt_token_count == 12
    assert chunks[-1].usage_metadata.thoughts_token_count == 4
    decoded = _decode_sse(wire)
    got = _accumulate(decoded)
    assert got["thoughts"] == "Let me think." and got["text"] == "Checking." and got["stop"] == "tool_use"
    assert got["usage"] == usage and got["signatures"] == {0: "c2lnLXRoaW5r"}
    assert [(c.id, c.name, json.loads(c.arguments), c.signature) for c in got["calls"]] == [
        ("toolu_1", "weather", {"city": "Paris"}, "c2lnLWNhbGw="), ("toolu_2", "noargs", {}, None)]


def test_encoder_stream_error_in_both_framings() -> None:
    error = ir.Error(kind="overloaded", message="busy", status=529)
    sse = codec.stream_encoder(model="m")
    sse.encode(ir.StreamStart(id="x", model="m"))
    framed = sse.encode(ir.StreamError(error=error))
    assert framed.startswith(b"data: ") and framed.endswith(b"\r\n\r\n")
    assert json.loads(framed[6:]) == {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}
    assert codec.emit_stream_error(error) == framed
    array = codec.stream_encoder(model="m", sse=False)
    body = array.encode(ir.BlockStart(index=0, block=ir.TextBlock(text="")))
    body += array.encode(ir.BlockDelta(index=0, kind="text", text="hi"))
    body += array.encode(ir.StreamError(error=error)) + array.close()
    assert json.loads(body)[-1]["error"]["status"] == "UNAVAILABLE"


def test_sdk_raises_on_in_stream_error() -> None:
    text_chunk = b'data: {"candidates": [{"content": {"parts": [{"text": "a"}], "role": "model"}}]}\r\n\r\n'
    wire = text_chunk + codec.emit_stream_error(ir.Error(kind="rate_limit", message="slow down", status=429))
    client = _sdk(lambda _r: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=wire))
    with pytest.raises(genai_errors.ClientError) as info:
        list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize("name", [*STREAMS, ARRAY_STREAM])
def test_usage_sniffer(name: str) -> None:
    data = _read(name)
    sniffer = codec.usage_sniffer()
    if name == ARRAY_STREAM:
        chunks = json.loads(data)
        feed = [SSEEvent(None, e) for e in _array_elements(data)]
    else:
        chunks = _sse_chunks(data)
        sse = SSEDecoder()
        feed = [e for i in range(0, len(data), 7) for e in sse.feed(data[i:i + 7])] + sse.close()
    for k, event in enumerate(feed):
        sniffer.feed(event)
        assert sniffer.finished == (k == len(feed) - 1)
    assert sniffer.usage == _expected_usage(chunks[-1]["usageMetadata"]) and sniffer.error is None
    failing = codec.usage_sniffer()
    failing.feed(SSEEvent(None, b'{"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}'))
    assert failing.error is not None and failing.error.kind == "api_error" and not failing.finished


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("name", "status", "kind"), [
    ("error_400_invalid_api_key_on_sse_endpoint.json", 400, "authentication"),
    ("error_404_model_not_found.json", 404, "not_found"),
])
def test_error_fixtures(name: str, status: int, kind: str) -> None:
    raw = _read(name)
    err = codec.parse_error(status, raw)
    assert err.kind == kind and err.message == json.loads(raw)["error"]["message"]
    wrapped = codec.parse_error(status, b"[" + raw + b"]")  # stream endpoints wrap it in an array
    assert wrapped == err


def test_invalid_key_is_authentication() -> None:
    err = codec.parse_error(400, _read("error_400_invalid_api_key_on_sse_endpoint.json"))
    assert (err.kind, err.status, err.code) == ("authentication", 401, "API_KEY_INVALID")


@pytest.mark.parametrize(("status", "google_status", "kind"), [
    (400, "INVALID_ARGUMENT", "invalid_request"), (401, "UNAUTHENTICATED", "authentication"),
    (403, "PERMISSION_DENIED", "permission"), (404, "NOT_FOUND", "not_found"),
    (429, "RESOURCE_EXHAUSTED", "rate_limit"), (500, "INTERNAL", "api_error"),
    (503, "UNAVAILABLE", "overloaded"), (504, "DEADLINE_EXCEEDED", "timeout"),
])
def test_google_status_strings(status: int, google_status: str, kind: str) -> None:
    body = json.dumps({"error": {"code": status, "message": "m", "status": google_status}}).encode()
    err = codec.parse_error(status, body)
    assert (err.kind, err.status, err.message) == (kind, status, "m")


@pytest.mark.parametrize(("status", "body", "kind"), [
    (502, b"<html>Bad Gateway</html>", "api_error"),
    (429, b"", "rate_limit"),
    (413, b"too big", "request_too_large"),
    (503, b'{"message": "down"}', "overloaded"),
])
def test_parse_error_any_shape(status: int, body: bytes, kind: str) -> None:
    err = codec.parse_error(status, body)
    assert err.kind == kind and err.status == status and err.message


@pytest.mark.parametrize(("kind", "status", "google_status", "exc"), [
    ("invalid_request", 400, "INVALID_ARGUMENT", genai_errors.ClientError),
    ("authentication", 401, "UNAUTHENTICATED", genai_errors.ClientError),
    ("permission", 403, "PERMISSION_DENIED", genai_errors.ClientError),
    ("not_found", 404, "NOT_FOUND", genai_errors.ClientError),
    ("rate_limit", 429, "RESOURCE_EXHAUSTED", genai_errors.ClientError),
    ("insufficient_quota", 429, "RESOURCE_EXHAUSTED", genai_errors.ClientError),
    ("api_error", 500, "INTERNAL", genai_errors.ServerError),
    ("overloaded", 503, "UNAVAILABLE", genai_errors.ServerError),
    ("timeout", 504, "DEADLINE_EXCEEDED", genai_errors.ServerError),
])
def test_emitted_errors_raise_in_the_sdk(kind: str, status: int, google_status: str, exc: type) -> None:
    error = ir.Error(kind=kind, message=f"{kind} happened", status=status, param="contents[0]")  # type: ignore[arg-type]
    http, body = codec.emit_error(error)
    assert http == status
    # Google has one status for rate limits and spent quota: both read back as rate_limit.
    parsed_kind = "rate_limit" if kind == "insufficient_quota" else kind
    assert codec.parse_error(http, body) == ir.Error(kind=parsed_kind, message=f"{kind} happened",  # type: ignore[arg-type]
                                                     status=status, code=google_status, param="contents[0]")
    client = _sdk(lambda _r: httpx.Response(http, headers={"content-type": "application/json"}, content=body))
    with pytest.raises(exc) as info:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert info.value.code == status and info.value.status == google_status
    assert info.value.message == f"{kind} happened"
    with pytest.raises(exc) as streamed:
        list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert streamed.value.code == status


def test_protocol_error_emits_google_shape() -> None:
    with pytest.raises(ProtocolError) as info:
        codec.parse_request(b'{"contents": [{"parts": [{"text": 1}]}]}', model="m")
    status, body = codec.emit_error(info.value.error)
    payload = json.loads(body)["error"]
    assert status == 400 and payload["status"] == "INVALID_ARGUMENT" and payload["code"] == 400
    assert payload["details"][0]["fieldViolations"][0]["field"] == "contents[0].parts[0].text"
