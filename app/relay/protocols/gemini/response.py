"""Gemini ``GenerateContentResponse`` (whole body) <-> IR response, and fast usage extraction.

Only ``candidates[0]`` is relayed. A prompt blocked by ``promptFeedback.blockReason`` has no
candidates: it becomes an empty ``content_filter`` response.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.base import ProtocolError
from app.relay.protocols.gemini.parts import PartReader, write_parts
from app.relay.protocols.gemini.usage import (
    chunk_decoder,
    chunks_decoder,
    finish_from_stop,
    stop_from_finish,
    to_ir,
    usage_from_object,
    usage_to_object,
)
from app.relay.protocols.gemini.wire import decode, encode, field, new_call_id


def parse_response(body: bytes) -> ir.Response:
    try:
        data = decode(body, "response body")
        if not isinstance(data, dict):
            raise ProtocolError("response body must be a JSON object")
        return response_from_object(data)
    except ProtocolError as exc:
        raise ProtocolError(f"malformed Gemini response: {exc}", param=exc.error.param,
                            status=502, kind="api_error") from None


def response_from_object(data: dict[str, Any]) -> ir.Response:
    content: list[ir.Block] = []
    stop: ir.StopReason | None = None
    candidates = data.get("candidates")
    candidate = candidates[0] if isinstance(candidates, list) and candidates else None
    if isinstance(candidate, dict):
        body = candidate.get("content")
        if isinstance(body, dict) and body.get("parts") is not None:
            reader = PartReader(lambda used: new_call_id())
            content = reader.read(body["parts"], "candidates[0].content.parts")
        has_calls = any(isinstance(b, ir.ToolCallBlock) for b in content)
        stop = stop_from_finish(field(candidate, "finishReason"), has_calls)
    feedback = field(data, "promptFeedback")
    if isinstance(feedback, dict) and field(feedback, "blockReason") and candidate is None:
        stop = "content_filter"
    usage = usage_from_object(field(data, "usageMetadata")) or ir.Usage()
    response_id = field(data, "responseId")
    model = field(data, "modelVersion")
    return ir.Response(
        id=response_id if isinstance(response_id, str) and response_id else "gen-" + new_call_id()[5:],
        model=model if isinstance(model, str) else "",
        content=content,
        stop_reason=stop,
        usage=usage,
        created=_created(field(data, "createTime")),
    )


def _created(value: Any) -> int | None:
    """Vertex's ``createTime`` (RFC 3339) -> unix seconds; the Gemini API does not send it."""
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value[:26].rstrip("Z") + "+00:00").timestamp())
    except ValueError:
        return None


def emit_response(response: ir.Response, *, model: str) -> bytes:
    return encode(response_object(response, model=model))


def response_object(response: ir.Response, *, model: str) -> dict[str, Any]:
    candidate: dict[str, Any] = {}
    parts = write_parts([b for b in response.content if not isinstance(b, ir.ToolResultBlock)])
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    candidate["finishReason"] = finish_from_stop(response.stop_reason)
    candidate["index"] = 0
    return {
        "candidates": [candidate],
        "usageMetadata": usage_to_object(response.usage),
        "modelVersion": model,
        "responseId": response.id,
    }


def parse_usage(body: bytes) -> ir.Usage | None:
    """Usage of a whole body without building it: a response object or a JSON-array stream."""
    try:
        if body.lstrip()[:1] == b"[":
            metas = [c.usage_metadata for c in chunks_decoder.decode(body) if c.usage_metadata]
            return to_ir(metas[-1]) if metas else None
        meta = chunk_decoder.decode(body).usage_metadata
    except msgspec.MsgspecError:
        return None
    return to_ir(meta) if meta is not None else None
