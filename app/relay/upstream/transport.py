"""The seam between the upstream client and I/O: a transport opens an exchange.

Like httpx's one-method transport interface: the network (``NetworkTransport``), the built-in demo
channel and test doubles are all a :class:`Transport`; ``UpstreamClient`` picks one by the URL's
scheme and adds the timeout rules on top.

Moments are on the running loop's clock: ``until`` is a ``loop.time()`` value, not a duration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Exchange(Protocol):
    """One upstream response whose status line and headers have arrived."""

    status: int
    #: Lowercased names; repeated headers are joined with ", ".
    headers: dict[str, str]

    async def read(self, until: float) -> bytes:
        """The body bytes that arrived since the last call, waiting for some if none have; ``b""``
        at the end of the body. Raises ``UpstreamReadTimeout`` when nothing arrives before
        ``until``, ``UpstreamBroken`` when the connection is lost before the body's end."""
        ...

    def close(self) -> None:
        """Done with the response: a connection whose body arrived in full is kept for the next
        request, any other is closed. Safe to call more than once."""
        ...


class Transport(Protocol):
    async def open(self, url: str, headers: Mapping[str, str], body: bytes, *, connect_timeout: float,
                   until: float) -> Exchange:
        """POST ``body`` to ``url`` and wait for the response head until ``until``. Raises
        ``UpstreamUnavailable`` for anything that goes wrong before the head has arrived."""
        ...

    async def aclose(self) -> None:
        """Close every connection the transport holds."""
        ...
