"""Settings for each storage backend the suite runs against."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from app.config import Settings
from tests.support.services import POSTGRES_URL, REDIS_URL, require

SECRET = "test-secret-key-for-the-suite"


@contextmanager
def sqlite_settings(tmp: Path) -> Iterator[Settings]:
    yield Settings(database_url=f"sqlite+aiosqlite:///{tmp}/waystation.db", secret_key=SECRET, data_dir=tmp,
                   probes=False)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def postgres_settings(tmp: Path) -> Iterator[Settings]:
    """A throwaway database per test session, created next to the configured one and dropped after."""
    require("PostgreSQL", POSTGRES_URL)
    require("Redis", REDIS_URL)
    name = f"waystation_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield Settings(database_url=Settings.from_env({"DATABASE_URL": f"{base}/{name}",
                                                       "WAYSTATION_SECRET_KEY": SECRET}).database_url,
                       secret_key=SECRET, redis_url=REDIS_URL, redis_prefix=f"wst{name[-10:]}:", data_dir=tmp,
                       probes=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def backend_settings(name: str, tmp: Path) -> Iterator[Settings]:
    with (sqlite_settings if name == "sqlite" else postgres_settings)(tmp) as settings:
        yield settings
