"""OpenAI Chat Completions request bodies <-> IR requests."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.base import ProtocolError
from app.relay.protocols.openai import wire
from app.relay.protocols.openai.errors import validation_error

_request_decoder = msgspec.json.Decoder(wire.ChatRequest)
_encoder = msgspec.json.Encoder()

_DATA_URL_RE = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(?P<data>.*)$", re.DOTALL)
#: OpenAI reasoning models reject ``max_tokens`` and want ``max_completion_tokens``; most other
#: OpenAI-compatible servers only know ``max_tokens``.
_REASONING_MODEL_RE = re.compile(r"^(?:[\w.-]+/)?(?:o\d|gpt-5)", re.IGNORECASE)
_TEXT_JOINER = "\n\n"


# --------------------------------------------------------------------------- parse


def _arguments_text(arguments: str | dict[str, Any]) -> str:
    return arguments if isinstance(arguments, str) else _encoder.encode(arguments).decode()


def _image_block(part: wire.ImagePart) -> ir.ImageBlock:
    image = part.image_url
    url, detail = (image, None) if isinstance(image, str) else (image.url, image.detail)
    match = _DATA_URL_RE.match(url)
    if match:
        return ir.ImageBlock(data=match["data"], media_type=match["type"], detail=detail)
    return ir.ImageBlock(url=url, detail=detail)


def _content_blocks(content: str | list[Any], path: str) -> list[ir.TextBlock | ir.ImageBlock]:
    if isinstance(content, str):
        return [ir.TextBlock(text=content)]
    blocks: list[ir.TextBlock | ir.ImageBlock] = []
    for j, part in enumerate(content):
        if isinstance(part, wire.TextPart):
            blocks.append(ir.TextBlock(text=part.text))
        elif isinstance(part, wire.ImagePart):
            blocks.append(_image_block(part))
        elif isinstance(part, wire.RefusalPart):
            blocks.append(ir.TextBlock(text=part.refusal))
        else:  # pragma: no cover - the wire union admits nothing else
            raise ProtocolError(f"Unsupported content part at '{path}[{j}]'.", param=f"{path}[{j}]")
    return blocks


def _assistant_blocks(msg: wire.AssistantMessage, path: str, tool_names: dict[str, str]) -> list[ir.Block]:
    blocks: list[ir.Block] = []
    reasoning = msg.reasoning_content or msg.reasoning
    if reasoning:
        blocks.append(ir.ThinkingBlock(text=reasoning))
    text: list[ir.Block] = []
    if msg.content is not None:
        text.extend(_content_blocks(msg.content, f"{path}.content"))
    if msg.refusal:
        text.append(ir.TextBlock(text=msg.refusal))
    calls: list[ir.Block] = []
    for call in msg.tool_calls or ():
        tool_names[call.id] = call.function.name
        calls.append(
            ir.ToolCallBlock(
                id=call.id,
                name=call.function.name,
                arguments=_arguments_text(call.function.arguments),
                signature=wire.thought_signature(call.extra_content),
            )
        )
    if calls or blocks:
        # content "" next to tool calls or reasoning is a placeholder, not a text block.
        text = [b for b in text if not (isinstance(b, ir.TextBlock) and not b.text)]
    return blocks + text + calls


def _system_blocks(content: str | list[wire.TextPart]) -> list[ir.TextBlock]:
    if isinstance(content, str):
        return [ir.TextBlock(text=content)]
    return [ir.TextBlock(text=part.text) for part in content]


def _tool_choice(body: wire.ChatRequest) -> ir.ToolChoice | None:
    choice = body.tool_choice
    disable_parallel = body.parallel_tool_calls is False
    if choice is None:
        return ir.ToolChoice(disable_parallel=True) if disable_parallel else None
    if isinstance(choice, str):
        return ir.ToolChoice(mode=choice, disable_parallel=disable_parallel)
    if choice.type == "function" and choice.function is not None:
        return ir.ToolChoice(mode="tool", name=choice.function.name, disable_parallel=disable_parallel)
    raise ProtocolError(f"Unsupported tool_choice type '{choice.type}'.", param="tool_choice")


def _tools(body: wire.ChatRequest) -> list[ir.Tool]:
    tools: list[ir.Tool] = []
    for i, tool in enumerate(body.tools or ()):
        if tool.type != "function":
            raise ProtocolError(
                f"Unsupported tool type '{tool.type}'; only 'function' tools can be relayed.",
                param=f"tools[{i}].type",
            )
        fn = tool.function
        if fn.parameters is None:
            tools.append(ir.Tool(name=fn.name, description=fn.description))
        else:
            tools.append(ir.Tool(name=fn.name, description=fn.description, parameters=fn.parameters))
    return tools


def _response_format(fmt: wire.ResponseFormat | None) -> ir.ResponseFormat | None:
    if fmt is None:
        return None
    if fmt.type != "json_schema":
        return ir.ResponseFormat(type=fmt.type)
    schema = fmt.json_schema
    if schema is None:
        raise ProtocolError(
            "Missing required parameter: 'response_format.json_schema'.", param="response_format.json_schema"
        )
    return ir.ResponseFormat(type="json_schema", name=schema.name, schema=schema.schema_, strict=schema.strict)


def _messages(raw: list[wire.Message]) -> tuple[list[ir.TextBlock], list[ir.Message]]:
    system: list[ir.TextBlock] = []
    messages: list[ir.Message] = []
    tool_names: dict[str, str] = {}
    for i, msg in enumerate(raw):
        path = f"messages[{i}]"
        if isinstance(msg, wire.SystemMessage | wire.DeveloperMessage):
            # The IR has one system prompt: system messages anywhere in the list are hoisted.
            system.extend(_system_blocks(msg.content))
        elif isinstance(msg, wire.UserMessage):
            messages.append(ir.Message(role="user", content=list(_content_blocks(msg.content, f"{path}.content"))))
        elif isinstance(msg, wire.AssistantMessage):
            messages.append(ir.Message(role="assistant", content=_assistant_blocks(msg, path, tool_names)))
        else:
            result = ir.ToolResultBlock(
                tool_call_id=msg.tool_call_id,
                name=tool_names.get(msg.tool_call_id),
                content=_content_blocks(msg.content, f"{path}.content"),
            )
            last = messages[-1] if messages else None
            if (
                last is not None
                and last.role == "user"
                and all(isinstance(b, ir.ToolResultBlock) for b in last.content)
            ):
                last.content.append(result)  # parallel results share one user turn
            else:
                messages.append(ir.Message(role="user", content=[result]))
    return system, messages


def parse_request(body: bytes, *, model: str | None = None, stream: bool | None = None) -> ir.Request:
    """Client body -> IR; raises ProtocolError naming the offending field."""
    try:
        req = _request_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"The request body is not valid JSON: {exc}.") from None
    model_name = req.model or model
    if not model_name:
        raise ProtocolError("Missing required parameter: 'model'.", param="model")
    if req.messages is None:
        raise ProtocolError("Missing required parameter: 'messages'.", param="messages")
    if not req.messages:
        raise ProtocolError("'messages' must contain at least one message.", param="messages")
    system, messages = _messages(req.messages)
    is_stream = bool(req.stream) if stream is None else stream
    max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or ())
    thinking = None
    if req.reasoning_effort is not None:
        thinking = ir.Thinking(enabled=req.reasoning_effort != "none", effort=req.reasoning_effort)
    return ir.Request(
        model=model_name,
        messages=messages,
        system=system,
        tools=_tools(req),
        tool_choice=_tool_choice(req),
        max_tokens=max_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        stop=stop,
        stream=is_stream,
        response_format=_response_format(req.response_format),
        thinking=thinking,
        seed=req.seed,
        presence_penalty=req.presence_penalty,
        frequency_penalty=req.frequency_penalty,
        user=req.user,
        include_usage=bool(is_stream and req.stream_options and req.stream_options.include_usage),
    )


# --------------------------------------------------------------------------- emit


def _image_part(block: ir.ImageBlock) -> dict[str, Any]:
    url = block.url if block.url is not None else f"data:{block.media_type or 'image/png'};base64,{block.data}"
    image: dict[str, Any] = {"url": url}
    if block.detail:
        image["detail"] = block.detail
    return {"type": "image_url", "image_url": image}


def _content(blocks: list[ir.TextBlock | ir.ImageBlock]) -> str | list[dict[str, Any]]:
    """Text-only content as one string (DeepSeek and others accept nothing else), parts when
    there are images. ``cache_control`` markers have no OpenAI field and are dropped."""
    if all(isinstance(b, ir.TextBlock) for b in blocks):
        return _TEXT_JOINER.join(b.text for b in blocks if isinstance(b, ir.TextBlock))
    return [{"type": "text", "text": b.text} if isinstance(b, ir.TextBlock) else _image_part(b) for b in blocks]


def _tool_message(block: ir.ToolResultBlock) -> dict[str, Any]:
    # Tool messages carry text only on OpenAI: images in a result are dropped, and is_error has
    # no field (the result text is what tells the model the call failed).
    text = _TEXT_JOINER.join(b.text for b in block.content if isinstance(b, ir.TextBlock))
    return {"role": "tool", "tool_call_id": block.tool_call_id, "content": text}


def _assistant_message(msg: ir.Message) -> dict[str, Any] | None:
    # Thinking is dropped: OpenAI (and Mistral) reject unknown message fields such as
    # reasoning_content, and Anthropic/Gemini signatures mean nothing to these upstreams.
    # Images are dropped too: OpenAI assistant content takes text parts only.
    text: list[ir.TextBlock | ir.ImageBlock] = [b for b in msg.content if isinstance(b, ir.TextBlock)]
    calls = [b for b in msg.content if isinstance(b, ir.ToolCallBlock)]
    if not text and not calls:
        return None
    out: dict[str, Any] = {"role": "assistant"}
    if text:
        out["content"] = _content(text)
    if calls:
        # A Gemini thought signature rides along in extra_content (what Google's OpenAI-compatible
        # endpoint expects back); it is only ever present on history that Gemini produced.
        out["tool_calls"] = [wire.tool_call_object(c.id, c.name, c.arguments, c.signature) for c in calls]
    return out


def _emit_messages(request: ir.Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": _TEXT_JOINER.join(b.text for b in request.system)})
    for msg in request.messages:
        if msg.role == "assistant":
            emitted = _assistant_message(msg)
            if emitted is not None:
                out.append(emitted)
            continue
        # Tool results must directly follow the assistant's tool calls, so they go first.
        out.extend(_tool_message(b) for b in msg.content if isinstance(b, ir.ToolResultBlock))
        rest = [b for b in msg.content if isinstance(b, ir.TextBlock | ir.ImageBlock)]
        if rest:
            out.append({"role": "user", "content": _content(rest)})
    return out


def _emit_tool_choice(choice: ir.ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name or ""}}
    return choice.mode


def _reasoning_effort(thinking: ir.Thinking) -> str | None:
    if thinking.effort:
        return thinking.effort
    if not thinking.enabled or thinking.budget_tokens is None:
        return None  # no explicit ask: let the upstream model use its default
    if thinking.budget_tokens <= 2048:
        return "low"
    return "medium" if thinking.budget_tokens <= 8192 else "high"


def emit_request(request: ir.Request, *, model: str) -> bytes:
    """IR -> upstream body for ``model``. Streams always ask for the usage chunk (billing)."""
    body: dict[str, Any] = {"model": model, "messages": _emit_messages(request)}
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    **({"description": t.description} if t.description is not None else {}),
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
        if request.tool_choice is not None:
            body["tool_choice"] = _emit_tool_choice(request.tool_choice)
            if request.tool_choice.disable_parallel:
                body["parallel_tool_calls"] = False
    if request.max_tokens is not None:
        key = "max_completion_tokens" if _REASONING_MODEL_RE.match(model) else "max_tokens"
        body[key] = request.max_tokens
    for key in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty", "user"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop"] = list(request.stop)
    fmt = request.response_format
    if fmt is not None:
        if fmt.type == "json_schema":
            schema: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema or {}}
            if fmt.strict is not None:
                schema["strict"] = fmt.strict
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        else:
            body["response_format"] = {"type": fmt.type}
    if request.thinking is not None:
        effort = _reasoning_effort(request.thinking)
        if effort is not None:
            body["reasoning_effort"] = effort
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return _encoder.encode(body)
