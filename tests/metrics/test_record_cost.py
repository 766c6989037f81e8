"""Micro-benchmark of Recorder.record: printed, not asserted (it runs once per request)."""

from __future__ import annotations

import io
import logging
import time

import pytest

from app.logs import JsonFormatter
from app.relay.metrics import Metrics
from app.relay.outcome import Recorder
from tests.metrics.support import CapturedLog, outcome

CALLS = 20_000


def _per_call_us(recorder: Recorder) -> float:
    outcomes = [outcome(channel_id=1 + i % 4, model=f"model-{i % 8}", stream=bool(i % 2)) for i in range(64)]
    for o in outcomes:  # first sight of each label set creates its children; measure the steady state
        recorder.record(o)
    start = time.perf_counter()
    for i in range(CALLS):
        recorder.record(outcomes[i & 63])
    return (time.perf_counter() - start) / CALLS * 1e6


def test_record_cost_per_call(capsys: pytest.CaptureFixture[str]) -> None:
    quiet = Recorder(Metrics(), logger=CapturedLog(level=logging.WARNING).logger)
    logged = CapturedLog()
    logged.logger.handlers[0].setStream(io.StringIO())  # type: ignore[attr-defined]
    logged.logger.handlers[0].setFormatter(JsonFormatter())
    loud = Recorder(Metrics(), logger=logged.logger)
    metrics_only, with_log = _per_call_us(quiet), _per_call_us(loud)
    with capsys.disabled():
        print(f"\nRecorder.record: {metrics_only:.1f} us/call metrics only, {with_log:.1f} us/call with the JSON "
              f"log line ({CALLS} calls)")
