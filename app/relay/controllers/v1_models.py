"""``/v1/models/{...}`` belongs to two protocols: ``GET /v1/models/{id}`` is OpenAI's model lookup,
``POST /v1/models/{model}:generateContent`` is Gemini's (google-genai 3.x defaults to ``/v1``).
One handler serves the path and dispatches by method, since a path has one set of handlers."""

from __future__ import annotations

from litestar import Request, Response, route
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Stream

from app.relay.controllers import gemini
from app.relay.controllers.common import internal_error_handler
from app.relay.controllers.models import model_response
from app.relay.state import RelayState

_openai_failure = internal_error_handler("openai")
_gemini_failure = internal_error_handler("gemini")


def _failure(request: Request, exc: Exception) -> Response[bytes]:
    return (_gemini_failure if request.method == "POST" else _openai_failure)(request, exc)


@route(
    "/v1/models/{model_path:path}",
    http_method=["GET", "POST"],
    include_in_schema=False,
    exception_handlers={Exception: _failure},
)
async def v1_model_path(
    request: Request, relay: NamedDependency[RelayState], model_path: FromPath[str]
) -> Response[bytes] | Stream:
    if request.method == "POST":
        return await gemini.generate(request, relay, model_path)
    return await model_response(request, relay, model_path.lstrip("/"))
