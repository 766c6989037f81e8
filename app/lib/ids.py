"""Identifiers we hand out (request ids)."""

from __future__ import annotations

import os
import time


def request_id() -> str:
    """Sortable, unique request id: 'req_' + ms timestamp (hex) + 64 random bits (hex)."""
    return f"req_{int(time.time() * 1000):011x}{os.urandom(8).hex()}"
