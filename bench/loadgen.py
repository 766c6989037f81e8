"""Load generators wrk cannot be: raw asyncio sockets (uvloop + httptools), one JSON line out.

``open`` — open loop at a fixed rate: request i is sent at t0 + i/rate whatever happened to the
earlier ones (a free keep-alive connection is reused, else a new one is opened), so a slow answer
never delays the next request (no coordinated omission). Latency is measured from the send (or
the connect, for a new connection) to the last byte of the answer; the scheduler's lateness
against the ideal schedule (timers have ~1 ms resolution) is reported as ``send_lag_ms``.

``streams`` — N concurrent long SSE streams: each connection sends one streaming request at a time,
back to back, and records the gap between consecutive body arrivals (the inter-chunk delay the
client sees) after the first few chunks of each stream.

    python -m bench.loadgen open --url http://127.0.0.1:8000/v1/chat/completions --body '{...}' \
        --header 'authorization: Bearer sk-...' --rate 100 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import httptools
import uvloop

now = time.perf_counter


def percentiles(values: list[float], points: tuple[float, ...] = (50, 90, 99, 99.9)) -> dict[str, float]:
    """Nearest-rank percentiles (and max) in milliseconds of values in seconds."""
    if not values:
        return {}
    s = sorted(values)
    out = {f"p{p:g}": round(s[min(len(s) - 1, int(len(s) * p / 100))] * 1000, 3) for p in points}
    out["max"] = round(s[-1] * 1000, 3)
    out["mean"] = round(sum(s) / len(s) * 1000, 3)
    return out


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, on_gap: list[float] | None = None, skip_chunks: int = 3) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[int] | None = None
        self.gaps, self.skip = on_gap, skip_chunks
        self.t_data = 0.0
        self.last_body: float | None = None
        self.bodies = 0
        self.got_body = False
        self.events = 0  # SSE events received (several may arrive in one read)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.done and not self.done.done():
            self.done.set_exception(ConnectionError("connection lost"))

    def send(self, raw: bytes) -> asyncio.Future[int]:
        self.done = asyncio.get_running_loop().create_future()
        self.last_body, self.bodies = None, 0
        self.transport.write(raw)
        return self.done

    def data_received(self, data: bytes) -> None:
        self.t_data = now()
        self.got_body = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.done and not self.done.done():
                self.done.set_exception(exc)
            self.transport.close()
            return
        if self.got_body and self.gaps is not None:
            if self.last_body is not None and self.bodies > self.skip:
                self.gaps.append(self.t_data - self.last_body)
            self.last_body = self.t_data

    def on_body(self, body: bytes) -> None:
        self.events += body.count(b"data:")
        if not self.got_body:
            self.bodies += 1
        self.got_body = True

    def on_message_complete(self) -> None:
        if self.done and not self.done.done():
            self.done.set_result(self.parser.get_status_code())


def build_request(url: str, body: str, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    payload = body.encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json",
             f"Content-Length: {len(payload)}", *headers]
    return parts.hostname or "127.0.0.1", parts.port or 80, ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _connect(host: str, port: int, **kw: object) -> Conn:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(lambda: Conn(**kw), host, port)
    return conn


async def open_loop(host: str, port: int, raw: bytes, rate: float, duration: float, warmup: float) -> dict:
    loop = asyncio.get_running_loop()
    idle: list[Conn] = []
    latencies: list[float] = []
    lags: list[float] = []
    statuses: dict[str, int] = {}
    errors = warmup_ok = 0

    async def one(scheduled: float, record: bool) -> None:
        nonlocal errors, warmup_ok
        sent = now()
        lag = sent - scheduled
        conn = None
        try:
            conn = idle.pop() if idle else await _connect(host, port)
            status = await asyncio.wait_for(conn.send(raw), 30)
        except (OSError, ConnectionError, TimeoutError, httptools.HttpParserError):
            errors += record
            if conn is not None and conn.transport:
                conn.transport.close()
            return
        latency = now() - sent
        idle.append(conn)
        warmup_ok += not record and status == 200
        if record:
            latencies.append(latency)
            lags.append(lag)
            statuses[str(status)] = statuses.get(str(status), 0) + 1

    tasks: set[asyncio.Task[None]] = set()
    total = int((warmup + duration) * rate)
    t0 = now() + 0.05
    for i in range(total):
        scheduled = t0 + i / rate
        delay = scheduled - now()
        if delay > 0:  # the loop's timers have ~1 ms resolution: the lateness is reported as send_lag
            await asyncio.sleep(delay)
        task = loop.create_task(one(scheduled, i >= warmup * rate))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    for conn in idle:
        conn.transport and conn.transport.close()
    return {"mode": "open", "rate": rate, "duration_s": duration, "requests": len(latencies), "errors": errors,
            "statuses": statuses, "warmup_ok": warmup_ok, "latency_ms": percentiles(latencies),
            "send_lag_ms": percentiles(lags), "connections": len(idle)}


async def streams(host: str, port: int, raw: bytes, n: int, duration: float, ramp: float) -> dict:
    gaps: list[float] = []
    statuses: dict[str, int] = {}
    errors = completed = events = timeouts = 0
    deadline = now() + ramp + duration

    async def worker(i: int) -> None:
        nonlocal errors, completed, events, timeouts
        await asyncio.sleep(ramp * i / n)
        try:
            conn = await _connect(host, port, on_gap=gaps)
        except OSError:
            errors += 1
            return
        while now() < deadline:
            try:
                status = await asyncio.wait_for(conn.send(raw), max(1.0, deadline - now() + 30))
            except (OSError, ConnectionError, TimeoutError, httptools.HttpParserError) as exc:
                errors += 1
                timeouts += isinstance(exc, TimeoutError)
                break
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            completed += 1
        events += conn.events
        if conn.transport:
            conn.transport.close()

    started = now()
    await asyncio.gather(*(worker(i) for i in range(n)))
    return {"mode": "streams", "streams": n, "duration_s": round(now() - started, 1), "completed": completed,
            "errors": errors, "timeouts": timeouts, "statuses": statuses, "events": events, "gaps": len(gaps),
            "gap_ms": percentiles(gaps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["open", "streams"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--rate", type=float, default=100, help="open: requests per second")
    parser.add_argument("--duration", type=float, default=10, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2, help="open: seconds sent but not measured")
    parser.add_argument("--streams", type=int, default=1000, help="streams: concurrent connections")
    parser.add_argument("--ramp", type=float, default=2, help="streams: seconds over which they start")
    args = parser.parse_args()
    host, port, raw = build_request(args.url, args.body, args.header)
    if args.mode == "open":
        result = uvloop.run(open_loop(host, port, raw, args.rate, args.duration, args.warmup))
    else:
        result = uvloop.run(streams(host, port, raw, args.streams, args.duration, args.ramp))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
