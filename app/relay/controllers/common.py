"""Plumbing shared by the protocol controllers: key, body, request id, errors in the caller's shape."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import msgspec
from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.response import Stream

from app import logs
from app.lib.ids import request_id
from app.relay import errors
from app.relay.auth import extract_key
from app.relay.cache import decide as decide_cache
from app.relay.errors import RelayError
from app.relay.inbound import Inbound
from app.relay.protocols import CODECS, ProtocolError, ir
from app.relay.service import RelayCall
from app.relay.state import RelayState
from app.tenants.keys import KeyContext

log = logging.getLogger("waystation.relay")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def client_request_id(request: Request) -> str:
    """The caller's ``x-request-id`` when it is a sane token, else a fresh one."""
    given = request.headers.get("x-request-id")
    return given if given and _SAFE_REQUEST_ID.match(given) else request_id()


def error_response(protocol: str, error: ir.Error, headers: dict[str, str] | None = None,
                   rid: str | None = None, status: int | None = None) -> Response[bytes]:
    natural, body = CODECS[protocol].emit_error(error)
    status = status or natural
    extra = dict(headers or {})
    if rid:
        extra["x-request-id"] = rid
    return Response(body, status_code=status, media_type="application/json", headers=extra)


async def authenticate(request: Request, relay: NamedDependency[RelayState]) -> KeyContext:
    """The caller's key, checked against its IP allowlist (401 / 403 as RelayError)."""
    key = await relay.keys.resolve(extract_key(request))
    if key.ip_allowlist is not None:
        address = request.client.host if request.client else ""
        if not key.allows_ip(address):
            raise errors.address_not_allowed()
    return key


async def answer(protocol: str, request: Request,
                 work: Callable[[str], Awaitable[Response[bytes] | Stream]]) -> Response[bytes] | Stream:
    """Run ``work(request_id)``; a ProtocolError or RelayError becomes an error in ``protocol``'s
    own shape and status."""
    rid = client_request_id(request)
    logs.bind_request_id(rid)
    try:
        return await work(rid)
    except ProtocolError as exc:
        return error_response(protocol, exc.error, rid=rid)
    except RelayError as exc:
        return error_response(protocol, exc.error, exc.headers, rid=rid, status=exc.status)


async def relay_call(protocol: str, request: Request, relay: NamedDependency[RelayState],
                     make_inbound: Callable[[bytes, str], Inbound]) -> Response[bytes] | Stream:
    """Authenticate, parse (``make_inbound`` raises ProtocolError on bad input), relay."""

    async def work(rid: str) -> Response[bytes] | Stream:
        key = await authenticate(request, relay)
        inbound = make_inbound(await request.body(), rid)
        inbound.cache_ttl = decide_cache(request.headers, key.cache_ttl)
        return await RelayCall(relay, key, inbound).run()

    return await answer(protocol, request, work)


def decode_object(body: bytes) -> dict:
    """A JSON object body, or a ProtocolError saying what is wrong with it."""
    if not body.strip():
        raise ProtocolError("The request body is empty; expected a JSON object.", param="body")
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"The request body is not valid JSON: {exc}", param="body") from None
    if not isinstance(doc, dict):
        raise ProtocolError("The request body must be a JSON object.", param="body")
    return doc


def internal_error_handler(protocol: str) -> Callable[[Request, Exception], Response[bytes]]:
    """Last resort: an unexpected exception still answers in the caller's protocol, never as a
    bare 500 page. The traceback is logged; the request body is not."""

    def handle(request: Request, exc: Exception) -> Response[bytes]:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        error = ir.Error(kind="api_error", status=500, message="Internal error in the relay; it has been logged.")
        return error_response(protocol, error)

    return handle
