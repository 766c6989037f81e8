"""Fixtures for the money core: a migrated database per backend, sessions on it, and a helper to
grow account trees. Each test builds its own accounts, so tests share one database per backend;
tests that tamper with the ledger get a database of their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import migrations
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.tenants.accounts import AccountView, create_account, ensure_root_account
from tests.support.backends import backend_settings


def migrate(settings: Settings) -> None:
    # Alembic's async env runs its own event loop: keep it off the test loop's thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(migrations.upgrade, settings).result()


@pytest.fixture(scope="session")
def money_settings(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with backend_settings(backend, tmp_path_factory.mktemp(f"money-{backend}")) as settings:
        migrate(settings)
        yield settings


@pytest.fixture(scope="session")
async def sessions(money_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(money_settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as s:
        yield s
        await s.rollback()


@pytest.fixture
def fresh_settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    """A migrated database for this test alone (for tests that corrupt the ledger on purpose)."""
    with backend_settings(backend, tmp_path) as settings:
        migrate(settings)
        yield settings


@pytest.fixture
async def fresh_sessions(fresh_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(fresh_settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def build_tree(session: AsyncSession, shape: dict[str, tuple[str | None, str]]) -> dict[str, AccountView]:
    """``{"R": (None, "reseller"), "C": ("R", "customer")}`` -> accounts by label (None: under the root).
    Parents must come before their children. Names are unique per call."""
    root = await ensure_root_account(session)
    tag = uuid.uuid4().hex[:6]
    made: dict[str, AccountView] = {}
    for label, (parent, kind) in shape.items():
        parent_id = made[parent].id if parent else root.id
        made[label] = await create_account(session, parent_id, f"{label}-{tag}", kind)
    return made


def model_name() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"
