"""Closed-loop maximum throughput with wrk (Debian's ``wrk`` package): a Lua script sets the POST
body and headers and prints a JSON summary line (``done`` hook) next to wrk's own report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.servers import pinned

_SCRIPT = """
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/json"
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_ms":%%.3f,"p90_ms":%%.3f,"p99_ms":%%.3f,"p999_ms":%%.3f,"max_ms":%%.3f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for ASCII text


def available() -> bool:
    return shutil.which("wrk") is not None


def run(url: str, body: str, headers: dict[str, str], *, connections: int, duration: float, threads: int = 1,
        cpus: str | None = None, timeout: float = 5) -> dict:
    lua = _SCRIPT % {"body": _lua_string(body),
                     "headers": "\n".join(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}"
                                          for k, v in headers.items())}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
        script = fh.name
    argv = pinned(cpus, ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", f"--timeout={timeout:g}s",
                         "--latency", "-s", script, url])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    finally:
        Path(script).unlink(missing_ok=True)
    raw = done.stdout + done.stderr
    match = re.search(r"^WRKJSON (.*)$", raw, re.M)
    result = json.loads(match.group(1)) if match else {"requests": 0}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", raw)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    seconds = max(result.get("duration_us", 0), 1) / 1e6
    result["rps"] = round(result["requests"] / seconds, 1)
    result["errors"] = sum(result.get(k, 0) for k in ("connect", "read", "write", "timeout")) + result["non_2xx"]
    result["connections"] = connections
    result["argv"] = " ".join(argv[argv.index("wrk"):])
    result["raw"] = "\n".join(line for line in raw.splitlines() if not line.startswith("WRKJSON"))
    return result
