"""Which backing services the suite can use. Locally an unreachable service skips the tests that
need it (with the reason); under CI=true it fails them: production runs on PostgreSQL + Redis."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("WAYSTATION_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WAYSTATION_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, url: str) -> None:
    if reachable(url):
        return
    reason = f"{name} is not reachable at {url}"
    if in_ci():
        pytest.fail(f"{reason}, and CI=true requires it", pytrace=False)
    pytest.skip(reason)
