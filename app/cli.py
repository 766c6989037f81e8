"""The operator CLI: ``waystation``. Every command takes ``--json`` for scripts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
import msgspec
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from app import cli_money, migrations
from app.cli_support import _emit, _fail, _run, json_option, run_or_fail, usd_or_fail
from app.config import Settings
from app.errors import AppError
from app.lib.crypto import SecretBox
from app.relay.channels import CHANNEL_TYPES, ChannelIn
from app.relay.channels import service as channels
from app.tenants.accounts import ensure_root_account
from app.tenants.keys import create_key
from app.worker import run as run_worker


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
@click.option("--account", "account_id", default=None, type=int, help="Owning account (default: the root).")
@click.option("--name", default="default")
@click.option("--models", default=None, help="Comma-separated allowlist of models (default: all).")
@click.option("--admin", is_flag=True, help="Also allow the operator API under /api/v1.")
@click.option("--ip-allow", "ip_allow", multiple=True, help="Allowed client IP or CIDR (repeatable).")
@click.option("--spend-cap-total", default=None, metavar="USD", help="Lifetime spend cap.")
@click.option("--spend-cap-day", default=None, metavar="USD", help="Spend cap per UTC day.")
@click.option("--spend-cap-month", default=None, metavar="USD", help="Spend cap per UTC month.")
@click.option("--rpm", default=None, type=int, help="Requests per minute.")
@click.option("--tpm", default=None, type=int, help="Tokens per minute.")
@click.option("--max-concurrency", default=None, type=int, help="Requests in flight.")
@click.option("--cache-ttl", default=None, type=int, help="Seconds to cache this key's answers (response cache).")
@click.option("--expires-at", default=None, type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              help="Expiry (UTC).")
@json_option
def keys_create(account_id: int | None, name: str, models: str | None, admin: bool, ip_allow: tuple[str, ...],
                spend_cap_total: str | None, spend_cap_day: str | None, spend_cap_month: str | None,
                rpm: int | None, tpm: int | None, max_concurrency: int | None, cache_ttl: int | None,
                expires_at: datetime | None, as_json: bool) -> None:
    """Create an API key (on the operator account unless --account). The key is printed once and never stored."""
    allow = [m.strip() for m in models.split(",") if m.strip()] if models else None
    networks = [n.strip() for item in ip_allow for n in item.split(",") if n.strip()] or None
    cap_total = usd_or_fail(as_json, "--spend-cap-total", spend_cap_total)
    cap_day = usd_or_fail(as_json, "--spend-cap-day", spend_cap_day)
    cap_month = usd_or_fail(as_json, "--spend-cap-month", spend_cap_month)
    expires = expires_at.replace(tzinfo=UTC) if expires_at else None

    async def work(session: AsyncSession, _box: SecretBox):  # type: ignore[no-untyped-def]
        owner = account_id if account_id is not None else (await ensure_root_account(session)).id
        return await create_key(session, account_id=owner, name=name, models=allow, is_admin=admin,
                                expires_at=expires, ip_allowlist=networks, spend_cap_total=cap_total,
                                spend_cap_day=cap_day, spend_cap_month=cap_month, rpm=rpm, tpm=tpm,
                                max_concurrency=max_concurrency, cache_ttl=cache_ttl)

    created = run_or_fail(as_json, work)
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


@main.command()
def worker() -> None:
    """Run the background worker (arq; needs REDIS_URL)."""
    run_worker(Settings.from_env())


for _group in cli_money.GROUPS:
    main.add_command(_group)


if __name__ == "__main__":
    main()
