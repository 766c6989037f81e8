"""CLI commands for the money core: accounts, credit, prices, balances, the ledger and exports."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli_support import _emit, _fail, json_option, run_or_fail, usd_or_fail
from app.lib import csvtext
from app.lib.clock import parse_period
from app.lib.crypto import SecretBox
from app.lib.money import format_usd
from app.tenants import accounts, ledger, usage
from app.tenants.pricing import Prices
from app.tenants.pricing import service as prices_service


@click.group(name="accounts")
def accounts_group() -> None:
    """The account tree: root -> resellers -> customers."""


@accounts_group.command(name="create")
@click.option("--name", required=True)
@click.option("--parent", "parent_id", default=None, type=int, help="Parent account (default: the root).")
@click.option("--kind", required=True, type=click.Choice(["reseller", "customer"]))
@json_option
def accounts_create(name: str, parent_id: int | None, kind: str, as_json: bool) -> None:
    """Create a reseller or a customer under a reseller (or the root)."""
    view = run_or_fail(as_json, lambda s, _box: accounts.create_account(s, parent_id, name, kind))
    _emit(as_json, view, f"created {view.kind} {view.id} '{view.name}' under {view.parent_id} (path {view.path})")


@accounts_group.command(name="list")
@click.option("--parent", "parent_id", default=None, type=int, help="Only the direct children of this account.")
@json_option
def accounts_list(parent_id: int | None, as_json: bool) -> None:
    """List accounts (the whole tree, or one account's children) with their wallet balances."""

    async def work(session: AsyncSession, _box: SecretBox):  # type: ignore[no-untyped-def]
        views = await accounts.list_accounts(session, parent_id=parent_id)
        return views, await ledger.balances(session, [v.id for v in views])

    views, wallets = run_or_fail(as_json, work)
    lines = [f"{'ID':>5}  {'PARENT':>6}  {'KIND':<9} {'BALANCE USD':>16}  NAME"]
    for v in views:
        lines.append(f"{v.id:>5}  {v.parent_id or '-':>6}  {v.kind:<9} {format_usd(wallets[v.id]):>16}  "
                     f"{'  ' * v.depth}{v.name}")
    _emit(as_json, views, "\n".join(lines))


@click.group(name="credit")
def credit_group() -> None:
    """Credit given by a seller to its child's wallet."""


@credit_group.command(name="grant")
@click.argument("account_id", type=int)
@click.argument("usd")
@click.option("--reason", required=True)
@click.option("--idempotency-key", default=None, help="Granting twice with the same key grants once.")
@json_option
def credit_grant(account_id: int, usd: str, reason: str, idempotency_key: str | None, as_json: bool) -> None:
    """Grant USD of credit to ACCOUNT_ID, from its parent."""
    amount = usd_or_fail(as_json, "USD", usd) or 0
    key = f"grant:{idempotency_key}" if idempotency_key else None

    async def work(session: AsyncSession, _box: SecretBox):  # type: ignore[no-untyped-def]
        view = await ledger.grant_credit(session, account_id, amount, reason, key)
        return view, await ledger.balance(session, account_id)

    view, wallet = run_or_fail(as_json, work)
    _emit(as_json, view, f"granted {format_usd(amount)} USD to account {account_id} (transaction {view.id}); "
                         f"balance {format_usd(wallet)} USD")


@click.command(name="balance")
@click.argument("account_id", type=int)
@json_option
def balance(account_id: int, as_json: bool) -> None:
    """An account's wallet balance (held at its parent)."""

    async def work(session: AsyncSession, _box: SecretBox) -> int:
        await accounts.get_account(session, account_id)
        return await ledger.balance(session, account_id)

    wallet = run_or_fail(as_json, work)
    _emit(as_json, {"account_id": account_id, "balance": wallet, "balance_usd": format_usd(wallet)},
          f"account {account_id}: {format_usd(wallet)} USD")


@click.group(name="prices")
def prices_group() -> None:
    """Catalog prices, channel costs, reseller overrides and markups (USD per million tokens)."""


@prices_group.command(name="set")
@click.argument("model")
@click.option("--input", "input_usd", required=True, metavar="USD_PER_M")
@click.option("--output", "output_usd", required=True, metavar="USD_PER_M")
@click.option("--cache-read", "cache_read_usd", default="0", metavar="USD_PER_M")
@click.option("--cache-write", "cache_write_usd", default="0", metavar="USD_PER_M")
@click.option("--max-output", default=None, type=int, help="Output tokens reserved when a request sets no limit.")
@click.option("--account", "account_id", default=None, type=int, help="Set this reseller's override instead.")
@click.option("--channel", "channel_id", default=None, type=int, help="Set this channel's upstream cost instead.")
@json_option
def prices_set(model: str, input_usd: str, output_usd: str, cache_read_usd: str, cache_write_usd: str,
               max_output: int | None, account_id: int | None, channel_id: int | None, as_json: bool) -> None:
    """Set MODEL's catalog (base) price, or a reseller's override (--account), or a channel's cost (--channel)."""
    if account_id is not None and channel_id is not None:
        _fail(as_json, "--account and --channel are exclusive", 2)
    if max_output is not None and (account_id is not None or channel_id is not None):
        _fail(as_json, "--max-output applies to the catalog price only", 2)
    prices = Prices(input=usd_or_fail(as_json, "--input", input_usd) or 0,
                    output=usd_or_fail(as_json, "--output", output_usd) or 0,
                    cache_read=usd_or_fail(as_json, "--cache-read", cache_read_usd) or 0,
                    cache_write=usd_or_fail(as_json, "--cache-write", cache_write_usd) or 0)

    async def work(session: AsyncSession, _box: SecretBox):  # type: ignore[no-untyped-def]
        if account_id is not None:
            return await prices_service.set_price_override(session, account_id, model, prices)
        if channel_id is not None:
            return await prices_service.set_channel_price(session, channel_id, model, prices)
        return await prices_service.set_catalog_price(session, model, prices, max_output_tokens=max_output)

    view = run_or_fail(as_json, work)
    where = (f"account {account_id}'s override" if account_id is not None else
             f"channel {channel_id}'s cost" if channel_id is not None else "catalog price")
    _emit(as_json, view, f"{model}: {where} set to input {format_usd(prices.input)}, output "
                         f"{format_usd(prices.output)}, cache read {format_usd(prices.cache_read)}, cache write "
                         f"{format_usd(prices.cache_write)} USD per million tokens")


@prices_group.command(name="markup")
@click.argument("account_id", type=int)
@click.argument("bps", type=int)
@json_option
def prices_markup(account_id: int, bps: int, as_json: bool) -> None:
    """Set a reseller's markup on its own cost, in basis points (1000 = +10 %)."""
    view = run_or_fail(as_json, lambda s, _box: prices_service.set_markup(s, account_id, bps))
    _emit(as_json, view, f"account {account_id} marks up its cost by {bps / 100:g} %")


@prices_group.command(name="list")
@click.option("--account", "account_id", default=None, type=int, help="What this account pays, per model.")
@json_option
def prices_list(account_id: int | None, as_json: bool) -> None:
    """The catalog, or the prices one account pays its parent."""

    async def work(session: AsyncSession, _box: SecretBox):  # type: ignore[no-untyped-def]
        if account_id is None:
            return await prices_service.list_catalog(session)
        return await prices_service.effective_prices(session, account_id)

    views = run_or_fail(as_json, work)
    lines = [f"{'MODEL':<32} {'INPUT':>12} {'OUTPUT':>12} {'CACHE RD':>12} {'CACHE WR':>12}   (USD per million)"]
    for v in views:
        p = v.prices
        lines.append(f"{v.model:<32} {format_usd(p.input):>12} {format_usd(p.output):>12} "
                     f"{format_usd(p.cache_read):>12} {format_usd(p.cache_write):>12}")
    _emit(as_json, views, "\n".join(lines))


@click.group(name="ledger")
def ledger_group() -> None:
    """The double-entry ledger."""


@ledger_group.command(name="verify")
@json_option
def ledger_verify(as_json: bool) -> None:
    """Check every ledger invariant; exits 1 when any is violated."""
    report = run_or_fail(as_json, lambda s, _box: ledger.verify(s))
    lines = [f"{report.transactions} transactions, {report.entries} entries: "
             f"{'OK' if report.ok else f'{len(report.violations)} violation(s)'}"]
    lines += [f"  {v.kind}: {v.message}" for v in report.violations]
    _emit(as_json, report, "\n".join(lines))
    if not report.ok:
        raise SystemExit(1)


@click.command(name="export")
@click.argument("what", type=click.Choice(["usage", "ledger"]))
@click.option("--account", "account_id", required=True, type=int)
@click.option("--from", "start", required=True, metavar="DATE", help="First day (or ISO datetime), UTC.")
@click.option("--to", "end", required=True, metavar="DATE", help="Last day, included (or exclusive ISO datetime).")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the CSV here (default: standard output).")
@json_option
def export(what: str, account_id: int, start: str, end: str, out: Path | None, as_json: bool) -> None:
    """Export an account's usage (its whole subtree's requests) or its ledger entries as CSV.

    With --json and no --out, the rows are printed as JSON objects instead."""
    try:
        lo, hi = parse_period(start, end)
    except ValueError as exc:
        _fail(as_json, str(exc), 2)
    header = usage.USAGE_CSV_HEADER if what == "usage" else ledger.LEDGER_CSV_HEADER
    rows_of = usage.usage_rows if what == "usage" else ledger.statement_rows
    rows = run_or_fail(as_json, lambda s, _box: rows_of(s, account_id, lo, hi))
    if out is not None:
        out.write_text(csvtext.render(header, rows), encoding="utf-8")
        _emit(as_json, {"export": what, "rows": len(rows), "out": str(out)}, f"wrote {len(rows)} rows to {out}")
    elif as_json:
        _emit(True, [dict(zip(header, row, strict=True)) for row in rows], "")
    else:
        click.echo(csvtext.render(header, rows), nl=False)


GROUPS: tuple[click.Command, ...] = (accounts_group, credit_group, balance, prices_group, ledger_group, export)
