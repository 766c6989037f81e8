"""Anthropic-protocol endpoints: messages (any upstream) and count_tokens."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, Router, post
from litestar.di import NamedDependency
from litestar.response import Stream

from app.relay import errors, tokens
from app.relay.controllers.common import answer, authenticate, decode_object, internal_error_handler, relay_call
from app.relay.inbound import Inbound
from app.relay.protocols import CODECS
from app.relay.service import RelayCall
from app.relay.state import RelayState

#: Client headers that mean something to an Anthropic upstream and are forwarded on passthrough.
FORWARDED = ("anthropic-beta", "anthropic-version")


def _forward(request: Request) -> dict[str, str]:
    return {h: request.headers[h] for h in FORWARDED if h in request.headers}


@post("/messages")
async def messages(request: Request, relay: NamedDependency[RelayState]) -> Response[bytes] | Stream:
    def make(body: bytes, rid: str) -> Inbound:
        parsed = CODECS["anthropic"].parse_request(body)
        return Inbound(protocol="anthropic", op="chat", body=body, model=parsed.model, stream=parsed.stream,
                       request_id=rid, request=parsed, forward_headers=_forward(request))

    return await relay_call("anthropic", request, relay, make)


@post("/messages/count_tokens")
async def count_tokens(request: Request, relay: NamedDependency[RelayState]) -> Response[bytes] | Stream:
    """Asked of an Anthropic channel when the model has one; otherwise counted locally with the
    OpenAI vocabulary (an estimate, said so in a response header). Never billed."""

    async def work(rid: str) -> Response[bytes] | Stream:
        key = await authenticate(request, relay)
        body = await request.body()
        # count_tokens bodies are messages bodies without max_tokens.
        parsed = CODECS["anthropic"].parse_request(_with_max_tokens(body))
        inbound = Inbound(protocol="anthropic", op="count_tokens", body=body, model=parsed.model, stream=False,
                          request_id=rid, request=parsed, forward_headers=_forward(request))
        if await relay.directory.candidates(parsed.model, frozenset({"anthropic"})):
            return await RelayCall(relay, key, inbound).run()
        if not await relay.directory.candidates(parsed.model):
            raise errors.unknown_model(parsed.model)
        if not key.may_use(parsed.model):
            raise errors.forbidden_model(parsed.model)
        count = tokens.count_request(parsed)
        return Response(b'{"input_tokens":%d}' % count, media_type="application/json",
                        headers={"x-request-id": rid, "x-waystation-token-count": "estimated"})

    return await answer("anthropic", request, work)


def _with_max_tokens(body: bytes) -> bytes:
    doc = decode_object(body)
    doc.setdefault("max_tokens", 1)
    return msgspec.json.encode(doc)


router = Router(
    path="/v1",
    route_handlers=[messages, count_tokens],
    exception_handlers={Exception: internal_error_handler("anthropic")},
    include_in_schema=False,
)
