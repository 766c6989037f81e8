"""Operator API: accounts, credit, balances, margins and CSV exports, scoped to the caller's subtree."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.schemas import AccountIn, BalanceView, CreditIn, LimitsIn, RoutingIn, micro
from app.admin.scope import account_in_scope
from app.errors import Forbidden, InvalidInput
from app.lib import csvtext
from app.lib.clock import parse_period
from app.relay.state import RelayState
from app.tenants import accounts, ledger, usage
from app.tenants.accounts import AccountView
from app.tenants.keys import KeyContext
from app.tenants.ledger import MarginReport, TransactionView

From = Annotated[str, QueryParameter(name="from", description="First day (YYYY-MM-DD) or ISO datetime, UTC.")]
To = Annotated[str, QueryParameter(name="to", description="Last day, included (or an exclusive ISO datetime).")]


def _period(start: str, end: str) -> tuple[datetime, datetime]:
    try:
        return parse_period(start, end)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _csv(name: str, header: tuple[str, ...], rows: list[tuple[object, ...]]) -> Response[str]:
    return Response(csvtext.render(header, rows), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


class AccountController(Controller):
    path = "/accounts"
    tags = ["accounts"]

    @post("/")
    async def create_account(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                             data: JSONBody[AccountIn]) -> AccountView:
        parent = await account_in_scope(db, admin, data.parent_id if data.parent_id is not None else admin.account_id)
        return await accounts.create_account(db, parent.id, data.name, data.kind)

    @get("/")
    async def list_accounts(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                            parent_id: FromQuery[int | None] = None) -> list[AccountView]:
        if parent_id is not None:
            await account_in_scope(db, admin, parent_id)
            return await accounts.list_accounts(db, parent_id=parent_id)
        return await accounts.list_accounts(db, within=admin.account_id)

    @get("/{account_id:int}")
    async def get_account(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                          account_id: FromPath[int]) -> AccountView:
        return await account_in_scope(db, admin, account_id)

    @post("/{account_id:int}/credit")
    async def grant_credit(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                           relay: NamedDependency[RelayState], account_id: FromPath[int],
                           data: JSONBody[CreditIn]) -> TransactionView:
        account = await account_in_scope(db, admin, account_id)
        if account.id == admin.account_id:
            raise Forbidden("credit comes from an account's parent: a key cannot credit its own account")
        amount = micro("amount_usd", data.amount_usd) or 0
        key = f"grant:{data.idempotency_key}" if data.idempotency_key else None
        posted = await ledger.grant_credit(db, account.id, amount, data.reason, key)
        await db.commit()
        await relay.billing.funds.refresh([account.id])  # the relay sees the new balance at once
        return posted

    @put("/{account_id:int}/limits")
    async def set_limits(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                         relay: NamedDependency[RelayState], account_id: FromPath[int],
                         data: JSONBody[LimitsIn]) -> AccountView:
        """Rate limits over this account's traffic (a reseller's: its whole subtree). Keys pick
        them up when their cached context expires (30 s), on every replica."""
        account = await account_in_scope(db, admin, account_id)
        if account.id == admin.account_id:
            raise Forbidden("an account's limits are set by its parent")
        view = await accounts.set_limits(db, account.id, rpm=data.rpm, tpm=data.tpm,
                                         max_concurrency=data.max_concurrency)
        await db.commit()
        relay.keys.forget_all()
        return view

    @put("/{account_id:int}/routing")
    async def set_routing(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                          relay: NamedDependency[RelayState], account_id: FromPath[int],
                          data: JSONBody[RoutingIn]) -> AccountView:
        """How channels are ordered for this account's requests, overriding the model's strategy."""
        account = await account_in_scope(db, admin, account_id)
        view = await accounts.set_routing_strategy(db, account.id, data.strategy)
        await db.commit()
        relay.keys.forget_all()
        return view

    @get("/{account_id:int}/balance")
    async def get_balance(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                          account_id: FromPath[int]) -> BalanceView:
        account = await account_in_scope(db, admin, account_id)
        return BalanceView.of(account.id, await ledger.balance(db, account.id))

    @get("/{account_id:int}/margin")
    async def get_margin(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                         account_id: FromPath[int], start: From, end: To) -> MarginReport:
        account = await account_in_scope(db, admin, account_id)
        return await ledger.margin(db, account.id, *_period(start, end))

    @get("/{account_id:int}/usage.csv", media_type="text/csv")
    async def export_usage(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                           account_id: FromPath[int], start: From, end: To) -> Response[str]:
        account = await account_in_scope(db, admin, account_id)
        rows = await usage.usage_rows(db, account.id, *_period(start, end))
        return _csv(f"usage-{account.id}-{start}-{end}.csv", usage.USAGE_CSV_HEADER, rows)

    @get("/{account_id:int}/ledger.csv", media_type="text/csv")
    async def export_ledger(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                            account_id: FromPath[int], start: From, end: To) -> Response[str]:
        account = await account_in_scope(db, admin, account_id)
        rows = await ledger.statement_rows(db, account.id, *_period(start, end))
        return _csv(f"ledger-{account.id}-{start}-{end}.csv", ledger.LEDGER_CSV_HEADER, rows)
