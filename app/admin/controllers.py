"""Operator API: channels and keys. Every route needs an operator (admin) key; channels are the
platform's, so only the root's keys manage them."""

from __future__ import annotations

import logging

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.deps import provide_admin, provide_session
from app.admin.schemas import KeyIn, micro
from app.admin.scope import account_in_scope, require_root
from app.errors import AppError
from app.relay.channels import ChannelIn, ChannelPatch, ChannelView
from app.relay.channels import service as channels
from app.relay.health import ChannelHealth
from app.relay.state import RelayState
from app.tenants.keys import CreatedKey, KeyContext, create_key, list_keys
from app.tenants.keys.schemas import KeyView

log = logging.getLogger("waystation.admin")


class ChannelController(Controller):
    path = "/channels"
    tags = ["channels"]

    @get("/")
    async def list_channels(
        self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext]
    ) -> list[ChannelView]:
        await require_root(db, admin)
        return await channels.list_channels(db)

    @post("/")
    async def add_channel(
        self,
        db: NamedDependency[AsyncSession],
        admin: NamedDependency[KeyContext],
        relay: NamedDependency[RelayState],
        data: JSONBody[ChannelIn],
    ) -> ChannelView:
        await require_root(db, admin)
        view = await channels.add_channel(db, relay.box, data)
        await db.commit()
        relay.directory.invalidate()
        return view

    @get("/health")
    async def channels_health(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                              relay: NamedDependency[RelayState]) -> list[ChannelHealth]:
        """Circuit state, error rates and time-to-first-byte averages of every channel seen."""
        await require_root(db, admin)
        return relay.health.all_stats()

    @get("/{channel_id:int}/health")
    async def channel_health(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext],
                             relay: NamedDependency[RelayState], channel_id: FromPath[int]) -> ChannelHealth:
        await require_root(db, admin)
        return relay.health.stats(channel_id)

    @get("/{channel_id:int}")
    async def get_channel(
        self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext], channel_id: FromPath[int]
    ) -> ChannelView:
        await require_root(db, admin)
        return await channels.get_channel(db, channel_id)

    @patch("/{channel_id:int}")
    async def update_channel(
        self,
        db: NamedDependency[AsyncSession],
        admin: NamedDependency[KeyContext],
        relay: NamedDependency[RelayState],
        channel_id: FromPath[int],
        data: JSONBody[ChannelPatch],
    ) -> ChannelView:
        await require_root(db, admin)
        view = await channels.update_channel(db, relay.box, channel_id, data)
        await db.commit()
        relay.directory.invalidate()
        return view

    @delete("/{channel_id:int}")
    async def delete_channel(
        self,
        db: NamedDependency[AsyncSession],
        admin: NamedDependency[KeyContext],
        relay: NamedDependency[RelayState],
        channel_id: FromPath[int],
    ) -> None:
        await require_root(db, admin)
        await channels.delete_channel(db, channel_id)
        await db.commit()
        relay.directory.invalidate()


class KeyController(Controller):
    path = "/keys"
    tags = ["keys"]

    @get("/")
    async def list_keys(self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext]) -> list[KeyView]:
        return await list_keys(db, admin.account_id)

    @post("/")
    async def create_key(
        self, db: NamedDependency[AsyncSession], admin: NamedDependency[KeyContext], data: JSONBody[KeyIn]
    ) -> CreatedKey:
        owner = await account_in_scope(db, admin, data.account_id if data.account_id is not None else admin.account_id)
        return await create_key(
            db, account_id=owner.id, name=data.name, models=data.models, is_admin=data.is_admin,
            expires_at=data.expires_at, ip_allowlist=data.ip_allowlist,
            spend_cap_total=micro("spend_cap_total_usd", data.spend_cap_total_usd),
            spend_cap_day=micro("spend_cap_day_usd", data.spend_cap_day_usd),
            spend_cap_month=micro("spend_cap_month_usd", data.spend_cap_month_usd),
            rpm=data.rpm, tpm=data.tpm, max_concurrency=data.max_concurrency, cache_ttl=data.cache_ttl,
        )


def internal_error_handler(request: Request, exc: Exception) -> Response[dict]:
    """HTTP errors (validation 400s, 404s, 405s) keep their status in the API's error shape; anything
    else is logged with its traceback (never a request body) and answered as a 500."""
    if isinstance(exc, HTTPException):
        return Response({"error": {"code": "invalid_input" if exc.status_code == 400 else "http_error",
                                   "message": exc.detail, "details": exc.extra or None}},
                        status_code=exc.status_code)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response({"error": {"code": "internal_error", "message": "Internal error; it has been logged."}},
                    status_code=500)


def app_error_handler(_request: object, exc: AppError) -> Response[dict]:
    return Response({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status_code)


ADMIN_DEPENDENCIES = {"db": Provide(provide_session), "admin": Provide(provide_admin)}
