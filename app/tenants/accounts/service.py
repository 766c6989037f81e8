"""The account tree."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account
from app.tenants.accounts import repository

ROOT_NAME = "Operator"


async def ensure_root_account(session: AsyncSession) -> Account:
    """Return the root (operator) account, creating it on a fresh database. Does not commit."""
    root = await repository.get_root(session)
    if root is None:
        root = Account(name=ROOT_NAME, kind="root", parent_id=None)
        session.add(root)
        await session.flush()
    return root
