"""Active probes: ask each enabled channel a cheap question on a schedule, and record the answer
in the same circuit as real traffic.

The question is the provider's model list (OpenAI-type: ``GET {base}/models``; Azure:
``GET {base}/openai/models``; Anthropic: ``GET {base}/v1/models``; Gemini:
``GET {base}/v1beta/models``) with the channel's own key, so a dead host, a revoked key or an
unpaid account all show. Demo channels are always healthy.

Closed channels are probed every ``interval`` seconds, open ones every ``open_interval`` (so
recovery is noticed fast), auto-disabled ones every ``disabled_interval``; a channel whose URL or
keys changed is probed at once. With several replicas, ``HealthBook.claim_probe`` lets only one
of them probe a channel per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from app.relay.channels import Route
from app.relay.health import classify
from app.relay.health.base import HealthBook
from app.relay.protocols import CODECS
from app.relay.upstream.endpoints import auth_headers

log = logging.getLogger("waystation.health")

#: Where the routing table comes from (e.g. the channel directory's enabled routes).
RouteSource = Callable[[], Awaitable[Sequence[Route]]]
#: Which of a channel's keys to probe with.
KeyPicker = Callable[[Route], str]


def first_key(route: Route) -> str:
    return route.keys[0] if route.keys else ""


@dataclass(frozen=True, slots=True)
class ProbeSchedule:
    #: Seconds between probes of a closed (healthy) channel.
    interval: float = 30.0
    #: ... of a channel whose circuit is open or half-open.
    open_interval: float = 1.0
    #: ... of an auto-disabled channel (its key is probably wrong: no need to hammer the provider).
    disabled_interval: float = 10.0
    #: Seconds a probe may take before it counts as a timeout.
    timeout: float = 2.5
    #: Seconds between two looks at what is due.
    tick: float = 0.25
    #: Probes in flight at once.
    concurrency: int = 16
    #: Spread the first probe of each channel over its interval (so a restart does not probe all at once).
    jitter: bool = True


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    kind: str | None = None
    status: int | None = None
    detail: str = ""
    latency_ms: float = 0.0


def probe_url(route: Route) -> str | None:
    """The model-list URL of a channel (None for the demo channel, which needs no probe)."""
    base = route.base_url.rstrip("/")
    if route.type == "demo":
        return None
    if route.type == "azure":
        return f"{base}/openai/models?api-version={route.api_version}"
    if route.protocol == "openai":
        return f"{base}/models"
    if route.protocol == "anthropic":
        return f"{base}/v1/models"
    return f"{base}/v1beta/models"


def _fingerprint(route: Route) -> tuple[object, ...]:
    return (route.type, route.base_url, route.keys, route.api_version)


class Prober:
    def __init__(self, health: HealthBook, routes: RouteSource, *, schedule: ProbeSchedule | None = None,
                 client: httpx.AsyncClient | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 key_for: KeyPicker = first_key, clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random) -> None:
        self.health = health
        self.schedule = schedule or ProbeSchedule()
        self._routes = routes
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(transport=transport, follow_redirects=False,
                                                   limits=httpx.Limits(max_connections=self.schedule.concurrency))
        self._key_for = key_for
        self._clock = clock
        self._rand = rand
        self._last: dict[int, float] = {}  # channel id -> when its last probe round started (our clock)
        self._seen: dict[int, tuple[object, ...]] = {}
        self._in_flight: dict[int, asyncio.Task[ProbeResult | None]] = {}
        self._slots = asyncio.Semaphore(self.schedule.concurrency)
        self._loop_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ one probe

    async def probe(self, route: Route) -> ProbeResult:
        """Ask the channel for its model list; classify the answer. Records nothing."""
        url = probe_url(route)
        if url is None:
            return ProbeResult(ok=True, detail="demo channel")
        headers = auth_headers(route, self._key_for(route))
        headers.pop("content-type", None)
        started = time.monotonic()
        timeout = self.schedule.timeout
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.get(url, headers=headers, timeout=httpx.Timeout(timeout))
        except (TimeoutError, httpx.TimeoutException) as exc:
            kind = classify.CONNECT if isinstance(exc, httpx.ConnectTimeout) else classify.TIMEOUT
            return ProbeResult(ok=False, kind=kind, detail=f"GET {_path(url)}: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return ProbeResult(ok=False, kind=classify.CONNECT, detail=f"GET {_path(url)}: {type(exc).__name__}")
        latency = (time.monotonic() - started) * 1000
        status = response.status_code
        if status < 400:
            return ProbeResult(ok=True, status=status, latency_ms=latency)
        error = CODECS[route.protocol].parse_error(status, response.content)
        # Reachable but not a model list (a 404 from a server without /models, a 400...) is healthy.
        kind = classify.kind_for_status(status, error)
        note = f"GET {_path(url)}: HTTP {status}" + (f" {error.code}" if error.code else "")
        return ProbeResult(ok=kind is None, kind=kind, status=status, detail=note, latency_ms=latency)

    async def probe_and_record(self, route: Route) -> ProbeResult | None:
        """Probe one channel now and feed the result to its circuit (None: the probe itself broke,
        e.g. on a malformed base URL; logged, nothing recorded)."""
        try:
            async with self._slots:
                result = await self.probe(route)
        except Exception:  # noqa: BLE001 - a broken probe says nothing about the upstream
            log.exception("probe of channel %s failed", route.id)
            return None
        await self.health.record(route.id, result.ok, kind=result.kind, probe=True, detail=result.detail)
        return result

    # ------------------------------------------------------------------ the schedule

    def _interval(self, channel_id: int) -> float:
        state = self.health.stats(channel_id).state
        if state in ("open", "half_open"):
            return self.schedule.open_interval
        if state == "disabled":
            return self.schedule.disabled_interval
        return self.schedule.interval

    async def run_once(self) -> list[asyncio.Task[ProbeResult | None]]:
        """Start the probes that are due (and claimed by this replica); returns their tasks.

        A channel is due ``interval`` seconds (by its current state) after its last probe round,
        so a circuit that opens in between is probed at the faster pace at once."""
        now = self._clock()
        routes = await self._routes()
        live = {r.id for r in routes}
        for gone in [cid for cid in self._seen if cid not in live]:
            self._seen.pop(gone, None)
            self._last.pop(gone, None)
        started: list[asyncio.Task[ProbeResult | None]] = []
        for route in routes:
            interval = self._interval(route.id)
            fingerprint = _fingerprint(route)
            if self._seen.get(route.id) != fingerprint:
                if route.id in self._seen or not self.schedule.jitter:
                    self._last[route.id] = float("-inf")  # new or changed URL/keys: probe now
                else:  # first look after a start: spread the first probes over one interval
                    self._last[route.id] = now - interval + self._rand() * interval
                self._seen[route.id] = fingerprint
            if self._last[route.id] + interval > now or route.id in self._in_flight:
                continue
            self._last[route.id] = now
            if not await self.health.claim_probe(route.id, interval):
                continue  # another replica probes it this interval
            task = asyncio.create_task(self.probe_and_record(route), name=f"probe-{route.id}")
            self._in_flight[route.id] = task
            task.add_done_callback(lambda _t, cid=route.id: self._in_flight.pop(cid, None))
            started.append(task)
        return started

    async def _run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - one failed round must not end the probing
                log.exception("channel probe round failed")
            await asyncio.sleep(self.schedule.tick)

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run_forever(), name="health-prober")

    async def aclose(self) -> None:
        tasks = [t for t in (self._loop_task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loop_task = None
        if self._own_client:
            await self._client.aclose()


def _path(url: str) -> str:
    return httpx.URL(url).path
