"""The request path for model calls: route, relay with failover, answer, record.

Steps 4-7 of DESIGN.md's request path (authentication happens in the controllers; admission,
reservation and settlement arrive with issues [2] and [3]).
"""

from __future__ import annotations

import time

from litestar import Response
from litestar.response import Stream

from app.relay import caching, errors, tokens
from app.relay.admission import limit_rules, rate_limited
from app.relay.billing import Bill, effective_usage, estimate_input
from app.relay.cache import CACHE_HEADER, CACHE_HIT, CACHE_MISS, CachedResponse
from app.relay.channels import Route
from app.relay.health.classify import kind_for_status as health_kind_for_status
from app.relay.health.classify import kind_for_unavailable
from app.relay.inbound import Inbound
from app.relay.limits import rate_limit_headers
from app.relay.outcome import Outcome
from app.relay.passthrough import force_stream_usage, rewrite_first_model, rewrite_model
from app.relay.protocols import CODECS, Codec, ir
from app.relay.protocols.openai import responses_api
from app.relay.pump import StreamPump
from app.relay.state import RelayState
from app.relay.transforms import ConvertTransform, GeminiArrayTransform, PassthroughTransform
from app.relay.upstream.client import Timeouts, UpstreamReply, UpstreamUnavailable
from app.relay.upstream.endpoints import auth_headers, upstream_url
from app.tenants.keys import KeyContext

#: Upstream statuses that say "this channel, not this request": try the next channel.
#: 400/413/422 are the caller's own mistakes and would fail everywhere.
RETRYABLE_STATUS = frozenset({401, 402, 403, 404, 408, 409, 425, 429})

#: Operations only OpenAI-type channels can serve (passed through as bytes).
OPENAI_ONLY = frozenset({"embeddings", "completions", "responses"})

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _content_type(protocol: str, inbound: Inbound) -> str:
    if protocol == "gemini" and not inbound.gemini_sse:
        return "application/json; charset=utf-8"
    return "text/event-stream; charset=utf-8"


def _passthrough_usage(op: str, codec: Codec, body: bytes) -> ir.Usage | None:
    if op == "count_tokens":
        return None  # counting is free
    if op == "responses":
        return responses_api.parse_usage(body)
    return codec.parse_usage(body)


class _Attempt:
    """A channel that answered 2xx, with what it takes to read it."""

    __slots__ = ("route", "reply", "upstream_model")

    def __init__(self, route: Route, reply: UpstreamReply, upstream_model: str) -> None:
        self.route, self.reply, self.upstream_model = route, reply, upstream_model


def _is_overloaded_stream_start(route: Route, reply: UpstreamReply) -> bool:
    """An Anthropic stream that opens with an ``overloaded_error`` event (before any byte reached
    the client) is as good as a 529."""
    first = reply.first_chunk
    return route.protocol == "anthropic" and first.startswith(b"event: error") and b"overloaded" in first


class RelayCall:
    """One model call through the relay."""

    def __init__(self, state: RelayState, key: KeyContext, inbound: Inbound) -> None:
        self.state = state
        self.key = key
        self.inbound = inbound
        self.bill: Bill | None = None
        self.cache_key = caching.key_for(key.account_id, inbound)
        self._input_estimate: int | None = None
        self.limit_headers: dict[str, str] = {}
        self.admitted = False
        self.started = time.monotonic()
        self.outcome = Outcome(request_id=inbound.request_id, key_id=key.key_id, account_id=key.account_id,
                               protocol=inbound.protocol, op=inbound.op, model=inbound.model,
                               stream=inbound.stream)

    # ------------------------------------------------------------------ routing

    async def _candidates(self) -> list[Route]:
        model = self.inbound.model
        protocols = frozenset({"openai"}) if self.inbound.op in OPENAI_ONLY else None
        if self.inbound.op == "count_tokens":
            protocols = frozenset({"anthropic"})
        routes = await self.state.directory.candidates(model, protocols)
        if not routes:
            if protocols is not None and await self.state.directory.candidates(model):
                raise errors.unsupported_for_model(model, self.inbound.op)
            raise errors.unknown_model(model)
        if not self.key.may_use(model):
            raise errors.forbidden_model(model)
        return routes

    # ------------------------------------------------------------------ upstream request

    def _upstream_body(self, route: Route, upstream_model: str) -> bytes:
        inbound = self.inbound
        if route.protocol == inbound.protocol:
            body = inbound.body
            if route.protocol != "gemini" and upstream_model != (inbound.requested_model or inbound.model):
                body = rewrite_model(body, upstream_model)
            if route.protocol == "openai" and inbound.stream and inbound.op == "chat":
                body = force_stream_usage(body)
            return body
        assert inbound.request is not None  # conversions only exist for chat, which is parsed
        return CODECS[route.protocol].emit_request(inbound.request, model=upstream_model)

    async def _try(self, route: Route, *, last_resort: bool = False) -> _Attempt | None:
        """One channel. Returns the attempt on success, None to fail over; raises RelayError for
        errors that are the caller's (they would fail on every channel). ``last_resort``: every
        candidate's circuit is open, so try it anyway rather than fail without an attempt."""
        inbound = self.inbound
        health = self.state.health
        if not last_resort and not await health.admit(route.id):
            self.outcome.fail_attempt(route.id, route.name, "circuit_open", "circuit open")
            return None
        upstream_model = route.upstream_model(inbound.model)
        forward = inbound.forward_headers if route.protocol == inbound.protocol else None
        url = upstream_url(route, inbound.op, upstream_model, stream=inbound.stream)
        headers = auth_headers(route, self.state.directory.next_key(route), forward)
        body = self._upstream_body(route, upstream_model)
        timeouts = Timeouts(route.connect_timeout, route.first_byte_timeout, route.idle_timeout,
                            route.total_timeout)
        sent = time.monotonic()
        try:
            reply = await self.state.upstream.send(url, headers, body, timeouts, stream=inbound.stream)
        except UpstreamUnavailable as exc:
            kind = kind_for_unavailable(exc.reason)
            self.outcome.fail_attempt(route.id, route.name, kind, exc.reason)
            await health.record(route.id, False, kind=kind, detail=exc.reason)
            return None
        if reply.status < 400:
            if inbound.stream and _is_overloaded_stream_start(route, reply):
                await reply.aclose()
                self.outcome.fail_attempt(route.id, route.name, "overloaded", "overloaded")
                await health.record(route.id, False, kind="overloaded")
                return None
            await health.record(route.id, True, ttfb_ms=(time.monotonic() - sent) * 1000)
            return _Attempt(route, reply, upstream_model)
        try:
            raw = await reply.body()
        except Exception:  # noqa: BLE001 - a broken error body is still a failed attempt
            raw = b""
        finally:
            await reply.aclose()
        error = CODECS[route.protocol].parse_error(reply.status, raw)
        self.outcome.fail_attempt(route.id, route.name, error.kind, f"HTTP {reply.status} {error.kind}")
        channel_fault = health_kind_for_status(reply.status, error)
        if channel_fault is not None:
            await health.record(route.id, False, kind=channel_fault, detail=f"HTTP {reply.status} {error.code or ''}")
        if reply.status in RETRYABLE_STATUS or reply.status >= 500 or error.kind == "overloaded":
            return None
        # The request itself is wrong: say so in the caller's protocol, keeping the upstream's words.
        raise errors.RelayError(ir.Error(kind=error.kind, status=reply.status, message=error.message,
                                         code=error.code, param=error.param))

    async def _first_answer(self) -> _Attempt:
        """Resolve the model (alias, split, auto, fallback list), then try its channels in order;
        on exhaustion, the next fallback model with a hold of its own."""
        inbound = self.inbound
        plan = self.state.planner.plan(inbound, lambda: self.input_estimate)
        inbound.requested_model = inbound.requested_model or inbound.model  # the name the body carries
        tried = 0
        for i, model in enumerate(plan.models):
            inbound.model = model
            try:
                routes = await self._candidates()
            except errors.RelayError:
                if i + 1 < len(plan.models):
                    continue  # a fallback model this key cannot use, or nobody serves
                raise
            output_estimate = inbound.request.max_tokens if inbound.request and inbound.request.max_tokens else 0
            routes = await self.state.planner.order(model, routes, lambda: self.input_estimate, output_estimate,
                                                    self.key.routing_strategy)
            if inbound.op != "count_tokens":  # counting is free
                hold_for = max(r.total_timeout for r in routes)
                self.bill = await self.state.billing.open(self.key, inbound, hold_for, lambda: self.input_estimate)
            last_resort = not any(self.state.health.is_available(r.id) for r in routes)
            for route in routes:
                tried += 1
                self.outcome.attempts += 1
                attempt = await self._try(route, last_resort=last_resort)
                if attempt is not None:
                    self.outcome.channel_id = route.id
                    self.outcome.upstream_model = attempt.upstream_model
                    self.outcome.ttfb_ms = (time.monotonic() - self.started) * 1000
                    return attempt
            if self.bill is not None and i + 1 < len(plan.models):
                await self.state.billing.release(self.bill, inbound.request_id)
                self.bill = None
        last = self.outcome.failures[-1].split(": ", 1)[-1] if self.outcome.failures else "no channel"
        raise errors.all_channels_failed(plan.requested or inbound.model, tried, last)

    # ------------------------------------------------------------------ answering

    @property
    def input_estimate(self) -> int:
        """Input tokens counted locally, on first need only: tokenizing a long prompt is the most
        expensive thing the relay does itself, and many requests never need it."""
        if self._input_estimate is None:
            self._input_estimate = estimate_input(self.inbound)
        return self._input_estimate

    async def _admit(self) -> None:
        rules = limit_rules(self.key)
        if not rules:
            return
        max_out = self.inbound.request.max_tokens if self.inbound.request is not None else None
        # TPM counts an estimate until the request finishes with its real usage: no tokenizer here.
        admission = await self.state.limiter.admit(self.inbound.request_id, rules,
                                                   tokens.rough_request(self.inbound.body) + (max_out or 0))
        self.limit_headers = rate_limit_headers(admission)
        if not admission.admitted:
            self.state.recorder.metrics.limit_rejected(admission.scope, admission.dimension)
            raise rate_limited(admission, self.limit_headers)
        self.admitted = True

    async def run(self) -> Response[bytes] | Stream:
        try:
            await self._admit()
        except errors.RelayError as exc:
            await self._fail(exc.error)
            raise
        if self.cache_key is not None:
            self.outcome.cache_lookup = True
            cached = await self.state.cache.get(self.cache_key)
            if cached is not None:
                return await self._serve_hit(cached)
        try:
            attempt = await self._first_answer()
        except errors.RelayError as exc:
            await self._fail(exc.error)
            raise
        except BaseException:
            await self._fail(None)
            raise
        if self.inbound.stream:
            return self._stream(attempt)
        return await self._whole(attempt)

    async def _serve_hit(self, cached: CachedResponse) -> Response[bytes]:
        """A cached answer: still authorised and billed (by the cache rule), never sent upstream."""
        try:
            await self._candidates()
            if self.inbound.op != "count_tokens":
                self.bill = await self.state.billing.open(self.key, self.inbound, 0, lambda: self.input_estimate)
        except errors.RelayError as exc:
            await self._fail(exc.error)
            raise
        self.outcome.cache_hit = True
        self.outcome.upstream_model = cached.model_served
        await self._settle(status=200, usage=caching.hit_usage(cached))
        return Response(cached.body, status_code=200, media_type=cached.content_type,
                        headers={**self.limit_headers, "x-request-id": self.inbound.request_id,
                                 CACHE_HEADER: CACHE_HIT})

    async def _whole(self, attempt: _Attempt) -> Response[bytes]:
        inbound, route = self.inbound, attempt.route
        try:
            raw = await attempt.reply.body()
        except (TimeoutError, Exception) as exc:  # noqa: BLE001 - any read failure is an upstream failure
            error = ir.Error(kind="api_error", status=502,
                             message=f"The upstream failed while answering: {type(exc).__name__}")
            self.outcome.fail_attempt(route.id, route.name, "broken_response", f"read failed: {type(exc).__name__}")
            await self._fail(error)
            raise errors.RelayError(error) from None
        finally:
            await attempt.reply.aclose()
        upstream_codec = CODECS[route.protocol]
        if route.protocol == inbound.protocol:
            body = raw
            if route.protocol != "gemini" and attempt.upstream_model != inbound.model:
                body = rewrite_first_model(raw, inbound.model)
            usage = _passthrough_usage(inbound.op, upstream_codec, raw)
            media = attempt.reply.headers.get("content-type", "application/json")
        else:
            response = upstream_codec.parse_response(raw)
            body = CODECS[inbound.protocol].emit_response(response, model=inbound.model)
            usage = response.usage
            media = "application/json"
        if usage is None and inbound.op != "count_tokens":
            usage = self._estimate_whole(route.protocol, raw)
        # The response leaves only once its bill is durable (see settlement.py).
        await self._settle(status=200, usage=usage)
        headers = {**self.limit_headers, "x-request-id": inbound.request_id}
        if self.cache_key is not None and inbound.cache_ttl:
            await caching.store(self.state.cache, self.cache_key, content_type=media, body=body, usage=usage,
                                model_served=attempt.upstream_model, ttl=inbound.cache_ttl)
            headers[CACHE_HEADER] = CACHE_MISS
        return Response(body, status_code=200, media_type=media, headers=headers)

    def _stream(self, attempt: _Attempt) -> Stream:
        inbound, route = self.inbound, attempt.route
        client_codec = CODECS[inbound.protocol]
        transform: PassthroughTransform | GeminiArrayTransform | ConvertTransform
        if route.protocol == inbound.protocol and inbound.protocol == "gemini":
            transform = (PassthroughTransform(client_codec.usage_sniffer(), client_codec.emit_stream_error,
                                              public_model=None, strip_usage_chunk=False)
                         if inbound.gemini_sse else GeminiArrayTransform(client_codec))
        elif route.protocol == inbound.protocol:
            mapped = inbound.model if attempt.upstream_model != inbound.model else None
            wants_usage = inbound.request.include_usage if inbound.request is not None else True
            if inbound.op == "responses":
                sniffer, emit_error = responses_api.ResponsesUsageSniffer(), responses_api.emit_stream_error
            else:
                sniffer, emit_error = client_codec.usage_sniffer(), client_codec.emit_stream_error
            transform = PassthroughTransform(
                sniffer, emit_error, public_model=mapped,
                strip_usage_chunk=inbound.protocol == "openai" and inbound.op == "chat" and not wants_usage)
        else:
            assert inbound.request is not None
            transform = ConvertTransform(CODECS[route.protocol], client_codec, public_model=inbound.model,
                                         include_usage=inbound.request.include_usage, sse=inbound.gemini_sse)
        pump = StreamPump(attempt.reply, transform, self._stream_done, self.state.spawn,
                          keep=self.cache_key is not None)
        headers = {**SSE_HEADERS, **self.limit_headers, "x-request-id": inbound.request_id}
        if self.cache_key is not None:
            headers[CACHE_HEADER] = CACHE_MISS
        return Stream(pump.client_stream(), status_code=200, media_type=_content_type(inbound.protocol, inbound),
                      headers=headers)

    async def _stream_done(self, pump: StreamPump) -> None:
        """The upstream stream ended (however it ended): bill what was generated, before the
        stream's final bytes are released to the client."""
        t = pump.transform
        self.outcome.client_disconnected = pump.client_gone
        if t.completed and t.usage is not None:
            usage = t.usage
        else:
            usage = effective_usage(t.usage, self.input_estimate, t.generated_text())
        if t.completed:
            await self._settle(status=200, usage=usage)
            if pump.sent is not None and self.cache_key is not None and self.inbound.cache_ttl:
                await caching.store(self.state.cache, self.cache_key,
                                    content_type=_content_type(self.inbound.protocol, self.inbound),
                                    body=b"".join(pump.sent), usage=usage, model_served=self.outcome.upstream_model,
                                    ttl=self.inbound.cache_ttl)
        else:
            if self.outcome.channel_id is not None:  # the serving channel broke off mid-stream
                kind = t.error.kind if t.error else "broken_stream"
                self.outcome.upstream_errors.append((self.outcome.channel_id, kind))
            await self._settle(status=502, usage=usage, error_kind=t.error.kind if t.error else "api_error")

    def _estimate_whole(self, protocol: str, raw: bytes) -> ir.Usage:
        """A whole response without usage: count its text locally."""
        text = ""
        if self.inbound.op == "chat":
            try:
                response = CODECS[protocol].parse_response(raw)
                text = "".join(getattr(b, "text", "") or getattr(b, "arguments", "") for b in response.content)
            except Exception:  # noqa: BLE001 - an unparseable body counts as no output
                text = ""
        return effective_usage(None, self.input_estimate, text)

    def _finish(self, *, status: int, usage: ir.Usage | None, error_kind: str | None) -> None:
        o = self.outcome
        o.status, o.usage, o.error_kind = status, usage, error_kind
        o.latency_ms = (time.monotonic() - self.started) * 1000

    async def _settle(self, *, status: int, usage: ir.Usage | None, error_kind: str | None = None) -> None:
        self._finish(status=status, usage=usage, error_kind=error_kind)
        try:
            if self.bill is not None:  # settle() fills outcome.cost and outcome.upstream_cost
                await self.state.billing.settle(self.bill, self.key, self.inbound, self.outcome)
        finally:
            self.state.recorder.record(self.outcome)
            if self.admitted:
                await self.state.limiter.finish(self.inbound.request_id,
                                                usage.prompt_tokens + usage.output_tokens if usage else None)

    async def _fail(self, error: ir.Error | None) -> None:
        """Nothing was used: release the hold and note the failure."""
        self._finish(status=error.status if error else 500, usage=None,
                     error_kind=error.kind if error else "api_error")
        self.state.recorder.record(self.outcome)
        if self.bill is not None:
            await self.state.billing.release(self.bill, self.inbound.request_id)
        if self.admitted:
            await self.state.limiter.finish(self.inbound.request_id, 0)
