"""The built-in ``demo`` channel: a local, clearly labelled stand-in for a provider.

It speaks the OpenAI Chat Completions wire format (streaming too) behind the upstream client's
transport seam, so it travels the same path as a real OpenAI-compatible upstream: conversion to
Anthropic or Gemini clients, failover, usage. Answers are deterministic and say what they are.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit

import msgspec

from app.relay import tokens
from app.relay.upstream.errors import UpstreamReadTimeout

DEMO_NOTICE = ("This is Waystation's built-in demo channel, not a real model. "
               "Add a provider with `waystation channels add` to get real answers.")
#: Seconds between streamed chunks: enough to see streaming work, short enough for tests.
CHUNK_INTERVAL = 0.01


def _last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _prompt_text(body: dict) -> str:
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "\n".join(parts)


def _reply(body: dict) -> str:
    said = " ".join(_last_user_text(body.get("messages") or []).split())
    if len(said) > 200:
        said = said[:200] + "…"
    return f"{DEMO_NOTICE} You said: {said}" if said else DEMO_NOTICE


def _usage(body: dict, reply: str) -> dict:
    prompt = tokens.count_text(_prompt_text(body)) + 4 * len(body.get("messages") or [])
    completion = tokens.count_text(reply)
    return {
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _stream_chunks(body: dict, reply: str, model: str) -> list[bytes]:
    rid = f"chatcmpl-demo{uuid.uuid4().hex[:20]}"
    created = int(time.time())

    def chunk(delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True) -> bytes:
        payload = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else [],
                   "usage": usage}
        return b"data: " + msgspec.json.encode(payload) + b"\n\n"

    words = reply.split(" ")
    pieces = [" ".join(words[i:i + 4]) + (" " if i + 4 < len(words) else "") for i in range(0, len(words), 4)]
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": p}) for p in pieces]
    out.append(chunk({}, finish="stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append(chunk({}, usage=_usage(body, reply), choices=False))
    out.append(b"data: [DONE]\n\n")
    return out


class DemoExchange:
    """A demo answer: the first chunk at once, each next one ``CHUNK_INTERVAL`` later."""

    __slots__ = ("status", "headers", "_chunks", "_sent")

    def __init__(self, status: int, content_type: str, chunks: list[bytes]) -> None:
        self.status = status
        self.headers = {"content-type": content_type}
        self._chunks = chunks
        self._sent = 0

    async def read(self, until: float) -> bytes:
        if self._sent >= len(self._chunks):
            return b""
        if self._sent:
            loop = asyncio.get_running_loop()
            if loop.time() + CHUNK_INTERVAL > until:
                await asyncio.sleep(max(0.0, until - loop.time()))
                raise UpstreamReadTimeout("no data from the demo channel before the timeout")
            await asyncio.sleep(CHUNK_INTERVAL)
        self._sent += 1
        return self._chunks[self._sent - 1]

    def close(self) -> None:
        self._sent = len(self._chunks)


def _json(status: int, payload: dict) -> DemoExchange:
    return DemoExchange(status, "application/json", [msgspec.json.encode(payload)])


class DemoTransport:
    """The demo channel behind the upstream client's transport seam: answered in process."""

    async def open(self, url: str, headers: Mapping[str, str], body: bytes, *, connect_timeout: float,
                   until: float) -> DemoExchange:
        if not urlsplit(url).path.endswith("/chat/completions"):
            return _json(404, {"error": {"message": "the demo channel only answers chat completions",
                                         "type": "invalid_request_error", "param": None, "code": None}})
        try:
            request = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return _json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
        model = str(request.get("model") or "demo-1")
        reply = _reply(request)
        if request.get("stream"):
            return DemoExchange(200, "text/event-stream", _stream_chunks(request, reply, model))
        return _json(200, {
            "id": f"chatcmpl-demo{uuid.uuid4().hex[:20]}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                         "finish_reason": "stop"}],
            "usage": _usage(request, reply),
        })

    async def aclose(self) -> None:
        pass
