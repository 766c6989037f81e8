"""Gemini-protocol endpoints: ``models/{model}:generateContent`` and ``:streamGenerateContent``
under both ``/v1beta`` and ``/v1`` (google-genai 3.x defaults to ``/v1``), and model listing."""

from __future__ import annotations

from urllib.parse import unquote

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Stream

from app.relay.controllers.common import internal_error_handler, relay_call
from app.relay.controllers.models import gemini_model_response, gemini_models_response
from app.relay.inbound import Inbound
from app.relay.protocols import CODECS, ProtocolError
from app.relay.state import RelayState

METHODS = {"generateContent": False, "streamGenerateContent": True}


def _split_target(target: str) -> tuple[str, str]:
    model, sep, method = unquote(target.lstrip("/")).rpartition(":")
    if not sep or not model:
        raise ProtocolError(
            f"Expected 'models/{{model}}:{{method}}', got 'models/{target.lstrip('/')}'.",
            param="model",
            status=404,
            kind="not_found",
        )
    return model.removeprefix("models/"), method


async def generate(
    request: Request, relay: NamedDependency[RelayState], target: FromPath[str]
) -> Response[bytes] | Stream:
    sse = request.query_params.get("alt") == "sse"

    def make(body: bytes, rid: str) -> Inbound:
        model, method = _split_target(target)
        if method not in METHODS:
            raise ProtocolError(
                f"Method '{method}' is not supported; use generateContent or streamGenerateContent.",
                status=404,
                kind="not_found",
            )
        stream = METHODS[method]
        parsed = CODECS["gemini"].parse_request(body, model=model, stream=stream)
        return Inbound(
            protocol="gemini",
            op="chat",
            body=body,
            model=model,
            stream=stream,
            request_id=rid,
            request=parsed,
            gemini_sse=sse,
        )

    return await relay_call("gemini", request, relay, make)


@post("/v1beta/models/{target:path}")
async def generate_v1beta(
    request: Request, relay: NamedDependency[RelayState], target: FromPath[str]
) -> Response[bytes] | Stream:
    return await generate(request, relay, target)


@get("/v1beta/models")
async def list_models(request: Request, relay: NamedDependency[RelayState]) -> Response[bytes]:
    return await gemini_models_response(request, relay)


@get("/v1beta/models/{target:path}")
async def get_model(request: Request, relay: NamedDependency[RelayState], target: FromPath[str]) -> Response[bytes]:
    return await gemini_model_response(request, relay, unquote(target.lstrip("/")).removeprefix("models/"))


router = Router(
    path="/",
    route_handlers=[generate_v1beta, list_models, get_model],
    exception_handlers={Exception: internal_error_handler("gemini")},
    include_in_schema=False,
)
