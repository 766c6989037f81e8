"""Step 7 of the request path: what happened to a request, as metadata only.

Never holds prompt or completion text. The recorder turns each outcome into metrics and one
structured log line; usage events and ledger entries are written by billing.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from app.relay.metrics import Metrics
from app.relay.protocols import ir

log = logging.getLogger("waystation.relay")

#: Label value for the model of a request that named no model the relay serves (client typos must
#: not become time series).
UNKNOWN_MODEL = "unknown"


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
    #: The relay's response cache answered this request (no upstream call).
    cache_hit: bool = False
    #: The response cache was consulted (the request was cacheable): without a hit, a miss.
    cache_lookup: bool = False
    #: "<channel name>: <what went wrong>" per failed attempt, for the log line.
    failures: list[str] = field(default_factory=list)
    #: (channel id, kind) per failed attempt, for the upstream error counter; see ``fail_attempt``.
    upstream_errors: list[tuple[int, str]] = field(default_factory=list)
    #: Micro-units the root account billed for this request (the first level of the chain), once
    #: priced; None for unpriced requests (the operator's own keys, failures).
    cost: int | None = None
    #: Micro-units the serving channel charges for it, at the operator's channel prices.
    upstream_cost: int | None = None

    @property
    def cache(self) -> str:
        """The response cache's part: "hit", "miss" (looked up, not found) or "none" (not cacheable)."""
        if self.cache_hit:
            return "hit"
        return "miss" if self.cache_lookup else "none"

    def fail_attempt(self, channel_id: int, channel_name: str, kind: str, detail: str) -> None:
        """Note one failed upstream attempt. ``kind`` is a short bounded token for metrics
        (``timeout``, ``connect``, ``overloaded``, an ``ir.ErrorKind``); ``detail`` is for the log and
        must not quote the upstream's error message (it may echo the prompt)."""
        self.failures.append(f"{channel_name}: {detail}")
        self.upstream_errors.append((channel_id, kind))


class Recorder:
    """Turns each request's outcome into metrics and one JSON log line. ``metrics`` defaults to a
    fresh ``Metrics`` (own registry); pass the application's to have ``/metrics`` show it."""

    def __init__(self, metrics: Metrics | None = None, logger: logging.Logger | None = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self.log = logger if logger is not None else log

    def record(self, outcome: Outcome) -> None:
        """Count ``outcome`` and log it. Runs once per request, on the event loop: keep it cheap."""
        o, m = outcome, self.metrics
        # A request that reached no channel because its model does not exist carries whatever the
        # client typed: keep it out of the labels (the log line still has it).
        model = UNKNOWN_MODEL if o.channel_id is None and o.error_kind == "not_found" else o.model
        ttfb = o.ttfb_ms / 1000 if o.ttfb_ms is not None else None
        m.request(o.protocol, o.op, model, o.status, o.channel_id, o.cache, o.stream, o.latency_ms / 1000, ttfb)
        if o.usage is not None or o.cost or o.upstream_cost:
            m.usage(model, o.usage, o.cost, o.upstream_cost)
        for channel_id, kind in o.upstream_errors:
            m.upstream_error(channel_id, kind)
        if self.log.isEnabledFor(logging.INFO):
            self.log.info("request", extra=log_fields(o))


def log_fields(o: Outcome) -> dict[str, object]:
    """The outcome as log fields (top level of the JSON line): metadata only, never text."""
    u = o.usage
    usage = None if u is None else {
        "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
        "cache_read_tokens": u.cache_read_tokens, "cache_write_tokens": u.cache_write_tokens,
        "reasoning_tokens": u.reasoning_tokens,
    }
    return {
        "request_id": o.request_id, "key_id": o.key_id, "account_id": o.account_id,
        "protocol": o.protocol, "op": o.op, "model": o.model, "upstream_model": o.upstream_model,
        "stream": o.stream, "channel_id": o.channel_id, "status": o.status, "error_kind": o.error_kind,
        "usage": usage, "cost": o.cost, "upstream_cost": o.upstream_cost,
        "latency_ms": round(o.latency_ms, 2), "ttfb_ms": round(o.ttfb_ms, 2) if o.ttfb_ms is not None else None,
        "attempts": o.attempts, "cache": o.cache, "client_disconnected": o.client_disconnected,
        "failures": o.failures,
    }
