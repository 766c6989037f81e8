"""Channel health: a circuit breaker per channel (shared by every replica through Redis, or kept
in-process in embedded mode), auto-disable on auth and billing errors with operator events, a
moving average of time to first byte, and active probes.

The request path asks ``is_available`` / ``admit`` before trying a channel and calls ``record``
after each attempt (``classify`` names the failure); the ``Prober`` runs in the background.
"""

from app.relay.health import classify
from app.relay.health.base import HealthBook
from app.relay.health.circuit import Circuit
from app.relay.health.events import EventLog
from app.relay.health.factory import create_health
from app.relay.health.local import LocalHealth
from app.relay.health.policy import DISABLE_KINDS, Clock, HealthPolicy
from app.relay.health.prober import Prober, ProbeResult, ProbeSchedule, probe_url
from app.relay.health.redis_book import RedisHealth
from app.relay.health.repository import add_event, disabled_channels, recent_events
from app.relay.health.schemas import ChannelHealth, CircuitState

__all__ = [
    "DISABLE_KINDS", "ChannelHealth", "Circuit", "CircuitState", "Clock", "EventLog", "HealthBook", "HealthPolicy",
    "LocalHealth", "ProbeResult", "ProbeSchedule", "Prober", "RedisHealth", "add_event", "classify",
    "create_health", "disabled_channels", "probe_url", "recent_events",
]
