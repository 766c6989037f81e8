"""The response cache on the request path (opt-in per key or per request; see app/relay/cache).

A hit makes no upstream call and returns the stored bytes, identical to the first answer. It is
billed by the cache rule: the original request's input tokens at the cache-read price, its output
free, no upstream cost. Misses store exactly the bytes the client received.
"""

from __future__ import annotations

import time

import msgspec

from app.relay.cache import CachedResponse, ResponseCache, cache_key
from app.relay.inbound import Inbound
from app.relay.protocols import ir

#: Operations whose answers may be cached (count_tokens is free and cheap anyway).
CACHEABLE = frozenset({"chat", "embeddings", "completions", "responses"})


def key_for(account_id: int, inbound: Inbound) -> str | None:
    if inbound.cache_ttl is None or inbound.op not in CACHEABLE:
        return None
    return cache_key(account_id, inbound.protocol, inbound.op, inbound.model, inbound.body,
                     gemini_sse=inbound.gemini_sse if inbound.stream else None)


def hit_usage(cached: CachedResponse) -> ir.Usage:
    """The cache rule: every input token of the original answer as a cache read; output free."""
    original = msgspec.convert(cached.usage or {}, ir.Usage)
    return ir.Usage(cache_read_tokens=original.prompt_tokens)


async def store(cache: ResponseCache, key: str, *, content_type: str, body: bytes, usage: ir.Usage | None,
                model_served: str | None, ttl: int) -> None:
    await cache.put(key, CachedResponse(status=200, content_type=content_type, body=body,
                                        usage=msgspec.to_builtins(usage) if usage else None,
                                        model_served=model_served, created_at=time.time()), ttl)
