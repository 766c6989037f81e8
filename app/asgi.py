"""Application factory. Nothing here reads the environment or connects at import time."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from sqlalchemy import text

from app import logs
from app.admin.accounts import AccountController
from app.admin.controllers import (
    ADMIN_DEPENDENCIES,
    ChannelController,
    KeyController,
    app_error_handler,
    internal_error_handler,
)
from app.admin.ledger import LedgerController
from app.admin.pricing import AccountPriceController, ChannelPriceController, PriceController
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.errors import AppError
from app.jobs import periodic_reconciler
from app.lib.crypto import SecretBox
from app.relay.auth import KeyAuthenticator
from app.relay.billing import Billing, BillPayload, post_settlements
from app.relay.cache import create_response_cache
from app.relay.channels import ChannelDirectory
from app.relay.controllers import anthropic, gemini, openai, v1_models
from app.relay.controllers.metrics import metrics_handler
from app.relay.health import Prober, create_health
from app.relay.journal import Journal
from app.relay.limits import create_limiter
from app.relay.metrics import Metrics
from app.relay.outcome import Recorder
from app.relay.planner import Planner, load_routing_config
from app.relay.settlement import SettlementCodec, SettlementWriter
from app.relay.state import RelayState
from app.relay.upstream import Transport, UpstreamClient
from app.relay.upstream.proxy import Proxy
from app.tenants.funds.factory import create_funds
from app.tenants.pricing import PriceTable


@get("/healthz", include_in_schema=False)
async def healthz(relay: NamedDependency[RelayState]) -> Response[dict]:
    try:
        async with relay.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - health reports any failure as unhealthy
        return Response({"status": "unhealthy", "database": type(exc).__name__}, status_code=503)
    return Response({"status": "ok"})


async def _settled_first(request: Request) -> None:
    """Operator reads see every request this process has settled: bills still on their way from
    the journal to the database are written first (usually nothing is waiting)."""
    await request.app.state.relay.billing.writer.flush()


def _seconds(ms: float | None) -> float | None:
    return ms / 1000 if ms is not None else None


def create_app(settings: Settings | None = None, *, upstream_transport: Transport | None = None) -> Litestar:
    """Build the application. ``upstream_transport`` replaces the network for upstream calls
    (tests use it to replay recorded responses without sockets)."""
    settings = settings or Settings.from_env()
    routing = load_routing_config(settings.routing)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        logs.configure(settings.log_level)
        engine = create_engine(settings)
        sessionmaker = create_sessionmaker(engine)
        box = SecretBox(settings.secret_key)
        funds = create_funds(settings, sessionmaker)
        codec = SettlementCodec(BillPayload)
        journal = Journal(settings.journal_path) if settings.journal else None
        writer = SettlementWriter(sessionmaker, funds, post_settlements, journal=journal, codec=codec)
        await writer.replay(settings.journal_path)  # what a killed process left, before serving
        writer.start()
        prices = PriceTable(sessionmaker, settings.channel_cache_ttl)
        directory = ChannelDirectory(sessionmaker, box, settings.channel_cache_ttl)
        health = create_health(settings, sessionmaker)
        await health.start()
        prober = Prober(health, directory.routes, key_for=directory.next_key) if settings.probes else None
        if prober is not None:
            prober.start()
        relay = RelayState(
            settings=settings, sessionmaker=sessionmaker, box=box,
            directory=directory,
            keys=KeyAuthenticator(sessionmaker, settings.key_cache_ttl),
            upstream=UpstreamClient(upstream_transport, proxy=Proxy.parse(settings.https_proxy, settings.no_proxy)),
            recorder=Recorder(metrics),
            billing=Billing(prices, funds, writer, settings.hold_grace),
            cache=create_response_cache(settings),
            limiter=create_limiter(settings, lease=settings.limit_lease),
            planner=Planner(routing, directory, prices, available=lambda r: health.is_available(r.id),
                            ttfb_of=lambda r: _seconds(health.stats(r.id).ewma_ttfb_ms)),
            health=health,
        )
        app.state.relay = relay
        try:
            async with periodic_reconciler(funds, settings.reconcile_every):
                yield
        finally:
            await relay.drain()
            await writer.aclose()
            await relay.cache.aclose()
            await relay.limiter.aclose()
            if prober is not None:
                await prober.aclose()
            await health.aclose()
            await funds.aclose()
            await relay.upstream.aclose()
            await engine.dispose()

    def provide_relay(request: Request) -> RelayState:
        # Not through a ``state: State`` parameter: Litestar copies the app state for that on every
        # request (~4 % of the relay's CPU under load).
        return request.app.state.relay

    operator_api = [ChannelController, KeyController, AccountController, AccountPriceController, PriceController,
                    ChannelPriceController, LedgerController]
    admin = Router(path="/api/v1", route_handlers=operator_api,
                   dependencies=ADMIN_DEPENDENCIES, before_request=_settled_first,
                   exception_handlers={AppError: app_error_handler, Exception: internal_error_handler})

    return Litestar(
        route_handlers=[healthz, metrics_handler, openai.router, anthropic.router, gemini.router,
                        v1_models.v1_model_path, admin],
        dependencies={"relay": Provide(provide_relay, sync_to_thread=False)},
        state=State({"metrics": metrics}),
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="Waystation operator API", version="0.1.0", path="/api/schema"),
        debug=False,
    )
