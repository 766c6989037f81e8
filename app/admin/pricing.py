"""Operator API: catalog prices (root only), reseller overrides and markups, effective prices.

Model names may contain "/" ("deepseek-ai/DeepSeek-V3"), hence ``{model:path}`` parameters (which
arrive with a leading "/").
"""

from __future__ import annotations

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.schemas import MarkupIn, PriceIn
from app.admin.scope import account_in_scope, require_root
from app.errors import InvalidInput
from app.relay.state import RelayState
from app.tenants.keys import KeyContext
from app.tenants.pricing import CatalogEntryView, ChannelPriceView, EffectivePrice, OverrideView, PriceBookView
from app.tenants.pricing import service as prices


async def prices_changed(db: AsyncSession, relay: RelayState) -> None:
    """Commit, then make this process's relay reload its price table at once (other replicas
    pick the change up within the table's TTL). Committing first means a reload can never see
    the old prices and then be taken for fresh."""
    await db.commit()
    relay.billing.prices.invalidate()


class PriceController(Controller):
    path = "/prices"
    tags = ["prices"]

    @get("/")
    async def list_catalog(self, db: NamedDependency[AsyncSession],
                           admin: NamedDependency[KeyContext]) -> list[CatalogEntryView]:
        await require_root(db, admin)
        return await prices.list_catalog(db)

    @put("/{model:path}")
    async def set_catalog_price(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                                relay: NamedDependency[RelayState], model: FromPath[str],
                                data: JSONBody[PriceIn]) -> CatalogEntryView:
        await require_root(db, admin)
        view = await prices.set_catalog_price(db, model.lstrip("/"), data.prices(),
                                              max_output_tokens=data.max_output_tokens, enabled=data.enabled)
        await prices_changed(db, relay)
        return view


class AccountPriceController(Controller):
    path = "/accounts/{account_id:int}"
    tags = ["prices"]

    @get("/prices")
    async def effective_prices(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                               account_id: FromPath[int]) -> list[EffectivePrice]:
        account = await account_in_scope(db, admin, account_id)
        return await prices.effective_prices(db, account.id)

    @put("/prices/{model:path}")
    async def set_override(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                           relay: NamedDependency[RelayState], account_id: FromPath[int], model: FromPath[str],
                           data: JSONBody[PriceIn]) -> OverrideView:
        account = await account_in_scope(db, admin, account_id)
        if data.max_output_tokens is not None or data.enabled is not None:
            raise InvalidInput("max_output_tokens and enabled belong to the catalog price (PUT /prices/{model})")
        view = await prices.set_price_override(db, account.id, model.lstrip("/"), data.prices())
        await prices_changed(db, relay)
        return view

    @put("/markup")
    async def set_markup(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                         relay: NamedDependency[RelayState], account_id: FromPath[int],
                         data: JSONBody[MarkupIn]) -> PriceBookView:
        account = await account_in_scope(db, admin, account_id)
        view = await prices.set_markup(db, account.id, data.markup_bps)
        if data.offered_models is not msgspec.UNSET:
            view = await prices.set_offered_models(db, account.id, data.offered_models)
        await prices_changed(db, relay)
        return view


class ChannelPriceController(Controller):
    path = "/channels/{channel_id:int}/prices"
    tags = ["prices"]

    @put("/{model:path}")
    async def set_channel_price(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                                relay: NamedDependency[RelayState], channel_id: FromPath[int], model: FromPath[str],
                                data: JSONBody[PriceIn]) -> ChannelPriceView:
        """What the channel's provider charges for ``model``: the upstream cost the root pays."""
        await require_root(db, admin)
        if data.max_output_tokens is not None or data.enabled is not None:
            raise InvalidInput("max_output_tokens and enabled belong to the catalog price (PUT /prices/{model})")
        view = await prices.set_channel_price(db, channel_id, model.lstrip("/"), data.prices())
        await prices_changed(db, relay)
        return view
