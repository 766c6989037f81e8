"""Micro-benchmark of the upstream hop: which HTTP client should `UpstreamClient` be built on?

Every candidate does what the relay does with an upstream reply, with the same timeout rules
(first byte, idle between chunks, total), against bench/upstream.py on 127.0.0.1, in one process
on uvloop:

  httpx       the relay's client before this benchmark (httpx.AsyncClient, asyncio.timeout per chunk)
  aiohttp     aiohttp.ClientSession with its own sock_read/total timeouts (skipped when not installed)
  waystation  app.relay.upstream.UpstreamClient: HTTP/1.1 on asyncio Protocols + httptools

Workloads: ``json`` (non-streaming chat completion), ``sse`` (a 20-chunk stream sent back to back),
``sse-1ms`` (20 chunks 1 ms apart, so each arrives on its own: the per-chunk cost; concurrent only).
Each is measured sequentially (latency p50/p99 of a whole exchange, client CPU per request) and with
``--concurrency`` tasks (requests/s, client CPU per request). Rounds interleave the candidates; the
table shows each measure's median over the rounds.

    .venv/bin/python -m bench.client_bench --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import uvloop

from app.relay.upstream import Timeouts, UpstreamClient
from bench.servers import start_upstream

HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench", "accept-encoding": "identity"}
BODIES = {
    "json": b'{"model":"bench","messages":[{"role":"user","content":"Hello"}],"max_tokens":16}',
    "sse": b'{"model":"bench-c20-i0","stream":true,"messages":[{"role":"user","content":"Hello"}]}',
    "sse-1ms": b'{"model":"bench-c20-i1","stream":true,"messages":[{"role":"user","content":"Hello"}]}',
}
TIMEOUTS = Timeouts(connect=5, first_byte=30, idle=30, total=120)
CLIENT_CPU, UPSTREAM_CPU = 0, "1"
#: HTTP chunks bench/upstream.py sends per stream: the role chunk, 20 content chunks, the tail.
UPSTREAM_CHUNKS = 22


class Reply(Protocol):
    status: int

    async def body(self) -> bytes: ...
    def iter_chunks(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


class Candidate(Protocol):
    async def send(self, url: str, headers: dict[str, str], body: bytes, timeouts: Timeouts, *,
                   stream: bool) -> Reply: ...
    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------- httpx (the old client)


class HttpxReply:
    def __init__(self, response: httpx.Response, chunks: AsyncIterator[bytes], first: bytes, deadline: float,
                 idle: float) -> None:
        self.status = response.status_code
        self._response, self._chunks = response, chunks
        self._first, self._deadline, self._idle = first, deadline, idle

    async def body(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        if self._first:
            yield self._first
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(min(remaining, self._idle)):
                try:
                    chunk = await anext(self._chunks)
                except StopAsyncIteration:
                    return
            if chunk:
                yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxCandidate:
    def __init__(self) -> None:
        self._client = httpx.AsyncClient(timeout=None, follow_redirects=False,
                                         limits=httpx.Limits(max_connections=2000, max_keepalive_connections=500))

    async def send(self, url: str, headers: dict[str, str], body: bytes, timeouts: Timeouts, *,
                   stream: bool) -> HttpxReply:
        deadline = time.monotonic() + timeouts.total
        request = self._client.build_request("POST", url, content=body, headers=headers, timeout=httpx.Timeout(
            connect=timeouts.connect, read=timeouts.idle, write=timeouts.idle, pool=timeouts.connect))
        async with asyncio.timeout(min(timeouts.first_byte, timeouts.total)):
            response = await self._client.send(request, stream=True)
            chunks = response.aiter_bytes()
            first = b""
            if stream and response.status_code < 400:
                first = await anext(chunks, b"")
        return HttpxReply(response, chunks, first, deadline, timeouts.idle)

    async def aclose(self) -> None:
        await self._client.aclose()


# --------------------------------------------------------------------------- aiohttp


class AiohttpReply:
    def __init__(self, response: Any, first: bytes) -> None:
        self.status = response.status
        self._response, self._first = response, first

    async def body(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        if self._first:
            yield self._first
        async for chunk in self._response.content.iter_any():
            yield chunk

    async def aclose(self) -> None:
        self._response.release()


class AiohttpCandidate:
    def __init__(self) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=2000, limit_per_host=0, keepalive_timeout=30),
            auto_decompress=False, skip_auto_headers=("User-Agent",))

    async def send(self, url: str, headers: dict[str, str], body: bytes, timeouts: Timeouts, *,
                   stream: bool) -> AiohttpReply:
        timeout = self._aiohttp.ClientTimeout(total=timeouts.total, sock_connect=timeouts.connect,
                                              sock_read=timeouts.idle)
        async with asyncio.timeout(min(timeouts.first_byte, timeouts.total)):
            response = await self._session.post(url, data=body, headers=headers, timeout=timeout,
                                                allow_redirects=False)
            first = await response.content.readany() if stream and response.status < 400 else b""
        return AiohttpReply(response, first)

    async def aclose(self) -> None:
        await self._session.close()


def candidates() -> dict[str, Callable[[], Candidate]]:
    found: dict[str, Callable[[], Candidate]] = {"httpx": HttpxCandidate}
    with contextlib.suppress(ImportError):
        import aiohttp  # noqa: F401 - only to know whether it is installed

        found["aiohttp"] = AiohttpCandidate
    found["waystation"] = UpstreamClient
    return found


# --------------------------------------------------------------------------- measuring


async def exchange(client: Candidate, url: str, workload: str) -> int:
    """One request read to its end, as the relay reads it; returns the chunks delivered."""
    stream = workload != "json"
    reply = await client.send(url, HEADERS, BODIES[workload], TIMEOUTS, stream=stream)
    try:
        if not stream:
            await reply.body()
            return 1
        return sum([1 async for _ in reply.iter_chunks()])
    finally:
        await reply.aclose()


async def sequential(client: Candidate, url: str, workload: str, count: int) -> dict[str, float]:
    for _ in range(50):
        await exchange(client, url, workload)
    samples = []
    cpu = time.process_time()
    for _ in range(count):
        start = time.perf_counter()
        await exchange(client, url, workload)
        samples.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu
    samples.sort()
    return {"p50_ms": statistics.median(samples) * 1000, "p99_ms": samples[int(len(samples) * 0.99)] * 1000,
            "cpu_us": cpu / count * 1e6}


async def concurrent(client: Candidate, url: str, workload: str, tasks: int, seconds: float) -> dict[str, float]:
    done = chunks = 0
    stop = False

    async def worker() -> None:
        nonlocal done, chunks
        while not stop:
            got = await exchange(client, url, workload)  # not `chunks += await ...`: that reads chunks first
            chunks += got
            done += 1

    workers = [asyncio.create_task(worker()) for _ in range(tasks)]
    await asyncio.sleep(0.5)  # warm-up: every connection open
    done = chunks = 0
    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    counted, counted_chunks = max(done, 1), chunks
    stop = True
    await asyncio.gather(*workers)
    # chunks: reads per request (a client may hand over several upstream chunks in one read)
    return {"rps": counted / elapsed, "cpu_us": cpu / counted * 1e6, "chunks": counted_chunks / counted}


async def one_round(url: str, names: list[str], args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        client = candidates()[name]()
        try:
            row = results[name] = {}
            for workload in ("json", "sse"):
                row[f"{workload} seq"] = await sequential(client, url, workload, args.requests)
                row[f"{workload} x{args.concurrency}"] = await concurrent(client, url, workload, args.concurrency,
                                                                          args.seconds)
            row[f"sse-1ms x{args.concurrency}"] = await concurrent(client, url, "sse-1ms", args.concurrency,
                                                                   args.seconds)
        finally:
            await client.aclose()
        print(f"  {name}: " + "; ".join(f"{k} " + ", ".join(f"{m}={v:.3g}" for m, v in r.items())
                                        for k, r in row.items()), flush=True)
    return results


def median(rounds: list[dict[str, dict[str, dict[str, float]]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per candidate and measure, the median over the rounds."""
    return {name: {run: {m: statistics.median(r[name][run][m] for r in rounds) for m in measures}
                   for run, measures in runs.items()}
            for name, runs in rounds[0].items()}


def table(results: dict[str, dict[str, dict[str, float]]], tasks: int) -> str:
    lines = [f"| client | json p50 / p99 ms | json CPU µs/req | json req/s ×{tasks} | json CPU µs/req ×{tasks} "
             f"| sse p50 / p99 ms | sse CPU µs/stream | sse streams/s ×{tasks} | sse CPU µs/stream ×{tasks} "
             f"| sse 1 ms apart ×{tasks}: CPU µs per upstream chunk (reads/stream) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        js, jc, ss, sc, sp = (r["json seq"], r[f"json x{tasks}"], r["sse seq"], r[f"sse x{tasks}"],
                              r[f"sse-1ms x{tasks}"])
        lines.append(f"| {name} | {js['p50_ms']:.3f} / {js['p99_ms']:.3f} | {js['cpu_us']:.0f} | {jc['rps']:,.0f} "
                     f"| {jc['cpu_us']:.0f} | {ss['p50_ms']:.3f} / {ss['p99_ms']:.3f} | {ss['cpu_us']:.0f} "
                     f"| {sc['rps']:,.0f} | {sc['cpu_us']:.0f} "
                     f"| {sp['cpu_us'] / UPSTREAM_CHUNKS:.1f} ({sp['chunks']:.0f}) |")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {CLIENT_CPU})  # the upstream runs on the other CPU
    names = [n for n in args.clients.split(",") if n in candidates()]
    with tempfile.TemporaryDirectory() as tmp:
        upstream, base = start_upstream(Path(tmp), UPSTREAM_CPU, max_seconds=3600)
        try:
            url = base + "/v1/chat/completions"
            rounds = []
            for i in range(args.rounds):
                print(f"round {i + 1}/{args.rounds}", flush=True)
                rounds.append(await one_round(url, names if i % 2 == 0 else names[::-1], args))
        finally:
            upstream.stop()
    print()
    print(table(median(rounds), args.concurrency))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="httpx,aiohttp,waystation", help="comma-separated candidates")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per workload")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each concurrent run")
    uvloop.run(main(parser.parse_args()))
