"""Where and how to call each channel type: URL and auth headers per operation."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from app.relay.channels import Route

#: What the relay asks an upstream to do.
Operation = Literal["chat", "embeddings", "completions", "responses", "count_tokens"]

ANTHROPIC_VERSION = "2023-06-01"

_OPENAI_PATHS: dict[str, str] = {
    "chat": "/chat/completions", "embeddings": "/embeddings", "completions": "/completions",
    "responses": "/responses",
}


def upstream_url(route: Route, op: Operation, model: str, *, stream: bool) -> str:
    base = route.base_url
    if route.type == "azure":
        if op == "responses":
            return f"{base}/openai/responses?api-version={route.api_version}"
        return f"{base}/openai/deployments/{quote(model, safe='')}{_OPENAI_PATHS[op]}?api-version={route.api_version}"
    if route.protocol == "openai":
        return base + _OPENAI_PATHS[op]
    if route.protocol == "anthropic":
        return base + ("/v1/messages/count_tokens" if op == "count_tokens" else "/v1/messages")
    # gemini: model and streaming are in the URL; streams are always SSE upstream
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base}/v1beta/models/{quote(model, safe='')}:{method}"


def auth_headers(route: Route, key: str, passthrough: dict[str, str] | None = None) -> dict[str, str]:
    """Headers for the upstream. ``passthrough``: client headers worth forwarding unchanged on the
    same protocol (``anthropic-beta``, ``anthropic-version``, ``openai-beta``)."""
    headers = {"content-type": "application/json", "accept-encoding": "identity"}
    if route.type == "azure":
        headers["api-key"] = key
    elif route.protocol == "openai":
        headers["authorization"] = f"Bearer {key}"
    elif route.protocol == "anthropic":
        headers["x-api-key"] = key
        headers["anthropic-version"] = ANTHROPIC_VERSION
    else:
        headers["x-goog-api-key"] = key
    if passthrough:
        headers.update(passthrough)
    return headers
