"""Structured JSON logs on stderr. Never logs request or response bodies.

Every line logged while a request is being served carries its ``request_id``: the request path
calls ``bind_request_id`` once it knows the id, and ``RequestIdFilter`` copies it from a context
variable onto each record. asyncio tasks copy the context when they are created, so background work
started by the request (a stream pump) keeps the id; other requests, each in its own task, never
see it.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar, Token

import msgspec

__all__ = ["JsonFormatter", "RequestIdFilter", "bind_request_id", "configure", "current_request_id",
           "reset_request_id"]

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

_request_id: ContextVar[str | None] = ContextVar("waystation_request_id", default=None)


def bind_request_id(request_id: str) -> Token[str | None]:
    """Tag every log line of the current task (and of tasks it starts from now on) with ``request_id``."""
    return _request_id.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    """Undo ``bind_request_id`` (only needed where one task serves several requests)."""
    _request_id.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Adds the bound request id to records that do not carry one already."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            rid = _request_id.get()
            if rid is not None:
                record.request_id = rid
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": round(record.created, 3), "level": record.levelname, "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return msgspec.json.encode(doc, enc_hook=str).decode()


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger("waystation")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
