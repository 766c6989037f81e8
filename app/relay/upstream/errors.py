"""How an upstream call fails, in the relay's own terms (no HTTP library's exceptions leak out).

Before the first byte, every failure is :class:`UpstreamUnavailable`: nothing reached the client,
so the relay fails over. After it, reading the body raises :class:`UpstreamReadTimeout` (the
upstream went quiet for the idle timeout), ``TimeoutError`` (the total deadline passed) or
:class:`UpstreamBroken` (the connection was lost or the response stopped making sense).
"""

from __future__ import annotations

from typing import Protocol


class Closeable(Protocol):
    def close(self) -> None: ...


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or did not start answering in time (safe to fail over).

    ``reason`` is read by ``health.classify.kind_for_unavailable``: it mentions "connect" or
    "connection" for connection failures; anything else counts as a timeout."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UpstreamError(Exception):
    """The upstream started answering, then failed while its body was being read."""


class UpstreamReadTimeout(UpstreamError, TimeoutError):
    """Nothing arrived for the idle timeout. A ``TimeoutError``, like passing the total deadline."""


class UpstreamBroken(UpstreamError):
    """The connection was lost, or the response broke HTTP/1.1, before the body's end."""


class BeforeFirstByte:
    """``with BeforeFirstByte(exchange):`` around a read that happens before anything reached the
    client: any failure closes ``exchange``, and a read timeout or a broken connection becomes
    :class:`UpstreamUnavailable` (the relay fails over)."""

    __slots__ = ("_exchange",)

    def __init__(self, exchange: Closeable) -> None:
        self._exchange = exchange

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        self._exchange.close()
        if isinstance(exc, UpstreamReadTimeout):
            raise UpstreamUnavailable("no first byte before the first-byte timeout") from None
        if isinstance(exc, UpstreamBroken):
            raise UpstreamUnavailable(f"connection failed: {exc}") from None
        return False
