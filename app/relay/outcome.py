"""Step 7 of the request path: what happened to a request, as metadata only.

Never holds prompt or completion text. Issue [2] turns outcomes into usage events and ledger
entries; until then the recorder writes one structured log line per request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import msgspec

from app.relay.protocols import ir

log = logging.getLogger("waystation.relay")


@dataclass(slots=True)
class Outcome:
    request_id: str
    key_id: int
    account_id: int
    protocol: str
    op: str
    model: str
    stream: bool
    channel_id: int | None = None
    upstream_model: str | None = None
    status: int = 200
    usage: ir.Usage | None = None
    error_kind: str | None = None
    attempts: int = 0
    latency_ms: float = 0.0
    ttfb_ms: float | None = None
    client_disconnected: bool = False
    failures: list[str] = field(default_factory=list)


class Recorder:
    def record(self, outcome: Outcome) -> None:
        usage = msgspec.to_builtins(outcome.usage) if outcome.usage else None
        log.info("request", extra={"outcome": {
            "request_id": outcome.request_id, "key_id": outcome.key_id, "account_id": outcome.account_id,
            "protocol": outcome.protocol, "op": outcome.op, "model": outcome.model, "stream": outcome.stream,
            "channel_id": outcome.channel_id, "status": outcome.status, "usage": usage,
            "error_kind": outcome.error_kind, "attempts": outcome.attempts,
            "latency_ms": round(outcome.latency_ms, 2), "ttfb_ms": outcome.ttfb_ms,
            "client_disconnected": outcome.client_disconnected, "failures": outcome.failures,
        }})
