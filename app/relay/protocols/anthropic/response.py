"""Anthropic Messages response body <-> IR response.

Content blocks without an IR counterpart (server-tool blocks such as ``server_tool_use`` or
``web_search_tool_result``) are dropped when parsing; images and tool results, which an
Anthropic response cannot carry, are dropped when emitting.
"""

from __future__ import annotations

import uuid
from typing import Any, get_args

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.anthropic.usage import from_ir, to_ir, usage_from_dict
from app.relay.protocols.base import ProtocolError

_IR_STOP_REASONS: frozenset[str] = frozenset(get_args(ir.StopReason))
#: Stop reasons Anthropic's Message schema accepts.
_WIRE_STOP_REASONS = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
)


def stop_reason_to_ir(value: Any) -> ir.StopReason | None:
    """Wire stop_reason -> IR (unknown future values become end_turn)."""
    if value is None:
        return None
    if value in _IR_STOP_REASONS:
        return value  # type: ignore[no-any-return]
    if value == "model_context_window_exceeded":
        return "max_tokens"
    return "end_turn"


def stop_reason_to_wire(value: ir.StopReason | None) -> str | None:
    if value is None or value in _WIRE_STOP_REASONS:
        return value
    if value == "content_filter":
        return "refusal"
    return "end_turn"


def message_id(ir_id: str) -> str:
    """An Anthropic-looking id: the IR id when it already is one, else ``msg_`` + it."""
    if ir_id.startswith("msg_"):
        return ir_id
    return "msg_" + (ir_id or uuid.uuid4().hex)


def _upstream_error(message: str) -> ProtocolError:
    return ProtocolError(f"malformed Anthropic response: {message}", status=502, kind="api_error")


def _block(raw: Any) -> ir.Block | None:
    if not isinstance(raw, dict):
        raise _upstream_error("content block is not an object")
    btype = raw.get("type")
    if btype == "text":
        return ir.TextBlock(text=str(raw.get("text") or ""))
    if btype == "thinking":
        return ir.ThinkingBlock(text=str(raw.get("thinking") or ""), signature=raw.get("signature") or None)
    if btype == "redacted_thinking":
        return ir.ThinkingBlock(redacted_data=str(raw.get("data") or ""))
    if btype == "tool_use":
        args = raw.get("input")
        return ir.ToolCallBlock(id=str(raw.get("id") or ""), name=str(raw.get("name") or ""),
                                arguments=msgspec.json.encode(args if args is not None else {}).decode())
    return None


def parse_response(body: bytes) -> ir.Response:
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise _upstream_error("body is not JSON") from None
    if not isinstance(data, dict):
        raise _upstream_error("body is not an object")
    content = data.get("content")
    if not isinstance(content, list):
        raise _upstream_error("'content' is missing")
    blocks = [b for b in (_block(raw) for raw in content) if b is not None]
    wire_usage = usage_from_dict(data.get("usage"))
    stop_sequence = data.get("stop_sequence")
    return ir.Response(
        id=str(data.get("id") or ""),
        model=str(data.get("model") or ""),
        content=blocks,
        stop_reason=stop_reason_to_ir(data.get("stop_reason")),
        stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
        usage=to_ir(wire_usage) if wire_usage is not None else ir.Usage(),
    )


def tool_input(arguments: str) -> dict[str, Any]:
    """IR arguments JSON text -> the object Anthropic expects ({} when empty or not an object)."""
    if not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def block_to_wire(block: ir.Block) -> dict[str, Any] | None:
    """An IR block of a response -> Anthropic response content block (None: no counterpart)."""
    if isinstance(block, ir.TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ir.ThinkingBlock):
        if block.redacted_data is not None:
            return {"type": "redacted_thinking", "data": block.redacted_data}
        return {"type": "thinking", "thinking": block.text, "signature": block.signature or ""}
    if isinstance(block, ir.ToolCallBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": tool_input(block.arguments)}
    return None


def emit_response(response: ir.Response, *, model: str) -> bytes:
    content = [w for w in (block_to_wire(b) for b in response.content) if w is not None]
    body = {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason_to_wire(response.stop_reason) or "end_turn",
        "stop_sequence": response.stop_sequence,
        "usage": from_ir(response.usage),
    }
    return msgspec.json.encode(body)
