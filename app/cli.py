"""The operator CLI: ``waystation``. Every command takes ``--json`` for scripts."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import msgspec
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrations
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.errors import AppError
from app.lib.crypto import SecretBox
from app.relay.channels import CHANNEL_TYPES, ChannelIn
from app.relay.channels import service as channels
from app.tenants.accounts import ensure_root_account
from app.tenants.keys import create_key

T = TypeVar("T")


def _run(settings: Settings, work: Callable[[AsyncSession, SecretBox], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session, SecretBox(settings.secret_key))
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _emit(as_json: bool, payload: Any, human: str) -> None:
    click.echo(msgspec.json.encode(payload).decode() if as_json else human)


def _fail(as_json: bool, message: str, code: int = 1) -> None:
    if as_json:
        click.echo(msgspec.json.encode({"error": message}).decode(), err=True)
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group()
def main() -> None:
    """Waystation: one endpoint, one key and one bill in front of many model providers."""


@main.command()
@json_option
def migrate(as_json: bool) -> None:
    """Apply database migrations; on a fresh database also create the root account and the demo channel."""
    settings = Settings.from_env()
    migrations.upgrade(settings)

    async def bootstrap(session: AsyncSession, box: SecretBox) -> dict[str, Any]:
        root = await ensure_root_account(session)
        demo = await channels.ensure_demo_channel(session, box)
        return {"root_account_id": root.id, "demo_channel_created": demo is not None}

    result = _run(settings, bootstrap)
    human = "database is up to date"
    if result["demo_channel_created"]:
        human += "; added the built-in 'demo' channel (model 'demo-1')"
    _emit(as_json, {"status": "ok", **result}, human)


@main.group(name="channels")
def channels_group() -> None:
    """Upstream channels (provider accounts)."""


@channels_group.command(name="add")
@click.option("--name", required=True)
@click.option("--type", "channel_type", required=True, type=click.Choice(CHANNEL_TYPES))
@click.option("--base-url", default=None, help="Provider base URL (OpenAI-compatible: include /v1).")
@click.option("--api-key", "api_keys", multiple=True, help="Upstream API key (repeat for several).")
@click.option("--models", required=True, help="Comma-separated public model names.")
@click.option("--map", "maps", multiple=True, help="public=upstream model name (repeatable).")
@click.option("--priority", default=0, type=int, help="Higher is tried first.")
@click.option("--weight", default=1, type=int, help="Traffic share within the same priority.")
@click.option("--api-version", default=None, help="Azure OpenAI api-version.")
@click.option("--first-byte-timeout", default=60.0, type=float)
@json_option
def channels_add(name: str, channel_type: str, base_url: str | None, api_keys: tuple[str, ...], models: str,
                 maps: tuple[str, ...], priority: int, weight: int, api_version: str | None,
                 first_byte_timeout: float, as_json: bool) -> None:
    """Add an upstream channel. Its API keys are encrypted at rest."""
    model_map: dict[str, str] = {}
    for item in maps:
        public, sep, upstream = item.partition("=")
        if not sep or not public or not upstream:
            _fail(as_json, f"--map expects public=upstream, got {item!r}", 2)
        model_map[public.strip()] = upstream.strip()
    try:
        data = msgspec.convert(dict(
            name=name, type=channel_type, base_url=base_url, api_keys=list(api_keys),
            models=[m.strip() for m in models.split(",") if m.strip()], model_map=model_map,
            priority=priority, weight=weight, api_version=api_version, first_byte_timeout=first_byte_timeout,
        ), ChannelIn)
        view = _run(Settings.from_env(), lambda s, box: channels.add_channel(s, box, data))
    except (AppError, msgspec.ValidationError) as exc:
        _fail(as_json, str(exc))
        return
    _emit(as_json, view, f"added channel {view.id} '{view.name}' ({view.type}) serving {', '.join(view.models)}")


@channels_group.command(name="list")
@json_option
def channels_list(as_json: bool) -> None:
    """List channels (keys are never shown)."""
    views = _run(Settings.from_env(), lambda s, _box: channels.list_channels(s))
    lines = [f"{'ID':>4}  {'NAME':<20} {'TYPE':<10} {'PRI':>4} {'WT':>4} {'ON':<3} {'KEYS':>4}  MODELS"]
    for v in views:
        lines.append(f"{v.id:>4}  {v.name:<20} {v.type:<10} {v.priority:>4} {v.weight:>4} "
                     f"{'yes' if v.enabled else 'no':<3} {v.key_count:>4}  {', '.join(v.models)}")
    _emit(as_json, views, "\n".join(lines))


@main.group(name="keys")
def keys_group() -> None:
    """API keys."""


@keys_group.command(name="create")
@click.option("--name", required=True)
@click.option("--models", default=None, help="Comma-separated allowlist of models (default: all).")
@click.option("--admin", is_flag=True, help="Also allow the operator API under /api/v1.")
@json_option
def keys_create(name: str, models: str | None, admin: bool, as_json: bool) -> None:
    """Create an API key on the operator account. The key is printed once and never stored."""
    allow = [m.strip() for m in models.split(",") if m.strip()] if models else None

    async def work(session: AsyncSession, _box: SecretBox):  # type: ignore[no-untyped-def]
        root = await ensure_root_account(session)
        return await create_key(session, account_id=root.id, name=name, models=allow, is_admin=admin)

    created = _run(Settings.from_env(), work)
    human = (f"{created.secret}\n\nThis is the only time the key is shown. Store it now.\n"
             f"(key {created.key.id} '{created.key.name}', prefix {created.key.prefix})")
    _emit(as_json, created, human)


@main.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@click.option("--workers", default=1, type=int)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the API (uvicorn)."""
    settings = Settings.from_env()
    uvicorn.run("app.asgi:create_app", factory=True, host=host or settings.host, port=port or settings.port,
                workers=workers, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
