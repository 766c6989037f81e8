"""What the relay knows about one client request once its protocol layer has parsed it."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.relay.protocols import ir
from app.relay.upstream.endpoints import Operation


@dataclass(slots=True)
class Inbound:
    protocol: str  # the client's protocol: "openai" | "anthropic" | "gemini"
    op: Operation
    body: bytes  # the client's body, byte for byte
    model: str  # the public model name asked for
    stream: bool
    request_id: str
    #: Parsed IR (chat-like operations); None for passthrough-only operations.
    request: ir.Request | None = None
    #: Gemini clients: SSE (``alt=sse``) or Google's JSON-array stream.
    gemini_sse: bool = True
    #: Client headers forwarded to a same-protocol upstream (``anthropic-beta``...).
    forward_headers: dict[str, str] = field(default_factory=dict)
    #: The model name the client sent, when routing resolved ``model`` to another one (alias,
    #: A/B split, ``auto``, a fallback).
    requested_model: str | None = None
    #: Seconds to cache the answer for (opted in by the key or a request header), or None.
    cache_ttl: int | None = None
