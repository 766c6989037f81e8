"""Calling upstream providers: endpoints per channel type, the HTTP client seam, the demo transport."""

from app.relay.upstream.client import Timeouts, UpstreamClient, UpstreamReply, UpstreamUnavailable

__all__ = ["Timeouts", "UpstreamClient", "UpstreamReply", "UpstreamUnavailable"]
