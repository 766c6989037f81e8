"""Exact-match response cache: replay a complete answer to an identical request, by opt-in only.

The only place Waystation stores completion text (see ``base.py``); ``policy.decide`` says whether
a request may use it, ``cache_key`` names the request, and a ``ResponseCache`` (in-process or
Redis) holds the answers for their TTL.
"""

from app.relay.cache.base import CachedResponse, ResponseCache
from app.relay.cache.factory import create_response_cache
from app.relay.cache.keys import cache_key
from app.relay.cache.local import LocalResponseCache
from app.relay.cache.policy import CACHE_BYPASS, CACHE_HEADER, CACHE_HIT, CACHE_MISS, MAX_TTL, CachePolicy, decide
from app.relay.cache.redis_store import RedisResponseCache

__all__ = [
    "CACHE_BYPASS", "CACHE_HEADER", "CACHE_HIT", "CACHE_MISS", "MAX_TTL", "CachePolicy", "CachedResponse",
    "LocalResponseCache", "RedisResponseCache", "ResponseCache", "cache_key", "create_response_cache", "decide",
]
