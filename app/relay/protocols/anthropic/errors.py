"""Anthropic error bodies <-> IR errors.

Anthropic's shape is ``{"type": "error", "error": {"type": "...", "message": "..."}}``. Each error
``type`` has one HTTP status; the Anthropic SDK picks its exception class from the status alone.

``insufficient_quota`` is emitted as **402 billing_error** (the documented Anthropic type for
billing problems): the SDK raises ``PaymentRequiredError`` for it (older SDKs a plain
``APIStatusError``), it is not retried, and the kind survives a parse/emit round trip. Anthropic
itself also answers a low balance with 400 invalid_request_error "Your credit balance is too
low..."; ``parse_error`` recognises that message and reports ``insufficient_quota`` too.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.base import kind_for_status
from app.relay.protocols.sse import encode_event

#: Anthropic error type -> (IR kind, canonical HTTP status).
TYPE_TO_KIND: dict[str, tuple[ir.ErrorKind, int]] = {
    "invalid_request_error": ("invalid_request", 400),
    "authentication_error": ("authentication", 401),
    "billing_error": ("insufficient_quota", 402),
    "permission_error": ("permission", 403),
    "not_found_error": ("not_found", 404),
    "request_too_large": ("request_too_large", 413),
    "rate_limit_error": ("rate_limit", 429),
    "api_error": ("api_error", 500),
    "timeout_error": ("timeout", 504),
    "overloaded_error": ("overloaded", 529),
}

#: IR kind -> (HTTP status, Anthropic error type) used when emitting.
KIND_TO_WIRE: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "invalid_request_error"),
    "authentication": (401, "authentication_error"),
    "insufficient_quota": (402, "billing_error"),
    "permission": (403, "permission_error"),
    "not_found": (404, "not_found_error"),
    "request_too_large": (413, "request_too_large"),
    "rate_limit": (429, "rate_limit_error"),
    "api_error": (500, "api_error"),
    "timeout": (504, "timeout_error"),
    "overloaded": (529, "overloaded_error"),
}

_LOW_CREDIT_MARKERS = ("credit balance is too low", "insufficient credit", "purchase credits")
_MAX_RAW_MESSAGE = 500


def error_from_object(status: int | None, err: dict[str, Any]) -> ir.Error:
    """An ``error`` object (``{"type", "message", ...}``) -> IR error. ``status`` None (in-stream
    errors, sent with HTTP 200) takes the error type's canonical status."""
    etype = err.get("type")
    mapped = TYPE_TO_KIND.get(etype) if isinstance(etype, str) else None
    if status is None:
        status = mapped[1] if mapped else 500
    message = err.get("message")
    if not isinstance(message, str) or not message:
        message = etype if isinstance(etype, str) and etype else f"HTTP {status}"
    kind: ir.ErrorKind = mapped[0] if mapped else kind_for_status(status)
    if kind == "invalid_request" and any(m in message.lower() for m in _LOW_CREDIT_MARKERS):
        kind = "insufficient_quota"
    code: str | None = None
    details = err.get("details")
    if isinstance(details, dict) and isinstance(details.get("error_code"), str):
        code = details["error_code"]
    elif isinstance(err.get("code"), str):
        code = err["code"]
    param = err.get("param") if isinstance(err.get("param"), str) else None
    return ir.Error(kind=kind, message=message, status=status, code=code, param=param)


def parse_error(status: int, body: bytes) -> ir.Error:
    """Upstream error body of any shape (Anthropic, OpenAI-like, plain text) -> IR error."""
    try:
        data: Any = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return error_from_object(status, err)
        if isinstance(err, str) and err:
            return error_from_object(status, {"message": err})
        if isinstance(data.get("message"), str):
            return error_from_object(status, data)
    text = body.decode("utf-8", "replace").strip()
    message = text[:_MAX_RAW_MESSAGE] if text else f"HTTP {status}"
    return ir.Error(kind=kind_for_status(status), message=message, status=status)


def error_body(error: ir.Error) -> tuple[int, dict[str, Any]]:
    status, etype = KIND_TO_WIRE.get(error.kind, (500, "api_error"))
    return status, {"type": "error", "error": {"type": etype, "message": error.message}}


def emit_error(error: ir.Error) -> tuple[int, bytes]:
    status, body = error_body(error)
    return status, msgspec.json.encode(body)


def emit_stream_error(error: ir.Error) -> bytes:
    _, body = error_body(error)
    return encode_event(msgspec.json.encode(body), "error")
