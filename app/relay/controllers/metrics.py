"""``GET /metrics``: the application's Prometheus metrics in text format 0.0.4.

Open to anyone who can reach the listen address, like ``/healthz``: serve the relay on a private
network, or block ``/metrics`` at the load balancer / ingress. Labels never carry key or account
ids, so what leaks is operational (model names, channel ids, traffic and spend totals), not customer
data. Making it require a token is a setting to add, not a change to this handler's contract.
"""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from app.relay.metrics import CONTENT_TYPE, Metrics

__all__ = ["metrics_handler", "provide_metrics"]


def provide_metrics(state: State) -> Metrics:
    """The application's ``Metrics``, which ``create_app`` puts on ``app.state.metrics``. Circuit
    states are read from the health book at scrape time, so they include what other replicas and
    the probes changed."""
    metrics: Metrics = state.metrics
    relay = getattr(state, "relay", None)
    if relay is not None:
        for health in relay.health.all_stats():
            metrics.set_circuit(health.channel_id, health.state)
    return metrics


@get("/metrics", include_in_schema=False, sync_to_thread=False,
     dependencies={"metrics": Provide(provide_metrics, sync_to_thread=False)})
def metrics_handler(metrics: NamedDependency[Metrics]) -> Response[bytes]:
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)
