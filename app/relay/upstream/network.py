"""HTTP/1.1 over TCP or TLS to real upstreams, with a keep-alive pool per origin.

The pool is a stack per origin: a request takes the most recently used idle connection (the one
least likely to have been closed by the server) and nothing else is looked at; the oldest are
closed from the bottom of the stack once they have been idle for ``keepalive_expiry`` or when the
stack is full. A connection goes back on the stack only once its response has arrived in full.

A request sent on a reused connection that the server closed before answering (the keep-alive
race: its idle timeout fired as the request went out) is sent once more on a fresh connection.
Once any byte of the response has arrived, nothing is ever sent again.

There is no cap on open connections: each one serves a request the relay is handling, so the
relay's own admission bounds them.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import urlsplit

import certifi

from app.relay.upstream.errors import BeforeFirstByte, UpstreamUnavailable
from app.relay.upstream.http1 import Http1Connection, Http1Exchange, NoAnswer
from app.relay.upstream.proxy import Proxy, tunnel

#: Seconds an idle connection is kept for reuse (servers commonly close after 5-90 s; a request
#: that races a server-side close is retried, so this only bounds sockets kept open for nothing).
KEEPALIVE_EXPIRY = 30.0
#: Idle connections kept per origin.
MAX_IDLE_PER_ORIGIN = 512
#: Headers the client writes itself.
_MANAGED = frozenset({"host", "content-length", "transfer-encoding", "connection"})

Origin = tuple[str, str, int]


def default_ssl_context() -> ssl.SSLContext:
    """System CAs plus certifi's (what httpx trusted), HTTP/1.1 announced by ALPN."""
    context = ssl.create_default_context()
    context.load_verify_locations(certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


@lru_cache(maxsize=1024)
def _split(url: str) -> tuple[Origin, bytes]:
    """``url`` -> its origin and the start of the request head (request line and Host)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    default_port = 443 if scheme == "https" else 80
    port = parts.port or default_port
    host = parts.hostname
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header = f"{host_header}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (scheme, host, port), f"POST {target} HTTP/1.1\r\nhost: {host_header}\r\n".encode("ascii")


def _encode(start: bytes, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"{name}: {value}\r\n" for name, value in headers.items() if name.lower() not in _MANAGED]
    lines.append(f"content-length: {len(body)}\r\n\r\n")
    head = "".join(lines)
    if head.count("\n") != len(lines) + 1 or head.count("\r") != len(lines) + 1:
        raise ValueError("a header name or value contains a line break")  # it would forge headers
    if "user-agent" not in headers:
        head = "user-agent: waystation\r\n" + head
    return start + head.encode("latin-1") + body


class NetworkTransport:
    """The relay's transport to real upstreams (``http://`` and ``https://``)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *, proxy: Proxy | None = None,
                 keepalive_expiry: float = KEEPALIVE_EXPIRY, max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN) -> None:
        self._ssl_context = ssl_context
        self._proxy = proxy
        self._expiry = keepalive_expiry
        self._max_idle = max_idle_per_origin
        self._idle: dict[Origin, deque[Http1Connection]] = {}
        self._open: set[Http1Connection] = set()

    async def open(self, url: str, headers: Mapping[str, str], body: bytes, *, connect_timeout: float,
                   until: float) -> Http1Exchange:
        try:
            origin, start = _split(url)
            data = _encode(start, headers, body)
        except ValueError as exc:
            raise UpstreamUnavailable(f"connection failed: {exc}") from None
        conn = self._take_idle(origin)
        if conn is not None:
            try:
                return await self._exchange(conn, data, until)
            except NoAnswer:
                pass  # closed by the server before it answered: the keep-alive race, send again
        conn = await self._connect(origin, connect_timeout, until)
        try:
            return await self._exchange(conn, data, until)
        except NoAnswer as exc:
            raise UpstreamUnavailable(f"connection failed: {exc}") from None

    async def aclose(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._idle.clear()
        self._open.clear()

    # ------------------------------------------------------------------ connections

    async def _exchange(self, conn: Http1Connection, data: bytes, until: float) -> Http1Exchange:
        with BeforeFirstByte(conn):
            await conn.request(data, until)
        return Http1Exchange(conn)

    async def _connect(self, origin: Origin, connect_timeout: float, until: float) -> Http1Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        remaining = until - loop.time()
        context = None
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = default_ssl_context()
            context = self._ssl_context
        try:
            async with asyncio.timeout(min(connect_timeout, remaining)):
                if context is not None and self._proxy is not None and self._proxy.applies_to(host):
                    conn = await self._through_proxy(self._proxy, origin, context)
                else:
                    _, conn = await loop.create_connection(
                        lambda: Http1Connection(origin, self._keep, self._open.discard), host, port,
                        ssl=context, server_hostname=host if context else None)
        except TimeoutError:
            if connect_timeout <= remaining:
                raise UpstreamUnavailable("connect timeout") from None
            raise UpstreamUnavailable("no first byte before the first-byte timeout") from None
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError; ValueError: a bad host name
            raise UpstreamUnavailable(f"connection failed: {type(exc).__name__}: {exc}") from None
        self._open.add(conn)
        return conn

    async def _through_proxy(self, proxy: Proxy, origin: Origin, context: ssl.SSLContext) -> Http1Connection:
        """TLS to the upstream inside a CONNECT tunnel: the proxy sees where, never what."""
        _, host, port = origin
        raw = await tunnel(proxy, host, port)
        conn = Http1Connection(origin, self._keep, self._open.discard)
        try:
            secure = await asyncio.get_running_loop().start_tls(raw, conn, context, server_hostname=host)
        except BaseException:
            raw.close()
            raise
        if secure is None:
            raw.close()
            raise ConnectionError("TLS through the proxy did not start")
        conn.connection_made(secure)  # start_tls does not announce the new transport
        return conn

    def _take_idle(self, origin: Origin) -> Http1Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        oldest_kept = asyncio.get_running_loop().time() - self._expiry
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since > oldest_kept:
                return conn
            conn.shut()
        return None

    def _keep(self, conn: Http1Connection) -> None:
        now = asyncio.get_running_loop().time()
        conn.idle_since = now
        idle = self._idle.get(conn.origin)
        if idle is None:
            idle = self._idle[conn.origin] = deque()
        idle.append(conn)
        oldest_kept = now - self._expiry
        while idle and (len(idle) > self._max_idle or idle[0].closed or idle[0].idle_since <= oldest_kept):
            idle.popleft().shut()
