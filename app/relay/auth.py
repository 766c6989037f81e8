"""Step 1 of the request path: API key -> KeyContext, cached in-process so a hot key costs one
dict lookup. Keys are accepted in each protocol's usual place."""

from __future__ import annotations

import time

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.lib.crypto import hash_api_key
from app.relay import errors
from app.tenants.keys import KeyContext, authenticate

#: Unknown keys are remembered briefly too, so a flood of bad keys does not become DB load.
NEGATIVE_TTL = 5.0
MAX_ENTRIES = 50_000


def extract_key(request: Request) -> str | None:
    headers = request.headers
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    for name in ("x-api-key", "x-goog-api-key", "api-key"):
        value = headers.get(name)
        if value:
            return value.strip()
    return request.query_params.get("key") or None


class KeyAuthenticator:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ttl: float) -> None:
        self._sessionmaker = sessionmaker
        self._ttl = ttl
        self._cache: dict[str, tuple[KeyContext | None, float]] = {}

    def forget_all(self) -> None:
        """Drop cached keys (after a key is disabled or deleted through this process)."""
        self._cache.clear()

    async def resolve(self, secret: str | None) -> KeyContext:
        """The key's context, or a RelayError (401) for a missing/unknown/disabled/expired key."""
        if not secret:
            raise errors.missing_key()
        digest = hash_api_key(secret)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is None or hit[1] <= now:
            async with self._sessionmaker() as session:
                ctx = await authenticate(session, secret)
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            hit = (ctx, now + (self._ttl if ctx else NEGATIVE_TTL))
            self._cache[digest] = hit
        ctx = hit[0]
        if ctx is None or (ctx.expires_at is not None and ctx.expires_at.timestamp() <= time.time()):
            raise errors.invalid_key()
        return ctx
