"""In-process response cache (embedded mode): an LRU bounded by total bytes, with per-entry TTL.

Every operation runs without an ``await``, so coroutines on the event loop cannot interleave.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.relay.cache.base import CachedResponse

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ENTRY_BYTES = 4 * 1024 * 1024

#: What an entry costs beyond its body and strings (the struct, the dict slot, the key object).
_ENTRY_OVERHEAD = 256
#: Seconds between scans for expired entries when the cache is full.
_PURGE_INTERVAL = 1.0


@dataclass(slots=True)
class _Entry:
    response: CachedResponse
    size: int
    expires_at: float


def _size(key: str, response: CachedResponse) -> int:
    return len(response.body) + len(key) + len(response.content_type) + _ENTRY_OVERHEAD


class LocalResponseCache:
    """LRU by bytes: storing past ``max_bytes`` evicts the least recently used entries first.

    ``max_entry_bytes``: larger entries (body plus a few hundred bytes of bookkeeping) are not
    stored: one huge answer should not flush the cache. ``clock``: monotonic seconds, injectable for tests.
    """

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._now = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._last_purge = float("-inf")

    @property
    def size_bytes(self) -> int:
        """Bytes currently accounted to entries (for metrics and tests)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    async def get(self, key: str) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._now():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry.response

    async def put(self, key: str, response: CachedResponse, ttl: float) -> None:
        if ttl <= 0:
            return
        size = _size(key, response)
        if size > self.max_entry_bytes:
            return
        now = self._now()
        self._drop(key)
        if self._bytes + size > self.max_bytes:
            self._purge_expired(now)
        while self._bytes + size > self.max_bytes and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
        self._entries[key] = _Entry(response, size, now + ttl)
        self._bytes += size

    def _purge_expired(self, now: float) -> None:
        """Space is short: expired entries go before live ones are evicted. The scan is O(n), so
        it runs at most once per ``_PURGE_INTERVAL``; in between, plain LRU order decides."""
        if now - self._last_purge < _PURGE_INTERVAL:
            return
        self._last_purge = now
        for key in [k for k, e in self._entries.items() if e.expires_at <= now]:
            self._drop(key)

    async def aclose(self) -> None:
        self._entries.clear()
        self._bytes = 0
