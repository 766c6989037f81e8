"""Non-streamed OpenAI chat completions <-> IR responses."""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.base import ProtocolError
from app.relay.protocols.openai import wire
from app.relay.protocols.openai.usage import finish_reason, stop_reason, usage_to_ir, usage_to_wire

_completion_decoder = msgspec.json.Decoder(wire.ChatCompletion)
_encoder = msgspec.json.Encoder()


def completion_id(ir_id: str) -> str:
    """An OpenAI-looking id: the IR id when it already is one, else prefixed (or random)."""
    if ir_id.startswith("chatcmpl-"):
        return ir_id
    return "chatcmpl-" + (ir_id or secrets.token_urlsafe(21))


def _text_of(content: str | list[Any] | None) -> str:
    """Message content as text; list content (Mistral's typed chunks) keeps its text chunks."""
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[str] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif isinstance(part, str):
            parts.append(part)
    return "".join(parts)


def _arguments(arguments: str | dict[str, Any] | None) -> str:
    if arguments is None:
        return ""
    return arguments if isinstance(arguments, str) else _encoder.encode(arguments).decode()


def _invalid(detail: str) -> ProtocolError:
    return ProtocolError(f"The upstream returned an invalid chat completion: {detail}", status=502, kind="api_error")


def parse_response(body: bytes) -> ir.Response:
    """Upstream chat completion body -> IR response (choice 0 only)."""
    try:
        completion = _completion_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _invalid(str(exc)) from None
    if completion.error is not None and not completion.choices:
        raise _invalid("the body is an error object")
    content: list[ir.Block] = []
    reason: ir.StopReason | None = None
    if completion.choices:
        choice = completion.choices[0]
        msg = choice.message
        reasoning = msg.reasoning_content or msg.reasoning
        if reasoning:
            content.append(ir.ThinkingBlock(text=reasoning))
        text = _text_of(msg.content)
        if text:
            content.append(ir.TextBlock(text=text))
        if msg.refusal:
            content.append(ir.TextBlock(text=msg.refusal))
        for i, call in enumerate(msg.tool_calls or ()):
            content.append(
                ir.ToolCallBlock(
                    id=call.id or f"call_{i}",
                    name=call.function.name or "",
                    arguments=_arguments(call.function.arguments),
                    signature=wire.thought_signature(call.extra_content),
                )
            )
        reason = stop_reason(choice.finish_reason)
        if msg.refusal and reason == "end_turn":
            reason = "refusal"
    return ir.Response(
        id=completion.id or "",
        model=completion.model or "",
        content=content,
        stop_reason=reason,
        usage=usage_to_ir(completion.usage) if completion.usage is not None else ir.Usage(),
        created=completion.created,
    )


def emit_response(response: ir.Response, *, model: str) -> bytes:
    """IR response -> an OpenAI ``chat.completion`` body; ``model`` is what the client asked for.
    Thinking goes out as ``reasoning_content`` (the DeepSeek convention many clients read)."""
    texts = [b.text for b in response.content if isinstance(b, ir.TextBlock)]
    thinking = [b.text for b in response.content if isinstance(b, ir.ThinkingBlock) and b.text]
    calls = [
        wire.tool_call_object(b.id, b.name, b.arguments, b.signature)
        for b in response.content
        if isinstance(b, ir.ToolCallBlock)
    ]
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if calls:
        message["tool_calls"] = calls
    body = {
        "id": completion_id(response.id),
        "object": "chat.completion",
        "created": response.created if response.created is not None else int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(response.stop_reason),
            }
        ],
        "usage": usage_to_wire(response.usage),
    }
    return _encoder.encode(body)
