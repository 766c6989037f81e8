"""FakeProvider: a raw ASGI application speaking one provider's real wire format.

    provider = FakeProvider("openai", api_key="sk-test")
    provider.script(Fail(429), Replay("openai/chat_stream_tool_calls.sse"))  # next two POSTs
    ... requests ...
    provider.requests[-1].body["model"], provider.last_usage

Every request is recorded in ``provider.requests``. Each POST consumes one scripted behaviour (FIFO); with
an empty script the default synthesiser answers. ``last_usage`` is the usage (provider wire form) reported
by the last *completed* response of a generation endpoint (None if it reported none, e.g. an error or an
OpenAI stream without ``stream_options.include_usage``); cut responses leave it unchanged.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import itertools
import logging
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from . import anthropic_fake, gemini_fake, openai_fake
from ._common import Plan, RecordedRequest, loads, make_id
from .behaviours import Behaviour, Delivery, Fail, Replay, Respond, flatten, replay_plan
from .errors import (
    AZURE_NOT_FOUND,
    GEMINI_API_KEY_INVALID,
    anthropic_auth_error,
    anthropic_error,
    error_plan,
    openai_auth_error,
)

KINDS = ("openai", "anthropic", "gemini")
DEFAULT_MODELS = {
    "openai": ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "text-embedding-3-small"],
    "anthropic": ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"],
    "gemini": ["gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro"],
}
#: Endpoints whose completed responses update ``last_usage``.
USAGE_ENDPOINTS = {
    "chat.completions", "completions", "responses", "embeddings", "messages",
    "generateContent", "streamGenerateContent",
}  # fmt: skip

_AZURE_RE = re.compile(r"^/openai/deployments/([^/]+)/(chat/completions|completions|embeddings)$")
_GEMINI_RE = re.compile(r"^/(v1beta|v1|v1alpha)/models/([^/:]+):(generateContent|streamGenerateContent|countTokens)$")
_GEMINI_MODELS_RE = re.compile(r"^/(v1beta|v1|v1alpha)/models(?:/([^/:]+))?$")

# --------------------------------------------------------------------------- quiet intentional aborts

_INTENTIONAL_ABORT: contextvars.ContextVar[bool] = contextvars.ContextVar("fake_provider_abort", default=False)


class _QuietIntentionalAborts(logging.Filter):
    """Drops uvicorn's 'returned without completing response' error when a fake cut a response on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_INTENTIONAL_ABORT.get() and "ASGI callable returned without" in str(record.msg))


_uvicorn_error_logger = logging.getLogger("uvicorn.error")
if not any(isinstance(f, _QuietIntentionalAborts) for f in _uvicorn_error_logger.filters):
    _uvicorn_error_logger.addFilter(_QuietIntentionalAborts())


class _Waiter:
    """Interruptible sleeps for one request: ends early when the client disconnects or on interrupt()."""

    def __init__(self, receive: Callable[[], Any], registry: set[Any]) -> None:
        self._receive = receive
        self._registry = registry
        self._event = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._entry = (asyncio.get_running_loop(), self._event)

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._event.set()
                return

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``; False if interrupted (the response should be abandoned)."""
        if self._event.is_set():
            return False
        if seconds <= 0:
            return True
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch())
            self._registry.add(self._entry)
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
            return False
        except TimeoutError:
            return True

    def close(self) -> None:
        self._registry.discard(self._entry)
        if self._watcher is not None:
            self._watcher.cancel()


class FakeProvider:
    """Raw ASGI fake of one provider ``kind`` ("openai" | "anthropic" | "gemini").

    Knobs (attributes, changeable at any time): ``api_key`` (None disables auth), ``chunks`` (stream
    pieces of the synthesised text/arguments), ``chunk_interval`` (seconds between stream chunks),
    ``cached_tokens`` / ``reasoning_tokens`` (reported in every usage, in the provider's shape),
    ``embedding_dims``, ``models`` (model listings). ``prefix`` is the OpenAI route prefix ("/v1");
    ``keep_requests`` keeps only the last N recorded requests (benchmarks).
    """

    def __init__(
        self,
        kind: str,
        api_key: str | None = "test-key",
        *,
        prefix: str = "/v1",
        chunks: int = 5,
        chunk_interval: float = 0.0,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        embedding_dims: int = 16,
        models: list[str] | None = None,
        fixtures_dir: str | Path | None = None,
        keep_requests: int | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        self.id_seed = f"{kind}-{uuid.uuid4().hex[:12]}"  # ids are unique per instance, stable per request seq
        self.api_key = api_key
        self.prefix = prefix.rstrip("/")
        self.chunks = chunks
        self.chunk_interval = chunk_interval
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        self.embedding_dims = embedding_dims
        self.models = list(models or DEFAULT_MODELS[kind])
        self.fixtures_dir = Path(fixtures_dir) if fixtures_dir else None
        # keep_requests bounds memory for long benchmark runs (only the last N are kept).
        self.requests: list[RecordedRequest] | collections.deque[RecordedRequest] = (
            [] if keep_requests is None else collections.deque(maxlen=keep_requests)
        )
        self.request_count = 0  # all requests ever received (not cleared by reset)
        self.last_usage: dict[str, Any] | None = None
        self._defaults = {
            name: getattr(self, name)
            for name in ("api_key", "chunks", "chunk_interval", "cached_tokens", "reasoning_tokens", "embedding_dims")
        }
        self._defaults["models"] = list(self.models)
        self._script: collections.deque[Behaviour] = collections.deque()
        self._seq = itertools.count(1)
        self._waits: set[Any] = set()

    def __repr__(self) -> str:
        return f"FakeProvider({self.kind!r}, requests={len(self.requests)}, script={len(self._script)})"

    # ------------------------------------------------------------------ control API

    def script(self, *behaviours: Behaviour) -> FakeProvider:
        """Queue behaviours; each POST request consumes the next one (then the synthesiser answers)."""
        self._script.extend(behaviours)
        return self

    @property
    def pending(self) -> int:
        """Scripted behaviours not consumed yet."""
        return len(self._script)

    def reset(self) -> None:
        """Forget recorded requests, the script and last_usage, and restore the constructor's knobs
        (api_key, chunks, chunk_interval, cached/reasoning tokens, ...): use between tests sharing a server."""
        self.requests.clear()
        self._script.clear()
        self.last_usage = None
        for name, value in self._defaults.items():
            setattr(self, name, list(value) if isinstance(value, list) else value)

    @property
    def last_request(self) -> RecordedRequest | None:
        return self.requests[-1] if self.requests else None

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        """Recorded requests of one endpoint ("chat.completions", "messages", "generateContent", ...)."""
        return [r for r in self.requests if r.endpoint == endpoint]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block (polling) until at least ``count`` requests were recorded; returns them."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self!r}: expected {count} requests")
            time.sleep(0.005)
        return list(self.requests)

    def interrupt(self) -> None:
        """Cut every in-flight stall or slow stream now (thread-safe; ProviderServer.stop() calls it)."""
        for loop, event in list(self._waits):
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # loop already closed
                pass

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        parts = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(parts)
        req = self._record(scope, raw)
        plan, delivery = self._plan(req)
        await self._deliver(req, plan, delivery, receive, send)

    def _record(self, scope: dict[str, Any], raw: bytes) -> RecordedRequest:
        headers: dict[str, str] = {}
        for k, v in scope.get("headers") or []:
            name, value = k.decode("latin-1").lower(), v.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        query_string = (scope.get("query_string") or b"").decode("latin-1")
        try:
            body = loads(raw) if raw else None
        except Exception:
            body = None
        req = RecordedRequest(
            seq=next(self._seq),
            method=scope.get("method", "GET"),
            path=scope.get("path", "/"),
            query=dict(parse_qsl(query_string, keep_blank_values=True)),
            query_string=query_string,
            headers=headers,
            raw_body=raw,
            body=body,
            received_at=time.monotonic(),
        )
        if isinstance(body, dict):
            req.model = body.get("model") if isinstance(body.get("model"), str) else None
            req.stream = body.get("stream") is True
        self.requests.append(req)
        self.request_count += 1
        return req

    # ------------------------------------------------------------------ routing

    def _route(self, req: RecordedRequest) -> Callable[[], Plan] | Plan | None:
        """Sets req.endpoint; returns the synthesiser call, an error plan, or None (unknown route)."""
        method, path = req.method, req.path
        if self.kind == "openai":
            for name in ("chat/completions", "completions", "responses", "embeddings"):
                if path == f"{self.prefix}/{name}" and method == "POST":
                    req.endpoint = name.replace("/", ".")
                    return lambda: getattr(openai_fake, req.endpoint.replace(".", "_"))(req, self)
            if path == f"{self.prefix}/models" and method == "GET":
                req.endpoint = "models"
                return lambda: openai_fake.list_models(self)
            m = _AZURE_RE.match(path)
            if m and method == "POST":
                req.deployment, req.endpoint = m.group(1), m.group(2).replace("/", ".")
                req.api_version = req.query.get("api-version")
                req.model = req.model or req.deployment
                if not req.api_version:
                    return error_plan("openai", 404, body=AZURE_NOT_FOUND)
                return lambda: getattr(openai_fake, req.endpoint.replace(".", "_"))(req, self)
        elif self.kind == "anthropic":
            if path == "/v1/messages" and method == "POST":
                req.endpoint = "messages"
                return lambda: anthropic_fake.messages(req, self)
            if path == "/v1/messages/count_tokens" and method == "POST":
                req.endpoint = "messages.count_tokens"
                return lambda: anthropic_fake.count_tokens(req, self)
            if path == "/v1/models" and method == "GET":
                req.endpoint = "models"
                return lambda: anthropic_fake.list_models(self)
        else:
            m = _GEMINI_RE.match(path)
            if m and method == "POST":
                req.api_version, req.model, req.endpoint = m.group(1), m.group(2), m.group(3)
                if req.endpoint == "countTokens":
                    return lambda: gemini_fake.count_tokens(req, self)
                req.stream = req.endpoint == "streamGenerateContent"
                sse = req.query.get("alt") == "sse"
                return lambda: gemini_fake.generate(req, self, stream=req.stream, sse=sse)
            m = _GEMINI_MODELS_RE.match(path)
            if m and method == "GET":
                req.api_version, name = m.group(1), m.group(2)
                req.endpoint = "models.get" if name else "models"
                if name is None:
                    return lambda: gemini_fake.list_models(self)
                if name not in self.models:
                    return error_plan("gemini", 404, model=name)
                return lambda: Plan(200, gemini_fake.JSON_CT, [gemini_fake.dumps(gemini_fake.model_info(name))])
        return None

    def _auth_error(self, req: RecordedRequest) -> Plan | None:
        if self.api_key is None:
            return None
        h = req.headers
        if self.kind == "openai":
            bearer = h.get("authorization", "")
            given = bearer[7:] if bearer.lower().startswith("bearer ") else None
            if req.deployment is not None:
                given = h.get("api-key") or given
                if given != self.api_key:
                    return error_plan("openai", 401, azure=True)
                return None
            if given != self.api_key:
                return Plan(401, "application/json; charset=utf-8", [openai_fake.dumps(openai_auth_error(given))])
        elif self.kind == "anthropic":
            # x-api-key; recent SDKs send the API key as "Authorization: Bearer" instead.
            bearer = h.get("authorization", "")
            given = h.get("x-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else None)
            if given != self.api_key:
                return Plan(401, "application/json", [openai_fake.dumps(anthropic_auth_error(given))])
        else:
            given = h.get("x-goog-api-key") or req.query.get("key")
            if not given:
                return error_plan("gemini", 403, sse_endpoint=req.query.get("alt") == "sse")
            if given != self.api_key:
                return error_plan(
                    "gemini", 400, body=GEMINI_API_KEY_INVALID, sse_endpoint=req.query.get("alt") == "sse"
                )
        return None

    def _not_found(self, req: RecordedRequest) -> Plan:
        if self.kind == "openai":
            body: Any = {
                "error": {
                    "message": f"Invalid URL ({req.method} {req.path})",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
            return error_plan("openai", 404, body=body)
        if self.kind == "anthropic":
            return error_plan("anthropic", 404, body=anthropic_error(404, message="Not Found"))
        return error_plan("gemini", 404, body={"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}})

    def _plan(self, req: RecordedRequest) -> tuple[Plan, Delivery]:
        route = self._route(req)
        if route is None:
            return self._not_found(req), Delivery()
        auth = self._auth_error(req)
        if auth is not None:
            return auth, Delivery()
        if isinstance(route, Plan):
            return route, Delivery()
        if self.kind == "anthropic" and req.method == "POST" and "anthropic-version" not in req.headers:
            body = anthropic_error(400, message="anthropic-version: header is required")
            return error_plan("anthropic", 400, body=body), Delivery()
        if req.method == "POST" and req.raw_body and not isinstance(req.body, dict):
            return error_plan(self.kind, 400, model=req.model or ""), Delivery()
        behaviour = None
        if req.method == "POST" and self._script:
            try:
                behaviour = self._script.popleft()
            except IndexError:  # consumed concurrently
                behaviour = None
        req.behaviour = behaviour
        delivery, leaf = flatten(behaviour)
        if isinstance(leaf, Replay):
            plan = replay_plan(self.kind, leaf, self.fixtures_dir)
        elif isinstance(leaf, Fail):
            plan = error_plan(
                self.kind,
                leaf.status,
                model=req.model or "",
                key=self.api_key or "",
                body=leaf.body,
                azure=req.deployment is not None,
                sse_endpoint=self.kind == "gemini" and req.query.get("alt") == "sse",
            )
            plan.headers += [(k.lower().encode(), str(v).encode()) for k, v in (leaf.headers or {}).items()]
        elif isinstance(leaf, Respond):
            if leaf.chunks is not None:
                plan = Plan(leaf.status, leaf.content_type, list(leaf.chunks), stream=True)
            else:
                raw = (
                    leaf.body
                    if isinstance(leaf.body, bytes)
                    else (leaf.body.encode() if isinstance(leaf.body, str) else openai_fake.dumps(leaf.body))
                )
                plan = Plan(leaf.status, leaf.content_type, [raw])
            plan.headers += [(k.lower().encode(), str(v).encode()) for k, v in (leaf.headers or {}).items()]
        else:
            plan = route()
        return plan, delivery

    # ------------------------------------------------------------------ delivery

    def _id_header(self, req: RecordedRequest) -> tuple[bytes, bytes]:
        rid = make_id(f"{self.id_seed}:req:{req.seq}", 24)
        if self.kind == "openai":
            return b"x-request-id", f"req_{rid.lower()}".encode()
        if self.kind == "anthropic":
            return b"request-id", f"req_011C{rid}".encode()
        return b"server", b"scaffolding on HTTPServer2"

    async def _deliver(
        self, req: RecordedRequest, plan: Plan, delivery: Delivery, receive: Callable[[], Any], send: Any
    ) -> None:
        waiter = _Waiter(receive, self._waits)
        try:
            if delivery.stall and not await waiter.sleep(delivery.stall):
                return self._abort(req)
            headers = [(b"content-type", plan.content_type.encode()), self._id_header(req), *plan.headers]
            chunks = plan.chunks
            cut = delivery.break_after
            if not plan.stream:
                body = b"".join(chunks)
                headers.append((b"content-length", str(len(body)).encode()))
                chunks = [body] if cut is None else ([body[: len(body) // 2]] if cut > 0 else [])
            else:
                headers.append((b"cache-control", b"no-cache"))
            await send({"type": "http.response.start", "status": plan.status, "headers": headers})
            req.status = plan.status
            if delivery.stall_after_headers and not await waiter.sleep(delivery.stall_after_headers):
                return self._abort(req)
            interval = self.chunk_interval if delivery.interval is None else delivery.interval
            last = len(chunks) - 1
            for i, chunk in enumerate(chunks):
                if cut is not None and plan.stream and i >= cut:
                    return self._abort(req)
                if i and interval > 0 and not await waiter.sleep(interval):
                    return self._abort(req)
                more = i < last or cut is not None
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if cut is not None:
                return self._abort(req)
            if not chunks:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            req.completed = True
            req.usage = plan.usage
            if req.endpoint in USAGE_ENDPOINTS:
                self.last_usage = plan.usage
        finally:
            waiter.close()

    def _abort(self, req: RecordedRequest) -> None:
        """Return without completing the response: uvicorn then closes the connection (no final chunk)."""
        req.aborted = True
        _INTENTIONAL_ABORT.set(True)
