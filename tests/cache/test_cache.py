"""The exact-match response cache: keys, both stores, and the opt-in policy."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
from litestar.datastructures import Headers
from redis.asyncio import Redis

from app.relay.cache import (
    CACHE_HEADER,
    MAX_TTL,
    CachedResponse,
    CachePolicy,
    LocalResponseCache,
    RedisResponseCache,
    ResponseCache,
    cache_key,
    decide,
)
from tests.support.services import REDIS_URL, require

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}], "temperature": 0.7}


def body(obj: object) -> bytes:
    return msgspec.json.encode(obj)


def openai_key(obj: object, *, account: int = 1, model: str = "gpt-4o-mini") -> str:
    return cache_key(account, "openai", "chat", model, body(obj))


def answer(text: bytes = b'{"id":"chatcmpl-1","choices":[]}', **kw: object) -> CachedResponse:
    fields: dict[str, object] = {"status": 200, "content_type": "application/json", "body": text,
                                 "usage": {"input_tokens": 5, "output_tokens": 2}, "model_served": "gpt-4o-mini-2024",
                                 "created_at": 1_700_000_000.25}
    fields.update(kw)
    return CachedResponse(**fields)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------- keys


def test_key_ignores_key_order_and_whitespace() -> None:
    compact = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi"}],"temperature":0.7}'
    spaced = (b'{\n  "temperature": 0.7,\n  "messages": [ {"content": "Say hi", "role": "user"} ],\n'
              b'  "model": "gpt-4o-mini"\n}')
    key = cache_key(1, "openai", "chat", "gpt-4o-mini", compact)
    assert key == cache_key(1, "openai", "chat", "gpt-4o-mini", spaced)


def test_key_ignores_json_spelling_of_the_same_values() -> None:
    plain = b'{"messages":[{"role":"user","content":"caf\xc3\xa9"}],"temperature":1,"top_p":1}'
    escaped = b'{"messages":[{"role":"user","content":"caf\\u00e9"}],"temperature":1.0,"top_p":1e0}'
    assert cache_key(1, "openai", "chat", "m", plain) == cache_key(1, "openai", "chat", "m", escaped)


def test_streamed_and_whole_answers_have_different_keys() -> None:
    whole = openai_key(CHAT)
    assert openai_key({**CHAT, "stream": False}) == whole  # absent and false: both a whole answer
    streamed = openai_key({**CHAT, "stream": True})
    assert streamed != whole
    # The usage chunk is part of the streamed bytes, so stream_options counts when streaming...
    with_usage = openai_key({**CHAT, "stream": True, "stream_options": {"include_usage": True}})
    assert with_usage != streamed
    # ...and cannot change a whole answer.
    assert openai_key({**CHAT, "stream_options": {"include_usage": True}}) == whole


def test_anthropic_stream_flag_counts() -> None:
    msg = {"model": "claude-sonnet-4", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    whole = cache_key(1, "anthropic", "chat", "claude-sonnet-4", body(msg))
    streamed = cache_key(1, "anthropic", "chat", "claude-sonnet-4", body({**msg, "stream": True}))
    assert whole != streamed


def test_gemini_answer_mode_comes_from_the_caller() -> None:
    req = body({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    keys = {cache_key(1, "gemini", "chat", "gemini-2.5-flash", req, gemini_sse=mode) for mode in (None, True, False)}
    assert len(keys) == 3


def test_accounts_never_share_a_key() -> None:
    a, b = openai_key(CHAT, account=1), openai_key(CHAT, account=2)
    assert a != b
    assert a.startswith("1:") and b.startswith("2:")  # an account's entries can be found and purged


def test_model_protocol_operation_and_parameters_change_the_key() -> None:
    raw = body(CHAT)
    base = cache_key(1, "openai", "chat", "gpt-4o-mini", raw)
    others = [
        cache_key(1, "openai", "chat", "gpt-4o", raw),
        cache_key(1, "anthropic", "chat", "gpt-4o-mini", raw),
        cache_key(1, "openai", "responses", "gpt-4o-mini", raw),
        openai_key({**CHAT, "temperature": 0}),
        openai_key({**CHAT, "max_tokens": 10}),
        openai_key({**CHAT, "seed": 7}),
        openai_key({**CHAT, "messages": [{"role": "user", "content": "Say hello"}]}),
    ]
    assert base not in others
    assert len(set(others)) == len(others)


def test_fields_that_only_label_the_caller_are_dropped() -> None:
    labelled = {**CHAT, "user": "u-42", "metadata": {"run": "7"}, "store": True, "safety_identifier": "h",
                "prompt_cache_key": "p", "request_id": "req-9"}
    assert openai_key(labelled) == openai_key(CHAT)
    msg = {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    assert (cache_key(1, "anthropic", "chat", "c", body({**msg, "metadata": {"user_id": "u-1"}}))
            == cache_key(1, "anthropic", "chat", "c", body(msg)))


def test_key_carries_no_request_text_and_tolerates_non_json() -> None:
    key = openai_key({**CHAT, "messages": [{"role": "user", "content": "my secret plan"}]})
    assert "secret" not in key
    assert cache_key(1, "openai", "chat", "m", b"not json") == cache_key(1, "openai", "chat", "m", b"not json")
    assert cache_key(1, "openai", "chat", "m", b"not json") != cache_key(1, "openai", "chat", "m", b"not jsoN")


# ---------------------------------------------------------------------------------------- stores


@pytest.fixture(params=["local", "redis"])
async def make_cache(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., ResponseCache]]:
    caches: list[ResponseCache] = []
    prefix = f"wst:{uuid.uuid4().hex[:8]}:"

    def make(*, max_entry_bytes: int = 4 * 1024 * 1024) -> ResponseCache:
        cache: ResponseCache
        if request.param == "local":
            cache = LocalResponseCache(max_entry_bytes=max_entry_bytes)
        else:
            require("Redis", REDIS_URL)
            cache = RedisResponseCache(Redis.from_url(REDIS_URL), prefix=prefix, max_entry_bytes=max_entry_bytes)
        caches.append(cache)
        return cache

    yield make
    if request.param == "redis" and caches:
        r = Redis.from_url(REDIS_URL)
        keys = [k async for k in r.scan_iter(match=f"{prefix}*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()
    for cache in caches:
        await cache.aclose()


async def test_round_trip_is_byte_identical(make_cache) -> None:
    cache = make_cache()
    stream = (b'data: {"id":"c1","choices":[{"delta":{"content":"h\xc3\xa9"}}]}\n\n'
              b"data: [DONE]\n\n\x00\xff")  # any bytes, not only UTF-8
    stored = answer(stream, content_type="text/event-stream; charset=utf-8")
    key = openai_key({**CHAT, "stream": True})
    assert await cache.get(key) is None
    await cache.put(key, stored, 60)
    got = await cache.get(key)
    assert got == stored
    assert got is not None and got.body == stream


async def test_put_replaces_and_keys_are_separate(make_cache) -> None:
    cache = make_cache()
    await cache.put("1:a", answer(b"first"), 60)
    await cache.put("1:a", answer(b"second", usage=None, model_served=None), 60)
    await cache.put("2:a", answer(b"other account"), 60)
    first = await cache.get("1:a")
    assert first is not None and first.body == b"second" and first.usage is None
    other = await cache.get("2:a")
    assert other is not None and other.body == b"other account"


async def test_entries_expire_after_their_ttl(make_cache) -> None:
    cache = make_cache()
    await cache.put("1:short", answer(b"short"), 0.05)
    await cache.put("1:long", answer(b"long"), 60)
    await cache.put("1:none", answer(b"none"), 0)  # no TTL: nothing stored
    assert await cache.get("1:short") is not None
    await asyncio.sleep(0.12)
    assert await cache.get("1:short") is None
    assert await cache.get("1:long") is not None
    assert await cache.get("1:none") is None


async def test_oversize_entries_are_not_stored(make_cache) -> None:
    cache = make_cache(max_entry_bytes=4096)
    await cache.put("1:small", answer(b"x" * 1000), 60)
    await cache.put("1:big", answer(b"x" * 5000), 60)
    assert await cache.get("1:small") is not None
    assert await cache.get("1:big") is None


# ---------------------------------------------------------------------------------------- local


async def test_local_ttl_follows_its_clock() -> None:
    clock = Clock()
    cache = LocalResponseCache(clock=clock)
    await cache.put("1:k", answer(), 30)
    clock.now += 29.9
    assert await cache.get("1:k") is not None
    clock.now += 0.2
    assert await cache.get("1:k") is None
    assert len(cache) == 0 and cache.size_bytes == 0


async def test_local_evicts_least_recently_used_by_bytes() -> None:
    cache = LocalResponseCache(max_bytes=4000, max_entry_bytes=4000)
    for name in ("a", "b", "c"):
        await cache.put(f"1:{name}", answer(b"x" * 1000), 60)  # ~1.3 KB each with bookkeeping
    assert await cache.get("1:a") is not None  # a is now the most recently used
    await cache.put("1:d", answer(b"x" * 1000), 60)
    assert await cache.get("1:b") is None  # least recently used goes first
    for name in ("a", "c", "d"):
        assert await cache.get(f"1:{name}") is not None
    assert cache.size_bytes <= 4000
    await cache.put("1:e", answer(b"x" * 3000), 60)  # needs the room of several entries
    assert await cache.get("1:e") is not None
    assert cache.size_bytes <= 4000 and len(cache) == 1


async def test_local_drops_expired_entries_before_live_ones() -> None:
    clock = Clock()
    cache = LocalResponseCache(max_bytes=4000, max_entry_bytes=4000, clock=clock)
    await cache.put("1:live", answer(b"x" * 1000), 600)
    await cache.put("1:stale", answer(b"x" * 1000), 5)
    await cache.put("1:fresh", answer(b"x" * 1000), 600)
    clock.now += 10
    await cache.put("1:new", answer(b"x" * 1000), 600)
    assert await cache.get("1:live") is not None  # the oldest, but alive
    assert await cache.get("1:new") is not None


async def test_local_replacing_an_entry_keeps_the_byte_count_right() -> None:
    cache = LocalResponseCache()
    await cache.put("1:k", answer(b"x" * 1000), 60)
    one = cache.size_bytes
    await cache.put("1:k", answer(b"x" * 1000), 60)
    assert cache.size_bytes == one and len(cache) == 1
    await cache.aclose()
    assert cache.size_bytes == 0


# ---------------------------------------------------------------------------------------- redis


async def test_redis_entry_expires_in_redis_and_lives_under_the_prefix() -> None:
    require("Redis", REDIS_URL)
    prefix = f"wst:{uuid.uuid4().hex[:8]}:"
    cache = RedisResponseCache(Redis.from_url(REDIS_URL), prefix=prefix)
    probe = Redis.from_url(REDIS_URL)
    try:
        await cache.put("1:k", answer(), 30)
        names = [k async for k in probe.scan_iter(match=f"{prefix}*")]
        assert names == [f"{prefix}rc:1:k".encode()]
        assert 0 < await probe.pttl(names[0]) <= 30_000
        await probe.set(f"{prefix}rc:1:junk", b"\x93not a response")  # e.g. an older format
        assert await cache.get("1:junk") is None
    finally:
        keys = [k async for k in probe.scan_iter(match=f"{prefix}*")]
        if keys:
            await probe.delete(*keys)
        await probe.aclose()
        await cache.aclose()


async def test_unreachable_redis_is_a_miss_not_an_error() -> None:
    cache = RedisResponseCache(Redis.from_url("redis://127.0.0.1:1/0"))
    await cache.put("1:k", answer(), 60)
    assert await cache.get("1:k") is None
    await cache.aclose()


# ---------------------------------------------------------------------------------------- policy


def test_no_opt_in_means_no_cache() -> None:
    assert decide({}, None) is None
    assert decide({"content-type": "application/json"}, 0) is None
    assert decide({}, -5) is None


def test_key_setting_opts_in() -> None:
    assert decide({}, 300) == 300


def test_header_opts_in_and_overrides_the_key() -> None:
    assert decide({CACHE_HEADER: "120"}, None) == 120
    assert decide({CACHE_HEADER: " 60 "}, 300) == 60
    assert decide(Headers({"X-Waystation-Cache": "45"}), None) == 45
    assert decide({"X-WayStation-Cache": "45"}, None) == 45  # plain dicts too, whatever the case


def test_bypass_by_header_or_cache_control() -> None:
    assert decide({CACHE_HEADER: "off"}, 300) is None
    assert decide({CACHE_HEADER: "OFF"}, 300) is None
    assert decide({CACHE_HEADER: "0"}, 300) is None
    assert decide({"cache-control": "no-cache"}, 300) is None
    assert decide({"Cache-Control": "max-age=0, No-Store"}, 300) is None
    assert decide({"cache-control": "no-store", CACHE_HEADER: "60"}, None) is None
    assert decide({"cache-control": "max-age=60"}, 300) == 300


def test_unreadable_header_falls_back_to_the_key() -> None:
    assert decide({CACHE_HEADER: "yes please"}, 300) == 300
    assert decide({CACHE_HEADER: "-5"}, None) is None
    assert decide({CACHE_HEADER: "1.5"}, None) is None


def test_ttl_is_capped() -> None:
    assert decide({CACHE_HEADER: str(10 * MAX_TTL)}, None) == MAX_TTL
    assert decide({}, 10 * MAX_TTL) == MAX_TTL
    policy = CachePolicy(max_ttl=60)
    assert policy.decide({CACHE_HEADER: "3600"}, None) == 60
    assert policy.decide({}, 30) == 30
    assert policy.decide({CACHE_HEADER: "off"}, 30) is None
