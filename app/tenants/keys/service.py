"""API keys: created once (the plaintext is returned exactly once), stored as hashes."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.lib.clock import utcnow
from app.lib.crypto import hash_api_key, new_api_key, visible_prefix
from app.models import ApiKey, path_ids
from app.tenants.accounts import get_account
from app.tenants.keys import repository
from app.tenants.keys.schemas import KeyContext, KeyView

MAX_ALLOWLIST = 100


class CreatedKey(msgspec.Struct):
    key: KeyView
    #: The secret key. Shown to its owner once, never stored.
    secret: str


def _view(row: ApiKey) -> KeyView:
    return KeyView(
        id=row.id, account_id=row.account_id, name=row.name, prefix=row.prefix, models=row.models,
        is_admin=row.is_admin, disabled=row.disabled, created_at=row.created_at, expires_at=row.expires_at,
        ip_allowlist=row.ip_allowlist, spend_cap_total=row.spend_cap_total, spend_cap_day=row.spend_cap_day,
        spend_cap_month=row.spend_cap_month, rpm=row.rpm, tpm=row.tpm, max_concurrency=row.max_concurrency,
        cache_ttl=row.cache_ttl,
    )


def normalise_allowlist(cidrs: Sequence[str] | None) -> list[str] | None:
    """Validate CIDRs (a bare address is a /32 or /128) and normalise them ("10.0.0.7/8" -> "10.0.0.0/8")."""
    if cidrs is None:
        return None
    if len(cidrs) > MAX_ALLOWLIST:
        raise InvalidInput(f"ip_allowlist holds at most {MAX_ALLOWLIST} networks")
    out: list[str] = []
    for cidr in cidrs:
        try:
            net = str(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise InvalidInput(f"ip_allowlist: {cidr!r} is not an IP address or CIDR network") from None
        if net not in out:
            out.append(net)
    if not out:
        raise InvalidInput("ip_allowlist must not be empty (leave it out to allow any address)")
    return out


def _check_limits(**limits: int | None) -> None:
    for name, value in limits.items():
        if value is None:
            continue
        if name.startswith("spend_cap") and value < 0:
            raise InvalidInput(f"{name} must not be negative")
        if not name.startswith("spend_cap") and value < 1:
            raise InvalidInput(f"{name} must be at least 1")


async def create_key(session: AsyncSession, *, account_id: int, name: str, models: list[str] | None = None,
                     is_admin: bool = False, expires_at: datetime | None = None,
                     ip_allowlist: Sequence[str] | None = None, spend_cap_total: int | None = None,
                     spend_cap_day: int | None = None, spend_cap_month: int | None = None, rpm: int | None = None,
                     tpm: int | None = None, max_concurrency: int | None = None,
                     cache_ttl: int | None = None) -> CreatedKey:
    """Create a key for any account. Spend caps are micro-units; None means no cap/limit. Does not commit."""
    await get_account(session, account_id)
    _check_limits(spend_cap_total=spend_cap_total, spend_cap_day=spend_cap_day, spend_cap_month=spend_cap_month,
                  rpm=rpm, tpm=tpm, max_concurrency=max_concurrency)
    if cache_ttl is not None and not 0 < cache_ttl <= 86_400:
        raise InvalidInput("cache_ttl must be between 1 and 86400 seconds")
    secret = new_api_key()
    row = ApiKey(cache_ttl=cache_ttl, 
        account_id=account_id, name=name, prefix=visible_prefix(secret), key_hash=hash_api_key(secret),
        models=sorted(set(models)) if models else None, is_admin=is_admin, disabled=False, expires_at=expires_at,
        ip_allowlist=normalise_allowlist(ip_allowlist), spend_cap_total=spend_cap_total,
        spend_cap_day=spend_cap_day, spend_cap_month=spend_cap_month, rpm=rpm, tpm=tpm,
        max_concurrency=max_concurrency,
    )
    session.add(row)
    await session.flush()
    return CreatedKey(key=_view(row), secret=secret)


async def list_keys(session: AsyncSession, account_id: int) -> list[KeyView]:
    """Keys of one account, without secrets."""
    return [_view(row) for row in await repository.for_account(session, account_id)]


async def authenticate(session: AsyncSession, secret: str) -> KeyContext | None:
    """The context of a usable key, or None for unknown, disabled or expired keys."""
    found = await repository.by_hash_with_path(session, hash_api_key(secret))
    if found is None:
        return None
    row, path = found
    if row.disabled:
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
        chain=path_ids(path), ip_allowlist=tuple(row.ip_allowlist) if row.ip_allowlist is not None else None,
        spend_cap_total=row.spend_cap_total, spend_cap_day=row.spend_cap_day, spend_cap_month=row.spend_cap_month,
        rpm=row.rpm, tpm=row.tpm, max_concurrency=row.max_concurrency, cache_ttl=row.cache_ttl,
        account_limits=await repository.chain_limits(session, path_ids(path)[1:]),
        routing_strategy=await repository.routing_strategy(session, row.account_id),
    )
