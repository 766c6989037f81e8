"""Reaching https:// upstreams through an HTTP proxy with CONNECT, as egress proxies require.

Configured like every HTTP client does it: ``HTTPS_PROXY`` (``http://[user:password@]host:port``)
and ``NO_PROXY`` (comma-separated host names or domain suffixes, ``*`` for all), read by
``Settings.from_env``. Plain ``http://`` upstreams (self-hosted models, usually on the inside
network) are always reached directly.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

#: Largest proxy answer to a CONNECT (status line and headers) read before giving up.
MAX_REPLY = 16 * 1024


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    #: Value of the Proxy-Authorization header, when the proxy URL carries credentials.
    authorization: str | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def parse(cls, url: str | None, no_proxy: str | None = None) -> Proxy | None:
        """The proxy named by ``url`` (None when unset). Raises ValueError for a URL that is not
        ``http://host:port``."""
        if not url:
            return None
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"HTTPS_PROXY must be an http:// proxy URL, not {url!r}")
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        bypass = tuple(h.strip().lower().lstrip(".").split(":")[0] for h in (no_proxy or "").split(",") if h.strip())
        return cls(parts.hostname, parts.port or 80, authorization, bypass)

    def applies_to(self, host: str) -> bool:
        host = host.lower()
        return not any(entry == "*" or host == entry or host.endswith("." + entry) for entry in self.no_proxy)


class _ConnectReply(asyncio.Protocol):
    """Collects the proxy's answer to CONNECT (its head; nothing may follow before TLS starts)."""

    def __init__(self) -> None:
        self.head: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if b"\r\n\r\n" in self._buffer or len(self._buffer) > MAX_REPLY:
            if not self.head.done():
                self.head.set_result(self._buffer)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(ConnectionError("the proxy closed the connection during CONNECT"))


async def tunnel(proxy: Proxy, host: str, port: int) -> asyncio.Transport:
    """A TCP connection through ``proxy`` to ``host:port``, ready for TLS. Raises OSError when the
    proxy cannot be reached or refuses (the caller bounds the time)."""
    loop = asyncio.get_running_loop()
    transport, reply = await loop.create_connection(_ConnectReply, proxy.host, proxy.port)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"CONNECT {target} HTTP/1.1\r\nhost: {target}\r\n"
    if proxy.authorization:
        head += f"proxy-authorization: {proxy.authorization}\r\n"
    transport.write((head + "\r\n").encode("latin-1"))
    try:
        answer = await reply.head
    except BaseException:
        transport.close()
        raise
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/1.") or fields[1] != "200" \
            or not answer.endswith(b"\r\n\r\n"):
        transport.close()
        raise ConnectionRefusedError(f"proxy refused CONNECT {target}: {status_line[:120]!r}")
    return transport  # type: ignore[return-value]
