"""bench/RESULTS.md from the results of one ``bench.run``."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path

from bench.servers import ROOT

NAMES = {"embedded": "embedded (SQLite, in-process)", "postgres": "PostgreSQL + Redis"}


def machine() -> dict[str, str]:
    cpu = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "app", "alembic"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return {"cpus": str(os.cpu_count()), "cpu": cpu.group(1) if cpu else "?",
            "memory": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "?",
            "kernel": platform.release(), "python": platform.python_version(),
            "commit": (commit.stdout.strip() or "?") + (" + uncommitted changes in app/" if dirty else ""),
            "wrk": (wrk.stdout + wrk.stderr).split("\n")[0].strip()}


def _get(d: dict | None, *path: str) -> float | None:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d  # type: ignore[return-value]


def _f(x: float | None, unit: str = "", digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}{unit}"


def _verdict(ok: bool | None) -> str:
    return "not run" if ok is None else ("**met**" if ok else "**missed**")


def targets(results: dict) -> list[tuple[str, str, str, str]]:
    """(target, configuration, measured, verdict) rows."""
    direct = results.get("direct", {})
    rows = []
    for backend, res in results["backends"].items():
        name, runs = NAMES[backend], res.get("runs", {})
        for p, limit in (("p50", 0.5), ("p99", 2.0)):
            relay, base = _get(runs, "latency", "latency_ms", p), _get(direct, "latency", "latency_ms", p)
            added = relay - base if relay is not None and base is not None else None
            rows.append((f"added latency at {results['args']['rate']:g} req/s, {p} ≤ {limit} ms", name,
                         f"{_f(added, ' ms', 3)} ({_f(relay, '', 3)} vs direct {_f(base, '', 3)})",
                         _verdict(None if added is None else added <= limit)))
        t = runs.get("throughput")
        if t:
            ok = t["rps"] >= 3000 and t["p99_ms"] < 50 and t["errors"] == 0
            rows.append(("non-streaming ≥ 3,000 req/s, p99 < 50 ms, no errors", name,
                         f"{t['rps']:,.0f} req/s, p99 {t['p99_ms']:.1f} ms, {t['errors']} errors "
                         f"({t['rps'] / 3000:.0%} of target)", _verdict(ok)))
        s = runs.get("stream")
        if s:
            rows.append((f"streaming ≥ 1,500 req/s of {results['args']['stream_chunks']} chunks", name,
                         f"{s['rps']:,.0f} req/s, p99 {s['p99_ms']:.1f} ms, {s['errors']} errors "
                         f"({s['rps'] / 1500:.0%} of target)", _verdict(s["rps"] >= 1500 and s["errors"] == 0)))
        for key in sorted((k for k in runs if k.startswith("long-")), key=lambda k: int(k.split("-")[1])):
            lg = runs[key]
            if "gap_ms" not in lg:
                continue
            relay, base = _get(lg, "gap_ms", "p99"), _get(direct, key, "gap_ms", "p99")
            added = relay - base if relay is not None and base is not None else None
            rows.append((f"{key.split('-')[1]} long streams, added inter-chunk p99 ≤ 5 ms", name,
                         f"{_f(added, ' ms')} (gap p99 {_f(relay)} vs direct {_f(base)} ms; "
                         f"{lg['completed']} streams done, {lg.get('timeouts', 0)} cut 30 s after their nominal end, "
                         f"{lg['errors'] - lg.get('timeouts', 0)} other errors)",
                         _verdict(None if added is None else added <= 5 and lg["errors"] == 0)))
        peak = max((r["rss_mb"]["max"] for r in runs.values() if "rss_mb" in r), default=None)
        rows.append(("RSS ≤ 150 MB per worker under load", name, _f(peak, " MB", 0),
                     _verdict(None if peak is None else peak <= 150)))
        soak = res.get("soak")
        if soak and soak["rss_mb"]:
            first, last = soak["rss_mb"][0], soak["rss_mb"][-1]
            rows.append((f"RSS flat over a {soak['seconds']:g} s soak", name,
                         f"{first:.0f} → {last:.0f} MB (max {max(soak['rss_mb']):.0f})",
                         _verdict(last - first <= 0.05 * first)))
        else:
            rows.append(("RSS flat over a 10-minute soak", name, "not run (use --soak 600)", _verdict(None)))
        verified = [r["billing"]["ledger_verify_ok"] for r in runs.values() if "billing" in r]
        rows.append(("`waystation ledger verify` passes after every run", name,
                     f"{sum(verified)}/{len(verified)} runs pass", _verdict(all(verified) if verified else None)))
    return rows


def summary_table(results: dict) -> str:
    lines = ["| target | configuration | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in targets(results)]
    return "\n".join(lines)


def _scenario_tables(results: dict) -> list[str]:
    columns = [("direct", results.get("direct", {}))] + [
        (NAMES[b], r.get("runs", {})) for b, r in results["backends"].items()]
    out = []
    if any("latency" in runs for _, runs in columns):
        out += ["### Latency at a fixed rate (open loop, bench/loadgen.py)", "",
                "| path | requests | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | send lag p99 ms |",
                "|---|---|---|---|---|---|---|---|---|"]
        for name, runs in columns:
            r = runs.get("latency")
            if r and "latency_ms" in r:
                lat = r["latency_ms"]
                out.append(f"| {name} | {r['requests']} | {r['errors']} | {lat.get('p50')} | {lat.get('p90')} | "
                           f"{lat.get('p99')} | {lat.get('p99.9')} | {lat.get('max')} | "
                           f"{_get(r, 'send_lag_ms', 'p99')} |")
        out.append("")
    for key, title in (("throughput", "Non-streaming throughput (closed loop, wrk)"),
                       ("stream", "Streaming throughput (closed loop, wrk; a response = one whole stream)")):
        if any(key in runs for _, runs in columns):
            out += [f"### {title}", "", "| path | req/s | requests | errors | p50 ms | p90 ms | p99 ms | max ms |",
                    "|---|---|---|---|---|---|---|---|"]
            for name, runs in columns:
                r = runs.get(key)
                if r and "rps" in r:
                    out.append(f"| {name} | {r['rps']:,.0f} | {r['requests']} | {r['errors']} | {r['p50_ms']:.2f} | "
                               f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} |")
            out.append("")
    long_keys = sorted({k for _, runs in columns for k in runs if k.startswith("long-")},
                       key=lambda k: int(k.split("-")[1]))
    if long_keys:
        out += ["### Concurrent long streams (bench/loadgen.py streams): gap between reads as the client sees it",
                "", "| path | streams | done | timeouts | errors | SSE events | reads with a gap | p50 ms | "
                "p90 ms | p99 ms | p99.9 ms | max ms | run s |", "|---" * 13 + "|"]
        for key in long_keys:
            for name, runs in columns:
                r = runs.get(key)
                if r and "gap_ms" in r:
                    g = r["gap_ms"]
                    out.append(f"| {name} | {r['streams']} | {r['completed']} | {r.get('timeouts', 0)} | "
                               f"{r['errors']} | {r.get('events')} | {r['gaps']} | {g.get('p50')} | {g.get('p90')} | "
                               f"{g.get('p99')} | {g.get('p99.9')} | {g.get('max')} | {r['duration_s']} |")
        out.append("")
    out += ["### Memory and billing per relay run", "",
            "| configuration | scenario | RSS before → after (max) MB | ledger verify | transactions added | "
            "2xx responses | customer spent (µ) | billed requests (spent / unit cost) | exact |",
            "|---|---|---|---|---|---|---|---|---|"]
    for backend, res in results["backends"].items():
        for scenario, r in res.get("runs", {}).items():
            m, b = r.get("rss_mb", {}), r.get("billing", {})
            billed = b.get("billed_requests")
            out.append(f"| {NAMES[backend]} | {scenario} | {m.get('before')} → {m.get('after')} ({m.get('max')}) | "
                       f"{'pass' if b.get('ledger_verify_ok') else 'FAIL'} | {b.get('transactions_added')} | "
                       f"{b.get('ok_responses')} | {b.get('customer_spent_micro')} | "
                       f"{'n/a' if billed is None else f'{billed:g}'} | "
                       f"{ {True: 'yes', False: '**NO**', None: 'n/a'}[b.get('exact')]} |")
    return out + [""]


def _stages_section(results: dict) -> list[str]:
    out = []
    for backend, res in results["backends"].items():
        st = res.get("stages")
        if not st or not st.get("stages"):
            continue
        total = _get(st, "stages", "RelayCall.run", "mean_ms") or 0
        out += [f"### {NAMES[backend]}: wall-clock time per stage at {results['args']['rate']:g} req/s "
                f"(bench/stages.py; client-side p50 {_get(st, 'latency_ms', 'p50')} ms)", "",
                "| stage (nested, see bench/stages.py) | calls | p50 ms | p99 ms | mean ms | share of run mean |",
                "|---|---|---|---|---|---|"]
        for name, v in st["stages"].items():
            share = f"{100 * v['mean_ms'] / total:.0f} %" if total else ""
            out.append(f"| `{name}` | {v['n']} | {v['p50_ms']} | {v['p99_ms']} | {v['mean_ms']} | {share} |")
        out.append("")
    return out


def _profile_section(results: dict) -> list[str]:
    out = ["## Where the time goes", ""]
    out += _stages_section(results)
    for backend, res in results["backends"].items():
        for key, kind in (("profile", "non-streaming"), ("profile_stream", "streaming")):
            out += _one_profile(backend, res.get(key), kind)
    return out


def _one_profile(backend: str, prof: dict | None, kind: str) -> list[str]:
    out: list[str] = []
    if prof:
        out += [f"### {NAMES[backend]}: py-spy during a closed-loop {kind} run", ""]
        if "skipped" in prof or not prof.get("samples"):
            return out + [f"Profile not available: {prof.get('skipped') or prof.get('error')}", ""]
        out += [f"{prof['samples']} busy samples (200 Hz, every thread of the server: the event loop and "
                f"aiosqlite's worker thread) while wrk drove {_f(prof.get('load_rps'), ' req/s', 0)} "
                f"(py-spy takes CPU too), i.e. {prof['busy_pct']}% of one CPU. "
                f"Raw collapsed stacks: `{prof.get('raw_file')}`.", "",
                "CPU by package (leaf frame):", "", "| package | % of busy samples |", "|---|---|"]
        out += [f"| {name} | {pct} |" for name, pct in prof["areas"][:14]]
        out += ["", "Waystation functions, inclusive (on the stack):", "", "| function | % |", "|---|---|"]
        out += [f"| `{name}` | {pct} |" for name, pct in prof["inclusive_app"][:20]]
        out += ["", "Hottest leaf frames (self time):", "", "| frame | % |", "|---|---|"]
        out += [f"| `{name}` | {pct} |" for name, pct in prof["self"][:15]]
        out.append("")
    return out


ANALYSIS = ("<!-- analysis: kept when the file is regenerated -->", "<!-- /analysis -->")


def kept_analysis(previous: str) -> list[str]:
    """The hand-written findings of the previous RESULTS.md (between the markers), if any."""
    start, end = previous.find(ANALYSIS[0]), previous.find(ANALYSIS[1])
    if start < 0 or end < start:
        return [ANALYSIS[0], "", "_No findings written yet._", "", ANALYSIS[1]]
    return previous[start:end + len(ANALYSIS[1])].splitlines()


def render(results: dict, previous: str = "") -> str:
    m, a = results.get("machine") or machine(), results["args"]
    out = [
        "# Waystation benchmark results", "",
        f"Run {results['started']} (UTC), {results['elapsed_s']} s in all: `python -m bench.run "
        f"{' '.join(_cli(a))}` (`make bench` runs it with the defaults). Commit `{m['commit']}`.", "",
        "## Machine", "",
        f"- {m['cpus']} CPUs: {m['cpu']}; {m['memory']} RAM; Linux {m['kernel']}; Python {m['python']}; {m['wrk']}",
        "- **Everything shares these CPUs**: the relay is pinned to CPU 0 (taskset), the fake upstream and "
        "the load generators (wrk, bench/loadgen.py) share CPU 1; PostgreSQL and Redis are not pinned and "
        "take CPU from both. Absolute numbers are lower than on a machine with a separate load generator; "
        "the ratios to the direct runs are the meaningful part.", "",
        "## Configuration", "",
        f"- Measured runs of {a['duration']:g} s; latency at {a['rate']:g} req/s open loop after 2 s of warm-up; "
        f"throughput with wrk, {a['connections']} connections, 1 thread; streams of {a['stream_chunks']} chunks sent "
        f"back to back; {' and '.join(map(str, a['long_streams']))} concurrent long streams with a chunk every "
        f"{a['long_interval_ms']} ms, each as long as the run (a stream still running 30 s after its nominal end "
        f"is cut and counted as a timeout).",
        "- Upstream: bench/upstream.py (raw asyncio + httptools on uvloop, fixed OpenAI JSON and SSE answers). "
        "Direct runs hit it with the same bodies.",
        "- Waystation: `waystation serve` (uvicorn, 1 worker), `WAYSTATION_PROBES=off` (no health probes during "
        "the runs), default log level (one JSON log line per request, to a file). Production path: API key auth, "
        "rate limits (key rpm/tpm set high enough never to refuse), reservation on the chain root → reseller "
        "(+20 %) → sub-reseller (+10 %) → customer, settlement (group commit), usage event, metrics. "
        "Same-protocol passthrough (OpenAI in, OpenAI out).",
    ]
    for backend, res in results["backends"].items():
        out.append(f"- {NAMES[backend]}: {res.get('description')}")
        out += [f"  - note: {n}" for n in res.get("notes", [])]
    out += [f"- note: {n}" for n in results.get("notes", [])]
    out += ["", "## Targets", "", summary_table(results), "", "## Findings", ""]
    out += kept_analysis(previous)
    out += ["", "## Results", ""]
    out += _scenario_tables(results)
    where = _profile_section(results)
    out += where if len(where) > 2 else []
    out += ["## Raw output", ""]
    for name, runs in [("direct", results.get("direct", {}))] + [
            (b, r.get("runs", {})) for b, r in results["backends"].items()]:
        for scenario, r in runs.items():
            out += [f"<details><summary>{name} / {scenario}</summary>", "", "```"]
            if "raw" in r:
                out += [r["argv"], r["raw"].strip()]
            shown = {k: v for k, v in r.items() if k not in ("raw", "argv")}
            if "rss_mb" in shown:
                shown["rss_mb"] = {**shown["rss_mb"], "samples": shown["rss_mb"]["samples"][::4]}
            out += [json.dumps(shown, indent=1), "```", "", "</details>", ""]
    for backend, res in results["backends"].items():
        if res.get("soak"):
            out += [f"<details><summary>{backend} / soak</summary>", "", "```",
                    json.dumps(res["soak"], indent=1), "```", "", "</details>", ""]
    return "\n".join(out)


def _cli(a: dict) -> list[str]:
    return [f"--scenarios {','.join(a['scenarios'])}", f"--backends {','.join(a['backends'])}",
            f"--duration {a['duration']:g}"] + ([f"--soak {a['soak']:g}"] if a.get("soak") else [])


def main() -> None:
    """Re-render RESULTS.md from results.json (after editing the findings, or the report code)."""
    import sys

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "RESULTS.md"
    results = json.loads(out.with_name(out.stem.lower() + ".json").read_text())
    out.write_text(render(results, out.read_text() if out.exists() else ""))


if __name__ == "__main__":
    main()
