"""Waystation as a real server process (`waystation serve`), for tests that kill or multiply it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def server_env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    """The environment for ``settings`` on ``port``; probes off (tests count upstream requests)."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(DATABASE_URL=settings.database_url, WAYSTATION_SECRET_KEY=settings.secret_key,
               WAYSTATION_DATA_DIR=str(settings.data_dir), PORT=str(port), WAYSTATION_PROBES="off")
    if settings.redis_url:
        env.update(REDIS_URL=settings.redis_url, WAYSTATION_REDIS_PREFIX=settings.redis_prefix)
    env.update(extra)
    return env


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """Start ``waystation serve`` in its own process group and wait for /healthz."""
    proc = subprocess.Popen([str(ROOT / ".venv/bin/waystation"), "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server process did not start")
