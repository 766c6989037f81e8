"""One JSON log line per request: every metadata field, the request id on every line of the request,
and never a word of the prompt or the completion."""

from __future__ import annotations

import asyncio
import logging
import re

from app import logs
from app.relay import tokens
from app.relay.metrics import Metrics
from app.relay.outcome import Recorder
from app.relay.protocols import ir
from tests.metrics.support import CapturedLog, outcome

PROMPT = "Summarise the quarterly report of Zanzibar Kumquat Holdings for the board"
COMPLETION = "Zanzibar Kumquat Holdings grew revenue by forty-two percent, driven by Marmalade exports"

FIELDS = {"request_id", "key_id", "account_id", "protocol", "op", "model", "upstream_model", "stream",
          "channel_id", "status", "error_kind", "usage", "cost", "upstream_cost", "latency_ms", "ttfb_ms",
          "attempts", "cache", "client_disconnected", "failures"}


def test_one_line_per_request_with_every_field() -> None:
    captured = CapturedLog()
    recorder = Recorder(Metrics(), logger=captured.logger)
    recorder.record(outcome(request_id="client-given-id.42", ttfb_ms=40.1234))
    [line] = captured.lines()
    assert FIELDS <= set(line)
    assert line["msg"] == "request" and line["level"] == "INFO" and line["logger"].startswith("waystation.")
    assert line["request_id"] == "client-given-id.42"
    assert (line["key_id"], line["account_id"], line["channel_id"], line["status"]) == (11, 22, 1, 200)
    assert line["usage"] == {"input_tokens": 120, "output_tokens": 30, "cache_read_tokens": 64,
                             "cache_write_tokens": 0, "reasoning_tokens": 5}
    assert (line["latency_ms"], line["ttfb_ms"], line["attempts"], line["cache"]) == (300.0, 40.12, 1, "none")
    assert (line["cost"], line["upstream_cost"]) == (1500, 1000)


def test_log_line_holds_no_prompt_or_completion_text() -> None:
    captured = CapturedLog()
    recorder = Recorder(Metrics(), logger=captured.logger)
    # What the relay knows after a real exchange: counts derived from the texts, never the texts.
    usage = ir.Usage(input_tokens=tokens.count_text(PROMPT), output_tokens=tokens.count_text(COMPLETION))
    o = outcome(model="claude-sonnet-4", protocol="anthropic", usage=usage, status=502, error_kind="api_error")
    o.fail_attempt(1, "anthropic-main", "overloaded", "overloaded")
    recorder.record(o)
    text = captured.text + recorder.metrics.exposition().decode()
    assert captured.lines()[0]["usage"]["output_tokens"] == usage.output_tokens > 0
    words = {w.lower() for w in re.findall(r"[A-Za-z]{5,}", PROMPT + " " + COMPLETION)}
    leaked = {w for w in words if w in text.lower()}
    assert not leaked, f"prompt/completion words in the log or metrics: {leaked}"


def test_quiet_logger_still_counts() -> None:
    captured = CapturedLog(level=logging.WARNING)
    recorder = Recorder(Metrics(), logger=captured.logger)
    recorder.record(outcome())
    assert captured.text == ""
    assert b'waystation_requests_total{cache="none"' in recorder.metrics.exposition()


async def test_other_lines_of_the_request_carry_its_id_including_tasks_it_starts() -> None:
    captured = CapturedLog()
    other = captured.logger.getChild("pump")  # a child logger, like waystation.relay.* under waystation

    async def background() -> None:
        await asyncio.sleep(0)
        other.info("stream settled")

    async def handle_request(rid: str) -> asyncio.Task[None]:
        logs.bind_request_id(rid)
        other.info("routing")
        other.info("explicit wins", extra={"request_id": "explicit"})
        return asyncio.create_task(background())

    async def unrelated() -> None:
        other.info("between requests")

    tasks = [await asyncio.create_task(handle_request("req-A")), await asyncio.create_task(handle_request("req-B"))]
    await asyncio.gather(*tasks, asyncio.create_task(unrelated()))
    by_msg: dict[str, list[str | None]] = {}
    for line in captured.lines():
        by_msg.setdefault(line["msg"], []).append(line.get("request_id"))
    assert by_msg["routing"] == ["req-A", "req-B"]
    assert by_msg["explicit wins"] == ["explicit", "explicit"]
    assert sorted(by_msg["stream settled"]) == ["req-A", "req-B"]
    assert by_msg["between requests"] == [None]
    assert logs.current_request_id() is None  # the test's own task never saw a binding


def test_configure_installs_the_request_id_filter() -> None:
    root = logging.getLogger("waystation")
    saved = (root.handlers[:], root.level, root.propagate)
    try:
        logs.configure("INFO")
        [handler] = root.handlers
        assert any(isinstance(f, logs.RequestIdFilter) for f in handler.filters)
        assert isinstance(handler.formatter, logs.JsonFormatter)
    finally:
        root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]
