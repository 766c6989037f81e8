"""Operator API: the whole ledger's health (root only)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.scope import require_root
from app.tenants import ledger
from app.tenants.keys import KeyContext
from app.tenants.ledger import VerifyReport


class LedgerController(Controller):
    path = "/ledger"
    tags = ["ledger"]

    @get("/verify")
    async def verify(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext]) -> VerifyReport:
        """Every ledger invariant, checked; ``ok`` is false and ``violations`` lists them otherwise."""
        await require_root(db, admin)
        return await ledger.verify(db)
