"""The response cache: what an entry holds and what every store offers.

Privacy: this cache is the only place in Waystation where completion text is stored, and it is
used only when the caller explicitly opted in (an API key with a cache TTL, or an
``x-waystation-cache: <seconds>`` request header, see ``policy.py``). Entries live in memory (the
process, or Redis) for at most their TTL and are never written to the database. Stores never log
bodies, and keys carry no request text (see ``keys.py``).
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec


class CachedResponse(msgspec.Struct, frozen=True):
    """One complete, successful answer, as the client received it.

    For a stream, ``body`` is the whole stream (every byte the client was sent, in order), so a
    hit can replay it as one chunk or in pieces. Only complete answers belong here: a stream the
    upstream broke off, or any error, is never stored.
    """

    status: int
    content_type: str
    body: bytes
    #: Usage as the original answer reported it (for the hit's bookkeeping); None if unknown.
    usage: dict[str, Any] | None
    #: The model that actually answered (``upstream_model``), for records; None if unknown.
    model_served: str | None
    #: Wall-clock time (``time.time()``) the answer was produced.
    created_at: float


class ResponseCache(Protocol):
    """A bounded, expiring map from ``cache_key(...)`` to ``CachedResponse``.

    A cache is allowed to forget: ``put`` may decline (entry too big, store unavailable) and
    ``get`` may miss for any reason. Neither ever raises because the store is unavailable: the
    request is then served as if uncached.
    """

    async def get(self, key: str) -> CachedResponse | None:
        """The entry stored under ``key``, if present and not expired."""

    async def put(self, key: str, response: CachedResponse, ttl: float) -> None:
        """Store ``response`` under ``key`` for ``ttl`` seconds (replacing any entry there).
        A ``ttl`` of zero or less stores nothing."""

    async def aclose(self) -> None:
        """Release the store's resources."""
