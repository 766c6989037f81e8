"""``make bench``: start everything on 127.0.0.1, run the scenarios direct and through Waystation,
write bench/RESULTS.md (and bench/results.json). Every run is bounded in time.

    .venv/bin/python -m bench.run [--scenarios latency,throughput,stream,long] [--backends embedded,postgres]
                                  [--duration 10] [--soak 0] [--no-profile]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from bench import profile, report, wrk
from bench.servers import POSTGRES_URL, REDIS_URL, ROOT, Waystation, pinned, rss_mb, start_upstream
from bench.tenancy import LONG, NON_STREAM, STREAM, balance, chat_body, set_up

SCENARIOS = ("latency", "throughput", "stream", "long")
BACKENDS = ("embedded", "postgres")
#: Ledger transactions per billed request: customer, sub-reseller and reseller pay their parents, the root pays
#: the upstream.
LEVELS = 4
RELAY_CPU, LOAD_CPU = "0", "1"  # the relay alone on CPU 0; upstream and load generators share CPU 1


def log(msg: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {msg}", flush=True)


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


def exact(billing: dict) -> bool:
    """Every 2xx billed once, at the exact unit cost when known, plus at most the requests the load
    generator cut in flight; one ledger transaction per paying level of each billed request."""
    ok, in_flight, tx = billing["ok_responses"], billing["in_flight"], billing["transactions_added"]
    billed = billing["billed_requests"]
    if billed is None:
        billed = tx / LEVELS
    elif tx != LEVELS * billed:
        return False
    return billed == int(billed) and ok <= billed <= ok + in_flight


class RssSampler(threading.Thread):
    """RSS of one process every ``every`` seconds while a run lasts."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.samples, self._done = pid, every, [], threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.every):
            try:
                self.samples.append(rss_mb(self.pid))
            except OSError:
                return

    def stop(self) -> list[float]:
        self._done.set()
        self.join()
        return self.samples


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.workdir = args, workdir
        self.upstream, self.upstream_base = start_upstream(workdir, LOAD_CPU, max_seconds=3600)
        self.long_chunks = max(1, int(args.duration * 1000 / args.long_interval_ms))

    # ----------------------------------------------------------------- one measurement
    def runs(self) -> list[str]:
        """The scenario runs in order: ``long`` becomes one run per stream count (``long-1000``)."""
        out = []
        for scenario in self.args.scenarios:
            out += [f"long-{n}" for n in self.args.long_streams] if scenario == "long" else [scenario]
        return out

    def measure(self, scenario: str, url: str, headers: dict[str, str], model_of: dict[str, str]) -> dict:
        a = self.args
        if scenario == "latency":
            return self._loadgen("open", url, chat_body(model_of[NON_STREAM]), headers, "--rate", str(a.rate),
                                 "--duration", str(a.duration), "--warmup", "2")
        if scenario.startswith("long-"):
            return self._loadgen("streams", url, chat_body(model_of[LONG], stream=True), headers,
                                 "--streams", scenario.split("-")[1], "--duration", str(a.duration), "--ramp", "2")
        stream = scenario == "stream"
        body = chat_body(model_of[STREAM if stream else NON_STREAM], stream=stream)
        return wrk.run(url, body, headers, connections=a.connections, duration=a.duration, cpus=LOAD_CPU)

    def _loadgen(self, mode: str, url: str, body: str, headers: dict[str, str], *extra: str) -> dict:
        argv = pinned(LOAD_CPU, [sys.executable, "-m", "bench.loadgen", mode, "--url", url, "--body", body,
                                 *[f"--header={k}: {v}" for k, v in headers.items()], *extra])
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=self.args.duration + 120)
        try:
            return json.loads(done.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            return {"error": (done.stderr or done.stdout)[-2000:]}

    # ----------------------------------------------------------------- direct
    def direct(self) -> dict:
        url = self.upstream_base + "/v1/chat/completions"
        models = {NON_STREAM: NON_STREAM, STREAM: f"{STREAM}-c{self.args.stream_chunks}-i0",
                  LONG: f"{LONG}-c{self.long_chunks}-i{self.args.long_interval_ms}"}
        results = {}
        for scenario in self.runs():
            log(f"direct / {scenario}")
            results[scenario] = self.measure(scenario, url, {"authorization": "Bearer sk-bench-upstream"}, models)
        return results

    # ----------------------------------------------------------------- through Waystation
    def relay(self, backend: str) -> dict:
        a = self.args
        ws = Waystation(backend, self.workdir, RELAY_CPU)
        out: dict = {"description": ws.description, "runs": {}}
        try:
            ws.start()
            out["rss_started_mb"] = ws.rss_mb()
            tenancy = set_up(ws.base_url, ws.admin_key, self.upstream_base, stream_chunks=a.stream_chunks,
                             stream_interval_ms=0, long_chunks=self.long_chunks,
                             long_interval_ms=a.long_interval_ms)
            out["notes"] = tenancy.notes
            url = ws.base_url + "/v1/chat/completions"
            headers = {"authorization": f"Bearer {tenancy.customer_key}"}
            customer = tenancy.accounts["customer"]
            models = {m: m for m in (NON_STREAM, STREAM, LONG)}
            costs = self._unit_costs(ws, url, headers, customer)
            out["unit_cost_micro"] = costs
            log(f"{backend}: warm-up")
            wrk.run(url, chat_body(NON_STREAM), headers, connections=8, duration=2, cpus=LOAD_CPU)
            out["rss_idle_mb"] = ws.rss_mb()
            for scenario in self.runs():
                log(f"{backend} / {scenario}")
                out["runs"][scenario] = self._relay_run(ws, scenario, url, headers, models, customer, costs)
                if scenario in ("throughput", "stream") and a.profile:  # before the long streams
                    key = "profile" if scenario == "throughput" else "profile_stream"
                    out[key] = self._profile(ws, url, headers, backend, stream=scenario == "stream")
            if a.soak:
                out["soak"] = self._soak(ws, url, headers)
        finally:
            ws.stop()
        if a.stages and "latency" in a.scenarios:
            out["stages"] = self._stages(backend)
        return out

    def _stages(self, backend: str) -> dict:
        """A second latency run against a server with timers around each stage (bench/stages.py)."""
        log(f"{backend}: stage timings at {self.args.rate:g} req/s")
        out_file = self.workdir / f"stages-{backend}.json"
        ws = Waystation(backend, self.workdir, RELAY_CPU, stages_out=out_file)
        try:
            ws.start()
            tenancy = set_up(ws.base_url, ws.admin_key, self.upstream_base, stream_chunks=self.args.stream_chunks,
                             stream_interval_ms=0, long_chunks=self.long_chunks,
                             long_interval_ms=self.args.long_interval_ms)
            headers = {"authorization": f"Bearer {tenancy.customer_key}"}
            url = ws.base_url + "/v1/chat/completions"
            wrk.run(url, chat_body(NON_STREAM), headers, connections=8, duration=2, cpus=LOAD_CPU)
            Path(str(out_file) + ".reset").touch()
            time.sleep(1.5)
            load = self._loadgen("open", url, chat_body(NON_STREAM), headers, "--rate", str(self.args.rate),
                                 "--duration", str(self.args.duration), "--warmup", "0")
            time.sleep(1.5)
            stages = json.loads(out_file.read_text()) if out_file.exists() else {}
        finally:
            ws.stop()
        return {"latency_ms": load.get("latency_ms"), "stages": stages}

    def _unit_costs(self, ws: Waystation, url: str, headers: dict[str, str], customer: int) -> dict[str, int]:
        """What one request of each kind costs the customer (balance before/after one request)."""
        import httpx

        costs = {}
        for model, stream in ((NON_STREAM, False), (STREAM, True)):  # a long stream lasts the whole run
            before = balance(ws.base_url, ws.admin_key, customer)
            r = httpx.post(url, content=chat_body(model, stream=stream), timeout=30,
                           headers={**headers, "content-type": "application/json"})
            r.raise_for_status()
            costs[model] = before - balance(ws.base_url, ws.admin_key, customer)
        return costs

    def _relay_run(self, ws: Waystation, scenario: str, url: str, headers: dict[str, str], models: dict[str, str],
                   customer: int, costs: dict[str, int]) -> dict:
        before_ledger = ws.ledger_verify()
        before_balance = balance(ws.base_url, ws.admin_key, customer)
        rss_before = ws.rss_mb()
        sampler = RssSampler(ws.pid)
        sampler.start()
        result = self.measure(scenario, url, headers, models)
        samples = sampler.stop()
        time.sleep(1)  # requests the load generator cut at its deadline may still be settling
        after_ledger = ws.ledger_verify()
        spent = before_balance - balance(ws.base_url, ws.admin_key, customer)
        unit = costs.get(STREAM if scenario == "stream" else NON_STREAM) if not scenario.startswith("long") else None
        if "rps" in result:  # wrk: requests still in flight at its deadline are cut, yet billed
            ok, in_flight = result.get("requests", 0) - result.get("non_2xx", 0), result["connections"]
        elif scenario == "latency":  # the warm-up requests are billed too
            ok, in_flight = result.get("statuses", {}).get("200", 0) + result.get("warmup_ok", 0), 0
        else:  # a stream the client cut is read to its end and billed, perhaps after this check
            ok, in_flight = result.get("completed", 0), result.get("timeouts", 0)
        tx = (after_ledger.get("transactions") or 0) - (before_ledger.get("transactions") or 0)
        result["billing"] = {
            "ledger_verify_ok": bool(after_ledger.get("ok")) and after_ledger.get("exit_code") == 0,
            "ledger_verify": {k: after_ledger.get(k) for k in ("ok", "transactions", "entries", "violations",
                                                              "exit_code", "error") if k in after_ledger},
            "transactions_added": tx, "customer_spent_micro": spent, "ok_responses": ok, "in_flight": in_flight,
            "billed_requests": spent / unit if unit else None,
        }
        result["billing"]["exact"] = exact(result["billing"])
        result["rss_mb"] = {"before": rss_before, "after": ws.rss_mb(), "max": max(samples, default=rss_before),
                            "samples": samples}
        return result

    def _profile(self, ws: Waystation, url: str, headers: dict[str, str], backend: str, *, stream: bool) -> dict:
        seconds = min(self.args.duration, 10)
        raw = self.workdir / f"profile-{'stream-' if stream else ''}{backend}.txt"
        proc = profile.record(ws.pid, seconds, raw)
        if proc is None:
            return {"skipped": "py-spy not installed (pip install py-spy)"}
        log(f"{backend}: profiling a {'stream' if stream else 'throughput'} run ({seconds:g} s, py-spy --nonblocking)")
        body = chat_body(STREAM, stream=True) if stream else chat_body(NON_STREAM)
        load = wrk.run(url, body, headers, connections=self.args.connections, duration=seconds + 1,
                       cpus=LOAD_CPU)
        _, err = proc.communicate(timeout=60)
        summary = profile.summarise(raw, seconds)
        if not summary["samples"]:
            summary["error"] = err.decode(errors="replace")[-1000:]
        summary["load_rps"] = load.get("rps")
        keep = ROOT / "bench" / "profiles"
        keep.mkdir(exist_ok=True)
        if raw.exists():
            (keep / f"{raw.name}.gz").write_bytes(gzip.compress(raw.read_bytes()))
            summary["raw_file"] = f"bench/profiles/{raw.name}.gz"
        return summary

    def _soak(self, ws: Waystation, url: str, headers: dict[str, str]) -> dict:
        log(f"soak: {self.args.soak:g} s of closed-loop load, RSS every 10 s")
        sampler = RssSampler(ws.pid, every=10)
        sampler.start()
        load = wrk.run(url, chat_body(NON_STREAM), headers, connections=self.args.connections,
                       duration=self.args.soak, cpus=LOAD_CPU)
        samples = sampler.stop()
        return {"seconds": self.args.soak, "rps": load.get("rps"), "errors": load.get("errors"), "rss_mb": samples,
                "ledger_verify": ws.ledger_verify()}

    def close(self) -> None:
        self.upstream.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}")
    p.add_argument("--backends", default=",".join(BACKENDS), help="embedded, postgres (PostgreSQL + Redis)")
    p.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    p.add_argument("--rate", type=float, default=100, help="latency: requests per second (open loop)")
    p.add_argument("--connections", type=int, default=64, help="throughput/stream: wrk connections")
    p.add_argument("--stream-chunks", type=int, default=20, help="stream: chunks per streamed response")
    p.add_argument("--long-streams", default="100,1000", help="long: concurrent streams (a list: one run each)")
    p.add_argument("--long-interval-ms", type=int, default=20, help="long: milliseconds between chunks")
    p.add_argument("--soak", type=float, default=0, help="seconds of soak on each backend (0: none; 600 = target)")
    p.add_argument("--no-profile", dest="profile", action="store_false", help="skip the py-spy profile")
    p.add_argument("--no-stages", dest="stages", action="store_false", help="skip the per-stage latency timings")
    p.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    args = p.parse_args(argv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.backends = [b for b in args.backends.split(",") if b]
    args.long_streams = [int(n) for n in str(args.long_streams).split(",") if n]
    unknown = set(args.scenarios) - set(SCENARIOS) | set(args.backends) - set(BACKENDS)
    if unknown:
        p.error(f"unknown scenario/backend: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not wrk.available():
        print("bench: wrk is not installed. Install it with: sudo apt-get install -y wrk", file=sys.stderr)
        return 2
    notes = []
    if "postgres" in args.backends and not (reachable(POSTGRES_URL) and reachable(REDIS_URL)):
        notes.append(f"postgres backend skipped: PostgreSQL ({POSTGRES_URL}) or Redis ({REDIS_URL}) unreachable")
        args.backends.remove("postgres")
    started = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="waystation-bench-"))
    results: dict = {"started": started.isoformat(timespec="seconds"), "args": vars(args), "notes": notes,
                     "machine": report.machine(), "backends": {}}
    bench = Bench(args, workdir)
    try:
        results["direct"] = bench.direct()
        for backend in args.backends:
            results["backends"][backend] = bench.relay(backend)
    except BaseException:
        log(f"failed; the servers' logs are kept in {workdir}")
        raise
    finally:
        bench.close()
    results["elapsed_s"] = round((datetime.now(UTC) - started).total_seconds())
    out = Path(args.out)
    out.with_name(out.stem.lower() + ".json").write_text(json.dumps(results, indent=1))
    out.write_text(report.render(results, out.read_text() if out.exists() else ""))
    shutil.rmtree(workdir, ignore_errors=True)
    log(f"done in {results['elapsed_s']} s: {args.out}")
    print(report.summary_table(results))
    failed = [b for b, r in results["backends"].items()
              for run in r.get("runs", {}).values() if not run.get("billing", {}).get("ledger_verify_ok")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
