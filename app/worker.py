"""The arq worker (``worker`` in the Procfile): background jobs for production deployments.

Web processes reconcile holds themselves every few seconds; the worker does it too, so holds of
replicas that died are resolved even when no web process is running. Shared clients are created
in ``on_startup``, kept in ``ctx`` and closed in ``on_shutdown``.
"""

from __future__ import annotations

from typing import Any

from arq import cron, run_worker
from arq.connections import RedisSettings

from app import logs
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.jobs import reconcile_funds
from app.tenants.funds.factory import create_funds


async def startup(ctx: dict[str, Any]) -> None:
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    engine = create_engine(settings)
    ctx["engine"] = engine
    ctx["funds"] = create_funds(settings, create_sessionmaker(engine))


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["funds"].aclose()
    await ctx["engine"].dispose()


async def reconcile_holds(ctx: dict[str, Any]) -> int:
    """Resolve expired holds against the ledger and re-sync wallet mirrors."""
    return await reconcile_funds(ctx["funds"])


class WorkerSettings:
    """arq configuration. ``redis_settings`` is supplied at run time by ``waystation worker``."""

    functions = [reconcile_holds]
    cron_jobs = [cron(reconcile_holds, second={0, 10, 20, 30, 40, 50}, run_at_startup=True)]
    on_startup = startup
    on_shutdown = shutdown


def run(settings: Settings) -> None:
    """Run the worker until stopped (blocking)."""
    if not settings.redis_url:
        raise SystemExit("the worker needs REDIS_URL; in embedded mode the web process runs these jobs itself")
    run_worker(WorkerSettings, redis_settings=RedisSettings.from_dsn(settings.redis_url))  # type: ignore[arg-type]
