"""Rate limits (RPM, TPM, concurrency) per key, account, plan and reseller, all or nothing."""

from app.relay.limits.base import ADMITTED, WINDOW, Admission, Dimension, Limiter, LimitRule, Quota
from app.relay.limits.factory import create_limiter
from app.relay.limits.headers import format_reset, rate_limit_headers
from app.relay.limits.local import LocalLimiter
from app.relay.limits.redis_store import RedisLimiter

__all__ = [
    "ADMITTED",
    "WINDOW",
    "Admission",
    "Dimension",
    "LimitRule",
    "Limiter",
    "LocalLimiter",
    "Quota",
    "RedisLimiter",
    "create_limiter",
    "format_reset",
    "rate_limit_headers",
]
