"""Helpers shared by the CLI's command modules: run async work in one committed session, print
human or ``--json`` output, fail with a message and an exit code."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import click
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.errors import AppError
from app.lib.crypto import SecretBox
from app.lib.money import parse_usd

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


def _fail(as_json: bool, message: str, code: int = 1) -> NoReturn:
    if as_json:
        click.echo(msgspec.json.encode({"error": message}).decode(), err=True)
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


def run_or_fail(as_json: bool, work: Callable[[AsyncSession, SecretBox], Awaitable[T]]) -> T:
    """``_run`` with the environment's settings; an application error exits 1 with its message."""
    try:
        return _run(Settings.from_env(), work)
    except AppError as exc:
        _fail(as_json, exc.message)


def usd_or_fail(as_json: bool, option: str, value: str | None) -> int | None:
    """A USD option -> micro-units (None stays None); a malformed amount exits 2."""
    if value is None:
        return None
    try:
        return parse_usd(value)
    except ValueError as exc:
        _fail(as_json, f"{option}: {exc}", 2)


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
