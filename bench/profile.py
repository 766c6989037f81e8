"""Sampling profile of the running server with py-spy (``pip install py-spy``; optional): record
collapsed stacks while a load runs, then summarise where the CPU time goes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")

#: Leaf frames are charged to the first area whose marker appears in their file path.
AREAS = (("app/relay/", "waystation relay"), ("app/tenants/", "waystation tenants"), ("app/", "waystation other"),
         ("litestar", "litestar"), ("sqlalchemy", "sqlalchemy"), ("asyncpg", "asyncpg"), ("aiosqlite", "aiosqlite"),
         ("sqlite3", "sqlite3"), ("redis", "redis-py"), ("httpcore", "httpx/httpcore"), ("httpx", "httpx/httpcore"),
         ("h11", "h11"), ("anyio", "anyio"), ("uvicorn", "uvicorn"), ("msgspec", "msgspec"),
         ("prometheus_client", "prometheus_client"), ("logging", "logging"), ("asyncio", "asyncio"),
         ("ssl", "ssl"), ("json", "json"))


def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path, rate: int = 200) -> subprocess.Popen[bytes] | None:
    """Start py-spy in the background (non-blocking sampling: the server is never paused)."""
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
                             "--format", "raw", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _parse(raw: str) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame)
            frames.append((m.group("fn"), _short(m.group("file"))) if m else (frame, ""))
        stacks.append((frames, int(count)))
    return stacks


def summarise(raw_file: Path, seconds: float, rate: int = 200, top: int = 20) -> dict:
    stacks = _parse(raw_file.read_text()) if raw_file.exists() else []
    total = sum(c for _, c in stacks)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    for frames, count in stacks:
        fn, path = frames[-1]
        own[f"{fn} ({path})"] += count
        areas[next((name for marker, name in AREAS if marker in path), "other / C")] += count
        for name in {f"{f} ({p})" for f, p in frames if p.startswith("app/")}:
            inclusive[name] += count

    def pct(items: list[tuple[str, int]]) -> list[tuple[str, float]]:
        return [(name, round(100 * c / total, 1)) for name, c in items] if total else []

    return {"samples": total, "busy_pct": round(100 * total / max(seconds * rate, 1), 1),
            "areas": pct(areas.most_common()), "self": pct(own.most_common(top)),
            "inclusive_app": pct(inclusive.most_common(top))}
