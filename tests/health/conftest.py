"""Fixtures for channel health: a fake clock, both health books (in-process and Redis, with
several "replicas" sharing one Redis namespace), a migrated SQLite database for operator events,
and routes to fake providers."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.models import ChannelEvent
from app.relay.channels import Route
from app.relay.channels.schemas import PROTOCOL_OF
from app.relay.health import HealthBook, HealthPolicy, LocalHealth, RedisHealth
from tests.support.backends import sqlite_settings
from tests.support.harness import prepare_database
from tests.support.services import REDIS_URL, require


class FakeClock:
    """Seconds since the epoch that only move when told to."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def channel_id() -> int:
    """A channel id no other test uses (the event database is shared by the module)."""
    return random.randrange(1, 2**31 - 1)


def make_route(cid: int, type_: str, base_url: str, key: str = "", **fields: Any) -> Route:
    values: dict[str, Any] = {
        "id": cid, "name": f"ch-{cid}", "type": type_, "protocol": PROTOCOL_OF[type_], "base_url": base_url,
        "keys": (key,) if key else (), "models": frozenset({"m"}), "model_map": {}, "priority": 0, "weight": 1,
        "api_version": None, "connect_timeout": 5.0, "first_byte_timeout": 60.0, "idle_timeout": 60.0,
        "total_timeout": 600.0,
    }
    values.update(fields)
    return Route(**values)


# ---------------------------------------------------------------------- database


@pytest.fixture(scope="session")
def health_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with sqlite_settings(tmp_path_factory.mktemp("health")) as settings:
        # Alembic (and the bootstrap) run their own event loops: keep them off the test loop's thread.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(prepare_database, settings).result()
        yield settings


@pytest.fixture(scope="session")
async def sessions(health_db: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(health_db)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def events_of(sessions: async_sessionmaker[AsyncSession], cid: int) -> list[tuple[str, str]]:
    async with sessions() as session:
        rows = (await session.execute(select(ChannelEvent).where(ChannelEvent.channel_id == cid)
                                      .order_by(ChannelEvent.id))).scalars().all()
    return [(r.kind, r.detail) for r in rows]


# ---------------------------------------------------------------------- health books

BookFactory = Callable[..., HealthBook]


@pytest.fixture(params=["local", "redis"])
async def make_book(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[BookFactory]:
    """``make_book(sessionmaker=None, policy=None, refresh_every=0.5)``: a health book of the
    parametrised kind. Redis books made in one test share a namespace: they are replicas."""
    books: list[HealthBook] = []
    prefix = f"wst:{uuid.uuid4().hex[:8]}:"
    if request.param == "redis":
        require("Redis", REDIS_URL)

    def make(sessionmaker: async_sessionmaker[AsyncSession] | None = None, policy: HealthPolicy | None = None,
             refresh_every: float = 0.5) -> HealthBook:
        book: HealthBook
        if request.param == "local":
            book = LocalHealth(sessionmaker, policy=policy, clock=clock)
        else:
            book = RedisHealth(Redis.from_url(REDIS_URL), sessionmaker, policy=policy, clock=clock, prefix=prefix,
                               refresh_every=refresh_every)
        books.append(book)
        return book

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for book in books:
        await book.aclose()
    if request.param == "redis":
        redis = Redis.from_url(REDIS_URL)
        keys = [k async for k in redis.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest.fixture
async def make_replicas(clock: FakeClock) -> AsyncIterator[Callable[..., RedisHealth]]:
    """``make_replicas(sessionmaker=None, refresh_every=0.1, clock_=None, policy=None,
    flush_every=0.1, redis=None)``: RedisHealth instances sharing one namespace."""
    require("Redis", REDIS_URL)
    prefix = f"wst:{uuid.uuid4().hex[:8]}:"
    books: list[RedisHealth] = []

    def make(sessionmaker: async_sessionmaker[AsyncSession] | None = None, refresh_every: float = 0.1,
             clock_: Callable[[], float] | None = None, policy: HealthPolicy | None = None,
             flush_every: float = 0.1, redis: Redis | None = None) -> RedisHealth:
        book = RedisHealth(redis or Redis.from_url(REDIS_URL), sessionmaker, clock=clock_ or clock, prefix=prefix,
                           refresh_every=refresh_every, policy=policy, flush_every=flush_every)
        books.append(book)
        return book

    yield make
    for book in books:
        await book.aclose()
    redis = Redis.from_url(REDIS_URL)
    keys = [k async for k in redis.scan_iter(match=prefix + "*", count=500)]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
