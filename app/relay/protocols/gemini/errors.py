"""Google API errors <-> IR errors.

Google's shape is ``{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT",
"details": [...]}}``; stream endpoints without ``alt=sse`` wrap it in a one-element array. An
invalid API key is answered with 400 INVALID_ARGUMENT and an ErrorInfo detail whose reason is
``API_KEY_INVALID``: that is an authentication error, whatever the status says.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.gemini.wire import encode

_STATUS_KIND: dict[str, ir.ErrorKind] = {
    "INVALID_ARGUMENT": "invalid_request",
    "FAILED_PRECONDITION": "invalid_request",
    "OUT_OF_RANGE": "invalid_request",
    "ALREADY_EXISTS": "invalid_request",
    "UNIMPLEMENTED": "invalid_request",
    "UNAUTHENTICATED": "authentication",
    "PERMISSION_DENIED": "permission",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limit",
    "INTERNAL": "api_error",
    "UNKNOWN": "api_error",
    "ABORTED": "api_error",
    "CANCELLED": "api_error",
    "DATA_LOSS": "api_error",
    "UNAVAILABLE": "overloaded",
    "DEADLINE_EXCEEDED": "timeout",
}

#: ErrorInfo reasons that say more than the status code does.
_REASON_KIND: dict[str, ir.ErrorKind] = {
    "API_KEY_INVALID": "authentication",
    "API_KEY_EXPIRED": "authentication",
    "ACCESS_TOKEN_EXPIRED": "authentication",
    "CREDENTIALS_MISSING": "authentication",
    "API_KEY_SERVICE_BLOCKED": "permission",
}

#: IR kind -> (HTTP status, Google status string) when emitting.
_KIND_WIRE: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "INVALID_ARGUMENT"),
    "authentication": (401, "UNAUTHENTICATED"),
    "permission": (403, "PERMISSION_DENIED"),
    "not_found": (404, "NOT_FOUND"),
    "request_too_large": (413, "INVALID_ARGUMENT"),
    "rate_limit": (429, "RESOURCE_EXHAUSTED"),
    "insufficient_quota": (429, "RESOURCE_EXHAUSTED"),
    "api_error": (500, "INTERNAL"),
    "overloaded": (503, "UNAVAILABLE"),
    "timeout": (504, "DEADLINE_EXCEEDED"),
}

_CANONICAL_STATUS = {kind: wire[0] for kind, wire in _KIND_WIRE.items()}


_HTTP_KIND: dict[int, ir.ErrorKind] = {
    401: "authentication", 403: "permission", 404: "not_found", 413: "request_too_large",
    429: "rate_limit", 503: "overloaded", 529: "overloaded", 504: "timeout",
}


def kind_from_http(status: int) -> ir.ErrorKind:
    if status in _HTTP_KIND:
        return _HTTP_KIND[status]
    return "api_error" if status >= 500 else "invalid_request"


def _phrase(http: int) -> str:
    try:
        return HTTPStatus(http).phrase
    except ValueError:
        return "upstream error"


def error_from_object(obj: dict[str, Any], status: int) -> ir.Error:
    """The inner ``error`` object -> IR error; ``status`` is the HTTP status (0 or 200 in-stream)."""
    code = obj.get("code")
    http = status if status >= 400 else (code if isinstance(code, int) and code >= 400 else 500)
    message = obj.get("message")
    if not isinstance(message, str) or not message:
        message = _phrase(http)
    google_status = obj.get("status") if isinstance(obj.get("status"), str) else None
    reason: str | None = None
    param: str | None = None
    details = obj.get("details")
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        kind_url = str(detail.get("@type", ""))
        if kind_url.endswith("google.rpc.ErrorInfo") and isinstance(detail.get("reason"), str):
            reason = reason or detail["reason"]
        elif kind_url.endswith("google.rpc.BadRequest"):
            violations = detail.get("fieldViolations")
            for violation in violations if isinstance(violations, list) else ():
                if isinstance(violation, dict) and isinstance(violation.get("field"), str):
                    param = param or violation["field"]
    kind: ir.ErrorKind
    if reason is not None and reason in _REASON_KIND:
        kind = _REASON_KIND[reason]
        http = _CANONICAL_STATUS[kind]
    elif google_status is not None and google_status in _STATUS_KIND:
        kind = _STATUS_KIND[google_status]
    else:
        kind = kind_from_http(http)
    return ir.Error(kind=kind, message=message, status=http, code=reason or google_status, param=param)


def parse_error(status: int, body: bytes) -> ir.Error:
    """Any upstream error body (Google JSON, a one-element array of it, or anything) -> IR."""
    try:
        data: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        data = None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return error_from_object(data["error"], status)
    http = status if status >= 400 else 500
    text = body.decode("utf-8", "replace").strip()[:1000]
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        text = data["message"]
    if not text:
        text = _phrase(http)
    return ir.Error(kind=kind_from_http(http), message=text, status=http)


def error_object(error: ir.Error) -> tuple[int, dict[str, Any]]:
    """IR error -> (HTTP status, Google ``{"error": {...}}`` object)."""
    http, google_status = _KIND_WIRE.get(error.kind, (500, "INTERNAL"))
    if error.kind == "api_error" and error.status >= 500:
        http = error.status
        google_status = "UNAVAILABLE" if http in (502, 503) else "INTERNAL"
    inner: dict[str, Any] = {"code": http, "message": error.message, "status": google_status}
    details: list[dict[str, Any]] = []
    if error.code and error.code != google_status:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": error.code,
                        "domain": "waystation"})
    if error.param:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": error.param, "description": error.message}]})
    if details:
        inner["details"] = details
    return http, {"error": inner}


def emit_error(error: ir.Error) -> tuple[int, bytes]:
    http, obj = error_object(error)
    return http, encode(obj)


def emit_stream_error(error: ir.Error) -> bytes:
    """The error chunk in SSE framing (``data: {"error": ...}`` + CRLF CRLF, as Google frames)."""
    _, obj = error_object(error)
    return b"data: " + encode(obj) + b"\r\n\r\n"
