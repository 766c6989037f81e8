"""Processes the benchmark starts on 127.0.0.1: the fake upstream and Waystation itself (a real
``waystation serve``), each pinned to a CPU with taskset where available, each killed on exit."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cpus: str | None, argv: list[str]) -> list[str]:
    """``taskset -c CPUS argv`` when taskset exists and the machine has those CPUs."""
    if cpus and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpus, *argv]
    return argv


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` (MB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def worker_pid(pid: int) -> int:
    """``pid``'s only child when it has exactly one (a server's worker process), else ``pid``."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pid
    return int(children[0]) if len(children) == 1 else pid


class Process:
    """A child process in its own session, stopped with SIGTERM (then SIGKILL) on ``stop``."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._fh = log.open("ab")
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=self._fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{url} exited with {self.proc.returncode}; see {self.log}")
            try:
                httpx.get(url, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{url} did not answer within {timeout} s; see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._fh.close()


def start_upstream(workdir: Path, cpus: str | None, max_seconds: float) -> tuple[Process, str]:
    port = free_port()
    proc = Process(pinned(cpus, [str(BIN / "python"), "-m", "bench.upstream", "--port", str(port),
                                 "--max-seconds", str(max_seconds)]), workdir / "upstream.log")
    base = f"http://127.0.0.1:{port}"
    proc.wait_http(base + "/")
    return proc, base


async def pg_admin(sql: str) -> None:
    import asyncpg  # the app's own driver

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class Waystation:
    """One ``waystation serve`` process on a fresh database: ``embedded`` (SQLite in a temporary
    data dir, in-process cache and limits) or ``postgres`` (a throwaway PostgreSQL database, Redis
    with a unique key prefix). Probes are off (no background health traffic during the runs)."""

    def __init__(self, backend: str, workdir: Path, cpus: str | None, stages_out: Path | None = None) -> None:
        self.backend, self.cpus, self.stages_out = backend, cpus, stages_out
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"ws-bench-{backend}-", dir=workdir))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.db_name: str | None = None
        self.redis_prefix: str | None = None
        self.env = dict(os.environ, WAYSTATION_DATA_DIR=str(self.data_dir), WAYSTATION_PROBES="off",
                        WAYSTATION_SECRET_KEY=secrets.token_urlsafe(32), WAYSTATION_PORT=str(self.port))
        self.env.pop("DATABASE_URL", None)
        self.env.pop("REDIS_URL", None)
        if backend == "postgres":
            self.db_name = f"waystation_bench_{secrets.token_hex(5)}"
            asyncio.run(pg_admin(f'CREATE DATABASE "{self.db_name}"'))
            self.redis_prefix = f"wsbench{secrets.token_hex(4)}:"
            self.env.update(DATABASE_URL=f"{POSTGRES_URL.rsplit('/', 1)[0]}/{self.db_name}", REDIS_URL=REDIS_URL,
                            WAYSTATION_REDIS_PREFIX=self.redis_prefix)
        self.proc: Process | None = None
        self.admin_key = ""

    @property
    def description(self) -> str:
        if self.backend == "postgres":
            return (f"PostgreSQL ({POSTGRES_URL.rsplit('/', 1)[0]}/{self.db_name}, throwaway) + Redis "
                    f"({REDIS_URL}, prefix {self.redis_prefix})")
        return f"SQLite in {self.data_dir} (temporary), in-process cache/limits/holds"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "waystation"), *args], env=self.env, cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    def start(self) -> None:
        done = self.cli("migrate", "--json")
        if done.returncode:
            raise RuntimeError(f"migrate failed: {done.stderr or done.stdout}")
        created = self.cli("keys", "create", "--name", "bench-ops", "--admin", "--json")
        if created.returncode:
            raise RuntimeError(f"keys create failed: {created.stderr or created.stdout}")
        self.admin_key = json.loads(created.stdout)["secret"]
        argv = pinned(self.cpus, [str(BIN / "waystation"), "serve", "--port", str(self.port)])
        if self.stages_out is not None:  # the same server with timers around the request path's stages
            self.env["BENCH_STAGES_OUT"] = str(self.stages_out)
            argv = pinned(self.cpus, [str(BIN / "python"), "-m", "bench.stages"])
        self.proc = Process(argv, self.data_dir / "server.log", env=self.env)
        self.proc.wait_http(self.base_url + "/healthz")

    @property
    def pid(self) -> int:
        """The process that serves requests: ``waystation serve`` runs uvicorn in-process with one
        worker (taskset execs it, so that is our child); a server with a supervisor and one worker
        process (granian, tried in bench/README.md) is measured at its worker."""
        assert self.proc is not None
        return worker_pid(self.proc.pid)

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def ledger_verify(self) -> dict:
        done = self.cli("ledger", "verify", "--json")
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            report = {"ok": False, "error": (done.stderr or done.stdout)[-2000:]}
        report["exit_code"] = done.returncode
        return report

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        if self.db_name:
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        if self.redis_prefix:
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=self.redis_prefix + "*", count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i:i + 500])
            client.close()
