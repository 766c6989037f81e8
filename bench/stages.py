"""Where a request's wall-clock time goes: serve the app like ``waystation serve`` does, with
timers wrapped (at run time, from outside: app/ is not changed) around the awaits of the request
path, and write their percentiles to ``$BENCH_STAGES_OUT`` every second.

Stages nest: ``RelayCall.run`` contains the others except ``KeyAuthenticator.resolve``;
``RelayCall._settle`` contains ``SettlementWriter.submit`` (waiting for the group commit), which
waits on ``SettlementWriter._write`` (one batch: ``post_settlements`` = the INSERTs, then
``AsyncSession.commit``, then the funds commit). A stage whose class or function does not exist
(the code moved on) is skipped.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import threading
import time

STAGES = (
    "app.relay.auth:KeyAuthenticator.resolve",
    "app.relay.limits.local:LocalLimiter.admit",
    "app.relay.limits.redis_store:RedisLimiter.admit",
    "app.relay.service:RelayCall._candidates",
    "app.relay.planner:Planner.order",
    "app.relay.billing:Billing.open",
    "app.tenants.funds.local:LocalFunds.reserve",
    "app.tenants.funds.redis_store:RedisFunds.reserve",
    "app.relay.upstream.client:UpstreamClient.send",
    "app.relay.health.local:LocalHealth.record",
    "app.relay.health.redis_book:RedisHealth.record",
    "app.relay.upstream.client:UpstreamReply.body",
    "app.relay.service:RelayCall._settle",
    "app.relay.settlement:SettlementWriter.submit",
    "app.relay.settlement:SettlementWriter._write",
    "app.relay.billing:post_settlements",
    "sqlalchemy.ext.asyncio:AsyncSession.commit",
    "app.tenants.funds.redis_store:RedisFunds.commit",
    "app.relay.service:RelayCall.run",
)

_times: dict[str, list[float]] = {}


def _wrap(spec: str) -> bool:
    """Wrap ``module:Class.method`` or ``module:function`` (before app.asgi imports it)."""
    module, _, qual = spec.partition(":")
    cls_name, _, method = qual.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), cls_name) if cls_name else importlib.import_module(module)
        original = getattr(cls, method)
    except (ImportError, AttributeError):
        return False
    samples = _times.setdefault(qual, [])

    @functools.wraps(original)
    async def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            samples.append(time.perf_counter() - start)

    setattr(cls, method, timed)
    return True


def snapshot() -> dict[str, dict[str, float]]:
    out = {}
    for name, samples in list(_times.items()):
        if samples:
            s = sorted(samples)
            n = len(s)
            out[name] = {"n": n, "p50_ms": round(s[n // 2] * 1000, 3), "p99_ms": round(s[int(n * 0.99)] * 1000, 3),
                         "mean_ms": round(sum(s) / n * 1000, 3)}
    return out


def reset() -> None:
    for samples in _times.values():
        samples.clear()


def main() -> None:
    import uvicorn

    for spec in STAGES:
        _wrap(spec)
    target = os.environ["BENCH_STAGES_OUT"]
    reset_flag = target + ".reset"

    def writer() -> None:
        while True:
            time.sleep(1)
            if os.path.exists(reset_flag):  # the harness drops the warm-up's samples
                os.unlink(reset_flag)
                reset()
            with open(target + ".tmp", "w") as fh:
                json.dump(snapshot(), fh)
            os.replace(target + ".tmp", target)

    threading.Thread(target=writer, daemon=True).start()
    port = int(os.environ["WAYSTATION_PORT"])
    uvicorn.run("app.asgi:create_app", factory=True, host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
