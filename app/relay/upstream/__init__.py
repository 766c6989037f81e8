"""Calling upstream providers: endpoints per channel type, the HTTP client and its transport seam
(the network, the demo channel)."""

from app.relay.upstream.client import Timeouts, UpstreamClient, UpstreamReply
from app.relay.upstream.errors import UpstreamBroken, UpstreamError, UpstreamReadTimeout, UpstreamUnavailable
from app.relay.upstream.transport import Exchange, Transport

__all__ = [
    "Exchange", "Timeouts", "Transport", "UpstreamBroken", "UpstreamClient", "UpstreamError", "UpstreamReadTimeout",
    "UpstreamReply", "UpstreamUnavailable",
]
