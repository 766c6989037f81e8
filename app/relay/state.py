"""Long-lived objects the relay shares across requests, built once per application."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.lib.crypto import SecretBox
from app.relay.auth import KeyAuthenticator
from app.relay.billing import Billing
from app.relay.cache import ResponseCache
from app.relay.channels import ChannelDirectory
from app.relay.health import HealthBook
from app.relay.limits import Limiter
from app.relay.outcome import Recorder
from app.relay.planner import Planner
from app.relay.upstream.client import UpstreamClient

#: Seconds to let in-flight streams finish their bookkeeping on shutdown.
SHUTDOWN_GRACE = 10.0


@dataclass(slots=True)
class RelayState:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    box: SecretBox
    directory: ChannelDirectory
    keys: KeyAuthenticator
    upstream: UpstreamClient
    recorder: Recorder
    billing: Billing
    cache: ResponseCache
    limiter: Limiter
    planner: Planner
    health: HealthBook
    #: Background tasks (stream pumps that outlive their client); kept so they are not collected.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Let in-flight pumps finish (shutdown), each bounded by its channel's timeouts."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=SHUTDOWN_GRACE)
