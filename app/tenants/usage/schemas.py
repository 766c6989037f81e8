"""A usage event as the relay hands it over (metadata only: never prompt or completion text)."""

from __future__ import annotations

from datetime import datetime

import msgspec


class UsageEventRow(msgspec.Struct, kw_only=True):
    request_id: str
    created_at: datetime
    account_id: int
    key_id: int | None
    #: Account ids root..account.
    chain: list[int]
    protocol: str
    op: str
    model_requested: str
    model_served: str | None = None
    channel_id: int | None = None
    stream: bool = False
    status: int = 200
    error_kind: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: Micro-units per level, root's direct child first.
    costs: list[int] = msgspec.field(default_factory=list)
    upstream_cost: int | None = None
    latency_ms: int = 0
    ttfb_ms: int | None = None
    client_disconnected: bool = False
    cache_hit: bool = False
