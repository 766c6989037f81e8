"""Run Alembic migrations from code (the CLI's ``migrate``, ``make run`` and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from app.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(settings: Settings) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(settings: Settings) -> None:
    """Bring the schema to head. Synchronous: call it outside a running event loop (or in a
    thread), because Alembic's async env starts its own loop."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db_path = settings.database_url.split(":///", 1)[-1]
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), "head")
