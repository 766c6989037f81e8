"""Dependencies of the operator API: a transactional DB session and the admin caller."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Forbidden, Unauthorized
from app.relay.auth import extract_key
from app.relay.errors import RelayError
from app.relay.state import RelayState
from app.tenants.keys import KeyContext


async def provide_session(relay: NamedDependency[RelayState]) -> AsyncGenerator[AsyncSession, None]:
    """One session per request, committed once at the boundary when the handler succeeds."""
    async with relay.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def provide_admin(request: Request, relay: NamedDependency[RelayState]) -> KeyContext:
    try:
        key = await relay.keys.resolve(extract_key(request))
    except RelayError as exc:
        raise Unauthorized(exc.error.message) from None
    if not key.is_admin:
        raise Forbidden("this API key is not an operator key")
    return key
