"""How an upstream call fails, in the relay's own terms (no HTTP library's exceptions leak out).

Before the first byte, every failure is :class:`UpstreamUnavailable`: nothing reached the client,
so the relay fails over. After it, reading the body raises :class:`UpstreamReadTimeout` (the
upstream went quiet for the idle timeout), ``TimeoutError`` (the total deadline passed) or
:class:`UpstreamBroken` (the connection was lost or the response stopped making sense).
"""

from __future__ import annotations


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
