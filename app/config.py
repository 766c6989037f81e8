"""Settings, read from the environment here and nowhere else.

``Settings.from_env()`` is called by whoever builds the application (``create_app``, the CLI, the
worker), never at import time, so tests can build an app with any settings.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = "var"


def _normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver SQLAlchemy needs."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain):]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url


def _load_or_create_secret(data_dir: Path) -> str:
    """The embedded default keeps its encryption secret in ``var/secret.key`` (mode 0600), so a
    fresh clone works without configuration and restarts can still decrypt channel keys."""
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _flag(value: str) -> bool:
    return value.lower() not in ("0", "off", "false", "no")


def _read_optional(path: str | None) -> str | None:
    return Path(path).read_text() if path else None


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    secret_key: str
    redis_url: str | None = None
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    host: str = "127.0.0.1"
    port: int = 8000
    #: Log level for the app's structured logs.
    log_level: str = "INFO"
    #: Seconds an authenticated key stays cached in-process before it is looked up again.
    key_cache_ttl: float = 30.0
    #: Seconds the channel directory (routing table) is cached before it is reloaded.
    channel_cache_ttl: float = 5.0
    #: Namespace of every Redis key (several deployments or test runs can share one Redis).
    redis_prefix: str = "ws:"
    #: Actively probe channels' health (every 30 s; every second while a circuit is open).
    probes: bool = True
    #: Routing configuration as JSON (strategies, aliases, A/B splits, the "auto" policy's models);
    #: see README. From WAYSTATION_ROUTING, or the file named by WAYSTATION_ROUTING_FILE.
    routing: str | None = None
    #: Seconds a concurrency slot lasts when its request never reports finishing (a crashed replica).
    limit_lease: float = 900.0
    #: Seconds a hold outlives its channel's total timeout before the reconciler may resolve it.
    hold_grace: float = 60.0
    #: Seconds between rounds of hold expiry and balance re-sync.
    reconcile_every: float = 5.0
    #: Largest request body accepted on /v1 (bytes): images in base64 make bodies big.
    max_body_bytes: int = 32 * 1024 * 1024
    #: Settle through the journal (app/relay/journal.py): a response waits for one local file
    #: write, not for its database COMMIT. Off: every response waits for its COMMIT.
    journal: bool = True
    #: Where the journal lives (default: <data_dir>/journal). It must survive a restart of the
    #: process (a volume in a container), since the next start replays what is left in it.
    journal_dir: Path | None = None
    #: HTTP proxy for https:// upstreams (CONNECT), and the hosts reached without it.
    https_proxy: str | None = None
    no_proxy: str | None = None

    @property
    def journal_path(self) -> Path:
        return self.journal_dir or self.data_dir / "journal"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("WAYSTATION_DATA_DIR", DEFAULT_DATA_DIR))
        database_url = env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir}/waystation.db"
        secret = env.get("WAYSTATION_SECRET_KEY") or _load_or_create_secret(data_dir)
        return cls(
            database_url=_normalise_database_url(database_url),
            secret_key=secret,
            redis_url=env.get("REDIS_URL") or None,
            redis_prefix=env.get("WAYSTATION_REDIS_PREFIX", "ws:"),
            hold_grace=float(env.get("WAYSTATION_HOLD_GRACE", "60")),
            probes=_flag(env.get("WAYSTATION_PROBES", "on")),
            routing=env.get("WAYSTATION_ROUTING") or _read_optional(env.get("WAYSTATION_ROUTING_FILE")),
            reconcile_every=float(env.get("WAYSTATION_RECONCILE_EVERY", "5")),
            data_dir=data_dir,
            host=env.get("WAYSTATION_HOST", "127.0.0.1"),
            port=int(env.get("PORT") or env.get("WAYSTATION_PORT") or 8000),
            log_level=env.get("WAYSTATION_LOG_LEVEL", "INFO"),
            journal=_flag(env.get("WAYSTATION_JOURNAL", "on")),
            https_proxy=env.get("HTTPS_PROXY") or env.get("https_proxy") or None,
            no_proxy=env.get("NO_PROXY") or env.get("no_proxy") or None,
            journal_dir=Path(env["WAYSTATION_JOURNAL_DIR"]) if env.get("WAYSTATION_JOURNAL_DIR") else None,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
