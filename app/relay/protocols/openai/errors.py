"""OpenAI error bodies: reading any upstream error, writing OpenAI-shaped ones for clients."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.base import ProtocolError, kind_for_status

# kind -> (default status, OpenAI ``type``, default ``code``)
_KIND_WIRE: dict[str, tuple[int, str, str | None]] = {
    "invalid_request": (400, "invalid_request_error", None),
    "authentication": (401, "authentication_error", "invalid_api_key"),
    "permission": (403, "permission_error", None),
    "not_found": (404, "not_found_error", "model_not_found"),
    "request_too_large": (413, "invalid_request_error", "request_too_large"),
    "rate_limit": (429, "rate_limit_exceeded", "rate_limit_exceeded"),
    "insufficient_quota": (429, "insufficient_quota", "insufficient_quota"),
    "api_error": (500, "server_error", None),
    "overloaded": (503, "service_unavailable", None),
    "timeout": (504, "server_error", "timeout"),
}

_MAX_TEXT_MESSAGE = 500
_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")
_AT_PATH_RE = re.compile(r"^(?P<head>.*?) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_MISSING_RE = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")

_encoder = msgspec.json.Encoder()


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _plain_text(body: bytes) -> str:
    """A readable message out of a non-JSON body (HTML error pages, proxies' plain text)."""
    text = body.decode("utf-8", "replace")
    text = _SPACE_RE.sub(" ", _TAG_RE.sub(" ", text)).strip()
    return text[:_MAX_TEXT_MESSAGE]


def _find_error_object(data: Any) -> tuple[Any, dict[str, Any] | None]:
    """Locate the error in the shapes providers use; returns (message-ish, details dict)."""
    if isinstance(data, list) and data:  # Gemini's JSON-array stream endpoint wraps errors
        data = data[0]
    if not isinstance(data, dict):
        return None, None
    err = data.get("error")
    if isinstance(err, dict):  # OpenAI, Anthropic ({"type": "error", "error": {...}}), Gemini
        return err.get("message"), err
    if isinstance(err, str):  # {"error": "text"} (Ollama, some proxies)
        return err, data
    if "message" in data:  # vLLM {"object": "error", "message": ..., "type": ..., "code": 400}
        return data.get("message"), data
    if "detail" in data:  # FastAPI-style servers
        detail = data["detail"]
        return detail if isinstance(detail, str) else _encoder.encode(detail).decode(), data
    return None, data


def parse_error(status: int, body: bytes) -> ir.Error:
    """Upstream error body of any shape (OpenAI, Anthropic, Gemini, HTML, text) -> IR error."""
    message: Any = None
    details: dict[str, Any] | None = None
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        message = _plain_text(body)
    else:
        message, details = _find_error_object(data)
    details = details or {}
    code = _str_or_none(details.get("code"))
    err_type = _str_or_none(details.get("type"))
    kind = kind_for_status(status)
    if "insufficient_quota" in (code, err_type):
        kind = "insufficient_quota"
    if not isinstance(message, str) or not message:
        message = f"Upstream returned HTTP {status}"
    return ir.Error(kind=kind, message=message, status=status, code=code, param=_str_or_none(details.get("param")))


def _status_for(error: ir.Error) -> int:
    default = _KIND_WIRE[error.kind][0]
    status = error.status
    if error.kind == "invalid_request" and 400 <= status < 500 and status not in (401, 403, 404, 429):
        return status  # keeps 422 and friends
    if error.kind == "api_error" and 500 <= status < 600 and status not in (503, 504, 529):
        return status  # keeps 502
    return default


def error_object(error: ir.Error) -> dict[str, Any]:
    """The inner ``{"message", "type", "param", "code"}`` object OpenAI sends."""
    _, err_type, default_code = _KIND_WIRE[error.kind]
    return {
        "message": error.message,
        "type": err_type,
        "param": error.param,
        "code": error.code or default_code,
    }


def emit_error(error: ir.Error) -> tuple[int, bytes]:
    """IR error -> (HTTP status, OpenAI error body) that the openai SDK maps to its exception."""
    return _status_for(error), _encoder.encode({"error": error_object(error)})


def emit_stream_error(error: ir.Error) -> bytes:
    """The in-stream error event OpenAI sends (the SDK raises APIError on it)."""
    return b"data: " + _encoder.encode({"error": error_object(error)}) + b"\n\n"


def validation_error(exc: msgspec.ValidationError) -> ProtocolError:
    """msgspec's ``... - at `$.messages[2].content``` -> ProtocolError(param="messages[2].content")."""
    text = str(exc)
    match = _AT_PATH_RE.match(text)
    head, path = (match["head"], match["path"].lstrip(".")) if match else (text, "")
    missing = _MISSING_RE.match(head)
    if missing:
        param = f"{path}.{missing['field']}" if path else missing["field"]
        return ProtocolError(f"Missing required parameter: '{param}'.", param=param)
    if not path:
        return ProtocolError(f"Invalid request body: {head}.", param=None)
    return ProtocolError(f"Invalid value for '{path}': {head}.", param=path)
