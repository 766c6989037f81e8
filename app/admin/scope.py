"""Which accounts an operator key may act on: its own account's subtree, nothing above or beside it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Forbidden
from app.tenants.accounts import AccountView, get_account, visible_account
from app.tenants.keys import KeyContext


async def account_in_scope(db: AsyncSession, admin: KeyContext, account_id: int) -> AccountView:
    """``account_id`` when it is the caller's account or below it; NotFound otherwise."""
    return await visible_account(db, admin.account_id, account_id)


async def require_root(db: AsyncSession, admin: KeyContext) -> None:
    """Platform-wide actions (catalog prices, the whole ledger) are for the root's keys only."""
    if (await get_account(db, admin.account_id)).parent_id is not None:
        raise Forbidden("only an operator key of the root account may do this")
