"""Acceptance: `make run` on a fresh data directory migrates, serves /healthz, and the built-in
demo channel answers a first call made with the openai SDK using a key from the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import openai

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_make_run_serves_healthz_and_the_demo_channel(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "WAYSTATION_SECRET_KEY")}
    env.update(WAYSTATION_DATA_DIR=str(tmp_path / "var"), PORT=str(port), WAYSTATION_PROBES="off")
    proc = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "make run exited"
            assert time.monotonic() < deadline, "make run did not serve /healthz in time"
            time.sleep(0.2)
        assert r.json() == {"status": "ok"}
        assert (tmp_path / "var" / "waystation.db").exists()

        created = subprocess.run([str(ROOT / ".venv/bin/waystation"), "keys", "create", "--name", "first", "--json"],
                                 env=env, capture_output=True, check=True, cwd=ROOT)
        key = json.loads(created.stdout)["secret"]
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
        answer = client.chat.completions.create(model="demo-1", messages=[{"role": "user", "content": "first call"}])
        assert "demo channel" in answer.choices[0].message.content
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    banner = out.decode()
    assert "waystation keys create" in banner and "demo-1" in banner
