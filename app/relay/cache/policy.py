"""When a request may use the response cache, and for how long.

Caching is opt-in only (the cache stores completions; see ``base.py``). A request uses the cache
when its API key has a cache TTL in its settings, or when it asks with a header:

* ``x-waystation-cache: <seconds>``: look up, and fill on a miss, keeping the answer that long
  (overrides the key's TTL, either way);
* ``x-waystation-cache: off`` (or ``0``): bypass, whatever the key says;
* ``Cache-Control: no-cache`` or ``no-store``: bypass too (an HTTP client's standard way of
  asking for a fresh answer, and of saying "keep nothing");
* anything else in ``x-waystation-cache`` is ignored (the key's setting applies).

Sampling with ``temperature > 0`` is cacheable all the same: opting in means accepting a replay.
TTLs are capped at ``MAX_TTL``.

The response carries ``x-waystation-cache: hit | miss | bypass``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Request header (opt in with a TTL, or ``off``) and response header (hit / miss / bypass).
CACHE_HEADER = "x-waystation-cache"
CACHE_HIT = "hit"
CACHE_MISS = "miss"
CACHE_BYPASS = "bypass"

#: Longest time an answer may be kept, in seconds.
MAX_TTL = 24 * 3600

_OFF = frozenset({"off", "no", "false", "bypass"})
_BYPASS_DIRECTIVES = frozenset({"no-cache", "no-store"})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Header lookup that works with Litestar's (case-insensitive) headers and plain dicts."""
    value = headers.get(name)
    if value is not None:
        return value
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


def _client_forbids_cache(cache_control: str | None) -> bool:
    if not cache_control:
        return False
    directives = {part.split("=", 1)[0].strip().lower() for part in cache_control.split(",")}
    return not directives.isdisjoint(_BYPASS_DIRECTIVES)


def _seconds(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def decide(headers: Mapping[str, str], key_cache_ttl: int | None, *, max_ttl: int = MAX_TTL) -> int | None:
    """The TTL (seconds) this request is cached with, or None: do not read or fill the cache.

    ``headers``: the client's request headers; ``key_cache_ttl``: the API key's cache setting
    (None or 0: the key has not opted in).
    """
    asked = _header(headers, CACHE_HEADER)
    asked = asked.strip().lower() if asked is not None else None
    if asked in _OFF or _client_forbids_cache(_header(headers, "cache-control")):
        return None
    seconds = _seconds(asked) if asked else None
    ttl = seconds if seconds is not None else key_cache_ttl
    if ttl is None or ttl <= 0:
        return None
    return min(ttl, max_ttl)


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """``decide`` with a configured cap."""

    max_ttl: int = MAX_TTL

    def decide(self, headers: Mapping[str, str], key_cache_ttl: int | None) -> int | None:
        """The TTL (seconds) this request is cached with, or None (see the module docstring)."""
        return decide(headers, key_cache_ttl, max_ttl=self.max_ttl)
