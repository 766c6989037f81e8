"""OpenAI-protocol endpoints: chat completions (any upstream), embeddings, completions and
responses (OpenAI-type upstreams, passed through), models."""

from __future__ import annotations

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.response import Stream

from app.relay.controllers.common import decode_object, internal_error_handler, relay_call
from app.relay.controllers.models import list_models_response
from app.relay.inbound import Inbound
from app.relay.protocols import CODECS, ProtocolError
from app.relay.state import RelayState
from app.relay.upstream.endpoints import Operation


def _chat_inbound(body: bytes, rid: str) -> Inbound:
    request = CODECS["openai"].parse_request(body)
    return Inbound(protocol="openai", op="chat", body=body, model=request.model, stream=request.stream,
                   request_id=rid, request=request)


def _passthrough_inbound(op: Operation) -> callable:
    def make(body: bytes, rid: str) -> Inbound:
        doc = decode_object(body)
        model = doc.get("model")
        if not isinstance(model, str) or not model:
            raise ProtocolError("'model' is required and must be a string.", param="model")
        stream = doc.get("stream", False)
        if not isinstance(stream, bool):
            raise ProtocolError("'stream' must be a boolean.", param="stream")
        return Inbound(protocol="openai", op=op, body=body, model=model, stream=stream, request_id=rid)

    return make


@post("/chat/completions")
async def chat_completions(request: Request, relay: NamedDependency[RelayState]) -> Response[bytes] | Stream:
    return await relay_call("openai", request, relay, _chat_inbound)


@post("/embeddings")
async def embeddings(request: Request, relay: NamedDependency[RelayState]) -> Response[bytes] | Stream:
    return await relay_call("openai", request, relay, _passthrough_inbound("embeddings"))


@post("/completions")
async def completions(request: Request, relay: NamedDependency[RelayState]) -> Response[bytes] | Stream:
    return await relay_call("openai", request, relay, _passthrough_inbound("completions"))


@post("/responses")
async def responses(request: Request, relay: NamedDependency[RelayState]) -> Response[bytes] | Stream:
    return await relay_call("openai", request, relay, _passthrough_inbound("responses"))


@get("/models")
async def list_models(request: Request, relay: NamedDependency[RelayState]) -> Response[bytes]:
    return await list_models_response(request, relay)


router = Router(
    path="/v1",
    route_handlers=[chat_completions, embeddings, completions, responses, list_models],
    exception_handlers={Exception: internal_error_handler("openai")},
    include_in_schema=False,
)
