"""Realistic error bodies of each provider (shapes and messages as the real APIs send them)."""

from __future__ import annotations

import json
from typing import Any

from ._common import JSON_CT, Plan, dumps, make_id

# --------------------------------------------------------------------------- OpenAI

_OPENAI: dict[int, tuple[str, str, str | None]] = {
    # status: (message, type, code)
    400: ("Invalid request.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("Country, region, or territory not supported", "request_forbidden", "unsupported_country_region_territory"),
    404: (
        "The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    408: ("Request timed out.", "timeout", None),
    413: ("Request too large.", "invalid_request_error", "request_too_large"),
    429: (
        "Rate limit reached for {model} in organization org-fake on requests per min (RPM): Limit 3, Used 3, "
        "Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
}

OPENAI_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
    "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (i.e. Authorization: Basic YOUR_KEY) "
    "if you're accessing the API from your browser and are prompted for a username and password. You can "
    "obtain an API key from https://platform.openai.com/account/api-keys."
)


def _mask_key(key: str) -> str:
    if len(key) <= 8:
        return key[:2] + "*" * max(0, len(key) - 2)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def openai_error(status: int, *, model: str = "gpt-4o-mini", key: str = "") -> dict[str, Any]:
    if status == 502:  # what OpenAI's Cloudflare front answers
        return {"error": {"code": 502, "message": "Bad gateway.", "param": None, "type": "cf_bad_gateway"}}
    if status in _OPENAI:
        message, type_, code = _OPENAI[status]
    elif status >= 500:
        message, type_, code = _OPENAI[500]
    else:
        message, type_, code = _OPENAI[400]
    message = message.format(model=model, key=_mask_key(key))
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def openai_auth_error(key: str | None) -> dict[str, Any]:
    if not key:
        return {"error": {"message": OPENAI_MISSING_KEY, "type": "invalid_request_error", "param": None, "code": None}}
    return openai_error(401, key=key)


AZURE_AUTH_ERROR = {
    "error": {
        "code": "401",
        "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
        "valid key for an active subscription and use a correct regional API endpoint for your resource.",
    }
}
AZURE_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}

# --------------------------------------------------------------------------- Anthropic

_ANTHROPIC: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. "
        "For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    ),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def anthropic_error(status: int, *, model: str = "claude-sonnet-4-5", message: str | None = None) -> dict[str, Any]:
    if status in _ANTHROPIC:
        type_, default = _ANTHROPIC[status]
    elif status >= 500:
        type_, default = _ANTHROPIC[500]
    else:
        type_, default = _ANTHROPIC[400]
    text = message if message is not None else default.format(model=model)
    return {
        "type": "error",
        "error": {"type": type_, "message": text},
        "request_id": "req_011C" + make_id(f"err:{status}:{text}", 20),
    }


def anthropic_auth_error(key: str | None) -> dict[str, Any]:
    return anthropic_error(401, message="invalid x-api-key" if key else "x-api-key header is required")


# --------------------------------------------------------------------------- Gemini

_GEMINI: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential.",
    ),
    403: (
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
        "or other form of API consumer identity to call this API.",
    ),
    404: (
        "NOT_FOUND",
        "models/{model} is not found for API version v1beta, or is not supported for generateContent. "
        "Call ModelService.ListModels to see the list of available models and their supported methods.",
    ),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}

GEMINI_API_KEY_INVALID: dict[str, Any] = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": "API key not valid. Please pass a valid API key.",
            },
        ],
    }
}


def gemini_error(status: int, *, model: str = "gemini-2.0-flash") -> dict[str, Any]:
    if status in _GEMINI:
        code_name, message = _GEMINI[status]
    elif status >= 500:
        code_name, message = _GEMINI[500]
    else:
        code_name, message = _GEMINI[400]
    return {"error": {"code": status, "message": message.format(model=model), "status": code_name}}


def gemini_body(obj: Any) -> bytes:
    """Google's JSON formatting: 2-space indented, trailing newline."""
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()


# --------------------------------------------------------------------------- dispatch


def error_plan(
    kind: str,
    status: int,
    *,
    model: str = "",
    key: str = "",
    body: Any = None,
    content_type: str | None = None,
    azure: bool = False,
    sse_endpoint: bool = False,
) -> Plan:
    """The error response a provider of ``kind`` would send for ``status`` (``body`` overrides it)."""
    if body is None:
        if kind == "openai":
            if azure and status == 401:
                body = AZURE_AUTH_ERROR
            else:
                body = openai_error(status, model=model or "gpt-4o-mini", key=key)
        elif kind == "anthropic":
            body = anthropic_error(status, model=model or "claude-sonnet-4-5")
        else:
            body = gemini_error(status, model=model or "gemini-2.0-flash")
    if isinstance(body, str):
        raw = body.encode()
    elif isinstance(body, bytes):
        raw = body
    elif kind == "gemini":
        raw = gemini_body(body)
    else:
        raw = dumps(body)
    if content_type is None:
        if kind == "gemini":
            # Recorded: Gemini answers errors on ``?alt=sse`` with a plain JSON body labelled text/event-stream.
            content_type = "text/event-stream" if sse_endpoint else "application/json; charset=UTF-8"
        else:
            content_type = JSON_CT
    return Plan(status=status, content_type=content_type, chunks=[raw])
