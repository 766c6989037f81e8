"""API keys: created once (the plaintext is returned exactly once), stored as hashes."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.lib.clock import utcnow
from app.lib.crypto import hash_api_key, new_api_key, visible_prefix
from app.models import ApiKey
from app.tenants.keys import repository
from app.tenants.keys.schemas import KeyContext, KeyView


class CreatedKey(msgspec.Struct):
    key: KeyView
    #: The secret key. Shown to its owner once, never stored.
    secret: str


def _view(row: ApiKey) -> KeyView:
    return KeyView(
        id=row.id, account_id=row.account_id, name=row.name, prefix=row.prefix, models=row.models,
        is_admin=row.is_admin, disabled=row.disabled, created_at=row.created_at, expires_at=row.expires_at,
    )


async def create_key(session: AsyncSession, *, account_id: int, name: str, models: list[str] | None = None,
                     is_admin: bool = False, expires_at: datetime | None = None) -> CreatedKey:
    """Create a key for an account. Does not commit."""
    secret = new_api_key()
    row = ApiKey(
        account_id=account_id, name=name, prefix=visible_prefix(secret), key_hash=hash_api_key(secret),
        models=sorted(set(models)) if models else None, is_admin=is_admin, disabled=False, expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return CreatedKey(key=_view(row), secret=secret)


async def list_keys(session: AsyncSession, account_id: int) -> list[KeyView]:
    """Keys of one account, without secrets."""
    return [_view(row) for row in await repository.for_account(session, account_id)]


async def authenticate(session: AsyncSession, secret: str) -> KeyContext | None:
    """The context of a usable key, or None for unknown, disabled or expired keys."""
    row = await repository.by_hash(session, hash_api_key(secret))
    if row is None or row.disabled:
        return None
    expires = row.expires_at
    if expires is not None:
        if expires.tzinfo is None:  # SQLite returns naive datetimes
            expires = expires.replace(tzinfo=utcnow().tzinfo)
        if expires <= utcnow():
            return None
    return KeyContext(
        key_id=row.id, account_id=row.account_id, name=row.name,
        models=frozenset(row.models) if row.models else None, is_admin=row.is_admin, expires_at=expires,
    )
