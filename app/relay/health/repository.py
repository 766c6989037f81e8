"""Queries on channel events. Functions take the session; the caller commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import ChannelEvent

log = logging.getLogger("waystation.health")

#: The events that start and end an auto-disabled period.
_DISABLE_EDGES = ("auto_disabled", "re_enabled")


async def add_event(session: AsyncSession, channel_id: int, kind: str, detail: str,
                    created_at: datetime | None = None) -> ChannelEvent:
    """Append one operator event (``detail``: status codes and error kinds, never prompt text)."""
    event = ChannelEvent(channel_id=channel_id, kind=kind, detail=detail)
    if created_at is not None:
        event.created_at = created_at
    session.add(event)
    await session.flush()
    return event


async def add_events(session: AsyncSession, events: Iterable[ChannelEvent]) -> None:
    session.add_all(list(events))
    await session.flush()


async def recent_events(session: AsyncSession, channel_id: int | None = None,
                        limit: int = 100) -> Sequence[ChannelEvent]:
    """The latest events, newest first, of one channel or of all."""
    stmt = select(ChannelEvent).order_by(ChannelEvent.id.desc()).limit(limit)
    if channel_id is not None:
        stmt = stmt.where(ChannelEvent.channel_id == channel_id)
    return (await session.execute(stmt)).scalars().all()


async def disabled_channels(session: AsyncSession) -> dict[int, str]:
    """Channels whose latest auto_disabled / re_enabled event is an auto_disabled: channel id ->
    that event's detail. Lets a restarted process (or a flushed Redis) keep them out of service."""
    last = (select(ChannelEvent.channel_id, func.max(ChannelEvent.id).label("last_id"))
            .where(ChannelEvent.kind.in_(_DISABLE_EDGES))
            .group_by(ChannelEvent.channel_id).subquery())
    stmt = (select(ChannelEvent.channel_id, ChannelEvent.detail)
            .join(last, ChannelEvent.id == last.c.last_id)
            .where(ChannelEvent.kind == "auto_disabled"))
    return {channel_id: detail for channel_id, detail in (await session.execute(stmt)).all()}


async def disabled_at_start(sessionmaker: async_sessionmaker[AsyncSession] | None) -> dict[int, str]:
    """``disabled_channels`` for a health book starting up; {} (logged) when there is no database or
    the event log cannot be read, which must not stop the relay from starting."""
    if sessionmaker is None:
        return {}
    try:
        async with sessionmaker() as session:
            return await disabled_channels(session)
    except Exception:  # noqa: BLE001 - a missing table must not stop the relay from starting
        log.exception("could not read auto-disabled channels from the event log")
        return {}
