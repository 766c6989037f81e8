"""Outcomes and a capturing logger for the metrics tests."""

from __future__ import annotations

import io
import itertools
import logging

import msgspec

from app.logs import JsonFormatter, RequestIdFilter
from app.relay.outcome import Outcome
from app.relay.protocols import ir

_loggers = itertools.count()


def outcome(**overrides: object) -> Outcome:
    """A finished, successful, non-streaming OpenAI chat served by channel 1."""
    fields: dict[str, object] = dict(
        request_id="req-test-1", key_id=11, account_id=22, protocol="openai", op="chat", model="gpt-4o-mini",
        stream=False, channel_id=1, upstream_model="gpt-4o-mini-2024-07-18", status=200,
        usage=ir.Usage(input_tokens=120, output_tokens=30, cache_read_tokens=64, reasoning_tokens=5),
        attempts=1, latency_ms=300.0, ttfb_ms=40.0, cost=1500, upstream_cost=1000,
    )
    fields.update(overrides)
    return Outcome(**fields)  # type: ignore[arg-type]


class CapturedLog:
    """A logger of its own, formatted exactly as in production, writing to memory."""

    def __init__(self, level: int = logging.INFO) -> None:
        self.stream = io.StringIO()
        self.logger = logging.getLogger(f"waystation.test_metrics.{next(_loggers)}")
        handler = logging.StreamHandler(self.stream)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestIdFilter())
        self.logger.handlers[:] = [handler]
        self.logger.setLevel(level)
        self.logger.propagate = False

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [msgspec.json.decode(line) for line in self.text.splitlines()]
