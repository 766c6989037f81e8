"""Scripted behaviours of a fake provider, and replay of the recorded provider responses.

A behaviour is consumed by one request. Wrappers (Stall, StallAfterHeaders, Slow, BreakMidStream) modify
how a response is delivered; by default they deliver the synthesised answer, or the response of the
behaviour given as ``then`` (e.g. ``Stall(2, then=Fail(500))``, ``BreakMidStream(3, then=Replay(...))``).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ._common import JSON_CT, SSE_CT, Plan, loads


def _default_fixtures_dir() -> Path:
    env = os.environ.get("WAYSTATION_RECORDED_FIXTURES")
    if env:
        return Path(env)
    local = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
    if (local / "SOURCES.tsv").exists():
        return local
    return Path("/work/shared/fixtures/recorded")


#: Directory of the recorded responses (env WAYSTATION_RECORDED_FIXTURES overrides it).
FIXTURES_DIR = _default_fixtures_dir()


@dataclass(frozen=True)
class Replay:
    """Answer with a recorded body byte for byte (``fixture`` relative to FIXTURES_DIR, e.g.
    ``"openai/chat_stream_tool_calls.sse"``). Status: ``status`` or SOURCES.tsv's http_status (else 200).
    Content type: ``content_type`` or SOURCES.tsv's, else by extension (.sse → text/event-stream).
    ``.sse`` bodies are streamed one event per chunk."""

    fixture: str
    status: int | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Fail:
    """Answer ``status`` with the provider's realistic error body (or ``body``: dict → JSON, str/bytes raw).
    ``headers`` are added to the response (e.g. ``{"retry-after": "1"}``)."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Respond:
    """Answer with an arbitrary body (dict → JSON). ``chunks`` streams several raw byte chunks instead."""

    status: int = 200
    body: Any = None
    content_type: str = JSON_CT
    chunks: tuple[bytes, ...] | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Stall:
    """Send nothing at all (not even headers) for ``seconds``, then answer normally (or with ``then``)."""

    seconds: float
    then: Behaviour | None = None


@dataclass(frozen=True)
class StallAfterHeaders:
    """Send the response headers, then nothing for ``seconds``, then the body."""

    seconds: float
    then: Behaviour | None = None


@dataclass(frozen=True)
class BreakMidStream:
    """Send the headers and the first ``after_chunks`` chunks (SSE events), then drop the connection
    without the terminating chunk (no [DONE], no usage). A non-stream body is cut in half."""

    after_chunks: int
    then: Behaviour | None = None


@dataclass(frozen=True)
class Slow:
    """Wait ``chunk_interval`` seconds before each chunk after the first."""

    chunk_interval: float
    then: Behaviour | None = None


Behaviour = Replay | Fail | Respond | Stall | StallAfterHeaders | BreakMidStream | Slow
LEAVES = (Replay, Fail, Respond)


@dataclass
class Delivery:
    """How a plan is delivered: the flattened wrappers of a behaviour chain."""

    stall: float = 0.0
    stall_after_headers: float = 0.0
    interval: float | None = None
    break_after: int | None = None


def flatten(behaviour: Behaviour | None) -> tuple[Delivery, Replay | Fail | Respond | None]:
    """Split a behaviour chain into delivery modifiers and the leaf that produces the response."""
    delivery = Delivery()
    while behaviour is not None and not isinstance(behaviour, LEAVES):
        if isinstance(behaviour, Stall):
            delivery.stall += behaviour.seconds
        elif isinstance(behaviour, StallAfterHeaders):
            delivery.stall_after_headers += behaviour.seconds
        elif isinstance(behaviour, Slow):
            delivery.interval = behaviour.chunk_interval
        elif isinstance(behaviour, BreakMidStream):
            delivery.break_after = behaviour.after_chunks
        else:  # pragma: no cover - guarded by the type
            raise TypeError(f"not a behaviour: {behaviour!r}")
        behaviour = behaviour.then
    return delivery, behaviour


# --------------------------------------------------------------------------- fixtures


@lru_cache(maxsize=4)
def _sources(root: str) -> dict[str, dict[str, str]]:
    path = Path(root) / "SOURCES.tsv"
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["file"]: row for row in csv.DictReader(fh, delimiter="\t")}


@lru_cache(maxsize=128)
def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def fixture_bytes(relpath: str, root: Path | None = None) -> bytes:
    return _read(str((root or FIXTURES_DIR) / relpath))


def fixture_info(relpath: str, root: Path | None = None) -> dict[str, str]:
    """The SOURCES.tsv row of a fixture ({} if not listed)."""
    return _sources(str(root or FIXTURES_DIR)).get(relpath, {})


def split_sse(body: bytes) -> list[bytes]:
    """Split an SSE body into events, each keeping its terminating blank line (byte exact)."""
    out: list[bytes] = []
    start = 0
    i = 0
    n = len(body)
    while i < n:
        if body.startswith(b"\r\n\r\n", i):
            i += 4
            out.append(body[start:i])
            start = i
        elif body.startswith(b"\n\n", i):
            i += 2
            out.append(body[start:i])
            start = i
        else:
            i += 1
    if start < n:
        out.append(body[start:])
    return out


def replay_plan(kind: str, replay: Replay, root: Path | None = None) -> Plan:
    body = fixture_bytes(replay.fixture, root)
    info = fixture_info(replay.fixture, root)
    is_sse = replay.fixture.endswith(".sse")
    status = replay.status or int(info.get("http_status") or 200)
    content_type = replay.content_type or info.get("content_type") or (SSE_CT if is_sse else JSON_CT)
    chunks = split_sse(body) if is_sse else [body]
    return Plan(
        status=status,
        content_type=content_type,
        chunks=chunks,
        stream=is_sse,
        usage=extract_usage(kind, body, is_sse),
    )


# --------------------------------------------------------------------------- usage extraction


def _sse_payloads(body: bytes) -> list[Any]:
    out = []
    for line in body.splitlines():
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data and data != b"[DONE]":
                try:
                    out.append(loads(data))
                except Exception:  # not JSON: ignore
                    pass
    return out


def extract_usage(kind: str, body: bytes, is_sse: bool) -> dict[str, Any] | None:
    """The usage a recorded body reports, in the provider's wire form (final/cumulative value)."""
    try:
        payloads = _sse_payloads(body) if is_sse else [loads(body)]
    except Exception:
        return None
    if kind == "gemini" and payloads and isinstance(payloads[0], list):
        payloads = payloads[0]
    usage: dict[str, Any] | None = None
    for obj in payloads:
        if not isinstance(obj, dict):
            continue
        if kind == "openai":
            if obj.get("usage"):
                usage = obj["usage"]
            elif obj.get("type") == "response.completed":
                usage = (obj.get("response") or {}).get("usage") or usage
        elif kind == "anthropic":
            if obj.get("type") == "message_start":
                usage = dict((obj.get("message") or {}).get("usage") or {})
            elif obj.get("type") == "message_delta" and obj.get("usage"):
                usage = {**(usage or {}), **{k: v for k, v in obj["usage"].items() if v is not None}}
            elif obj.get("usage"):
                usage = obj["usage"]
        elif obj.get("usageMetadata"):
            usage = obj["usageMetadata"]
    return usage
