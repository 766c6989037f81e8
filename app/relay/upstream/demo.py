"""The built-in ``demo`` channel: a local, clearly labelled stand-in for a provider.

It speaks the OpenAI Chat Completions wire format (streaming too) through httpx's transport
interface, so it travels the same path as a real OpenAI-compatible upstream: conversion to
Anthropic or Gemini clients, failover, usage. Answers are deterministic and say what they are.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import msgspec

from app.relay import tokens

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


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i, chunk in enumerate(self._chunks):
            if i:
                await asyncio.sleep(CHUNK_INTERVAL)
            yield chunk


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


class DemoTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/chat/completions"):
            error = {"error": {"message": "the demo channel only answers chat completions",
                               "type": "invalid_request_error", "param": None, "code": None}}
            return httpx.Response(404, json=error)
        try:
            body = msgspec.json.decode(await request.aread())
        except msgspec.DecodeError:
            return httpx.Response(400, json={"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
        model = str(body.get("model") or "demo-1")
        reply = _reply(body)
        if body.get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"},
                                  stream=_Stream(_stream_chunks(body, reply, model)))
        payload = {
            "id": f"chatcmpl-demo{uuid.uuid4().hex[:20]}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                         "finish_reason": "stop"}],
            "usage": _usage(body, reply),
        }
        return httpx.Response(200, json=payload)
