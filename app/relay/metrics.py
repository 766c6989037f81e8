"""Prometheus metrics for the relay: one ``Metrics`` per application, on its own registry.

Never the process-global default registry, so tests (and one process hosting several apps) can
build as many as they like. Label values are bounded by construction: protocol, op, status class,
cache and stream come from code; model and channel are operator-defined; key and account ids are
never labels (they belong in the log line, not in a time series). As a backstop against a flood of
distinct model names, at most ``max_models`` model label values are kept; later ones become "other".

Hot path: ``Recorder.record`` calls ``request`` / ``usage`` / ``upstream_error`` once per request.
Each caches the label children it touches in a dict keyed by the raw values, so a request costs a
few dict lookups and counter increments, never a ``labels()`` call after the first time a
combination is seen.

One process, one registry: with several worker processes per host, each process is scraped as its
own target (prometheus_client's multiprocess mode is not used).
"""

from __future__ import annotations

import logging
import re
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from app.relay.protocols import ir

__all__ = ["CIRCUIT_VALUES", "CONTENT_TYPE", "LATENCY_BUCKETS", "Metrics"]

log = logging.getLogger("waystation.metrics")

#: The text exposition format every Prometheus version scrapes (what ``generate_latest`` writes for
#: our plain metric names; prometheus-client >= 0.22 advertises 1.0.0 as "latest", older ones 0.0.4).
#: The body is UTF-8; Litestar appends the ``charset`` parameter to ``text/*`` media types itself.
CONTENT_TYPE: Final = "text/plain; version=0.0.4"

#: Seconds, 1 ms .. 120 s: cache hits and errors at the bottom, long generations at the top.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                          20.0, 30.0, 60.0, 120.0)

#: Label value for a request that reached no channel.
NO_CHANNEL: Final = "none"
#: Label value for model names past the ``max_models`` backstop.
OTHER: Final = "other"

_CACHE_VALUES = frozenset({"hit", "miss", "none"})
_KIND = re.compile(r"^[a-z0-9_]{1,32}$")
_TOKEN_CLASSES = ("input", "output", "cache_read", "cache_write", "reasoning")


#: The circuit gauge's value per state (app.relay.health's ``CircuitState`` names). "disabled"
#: (out of rotation until an operator acts) is past "open", so ``>= 2`` means "takes no traffic".
CIRCUIT_VALUES: Final = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2, "disabled": 3}

#: Limit dimensions as labelled; the limiter's own names are accepted too.
_DIMENSIONS = {"rpm": "rpm", "requests": "rpm", "tpm": "tpm", "tokens": "tpm", "concurrency": "concurrency"}


class _RequestSeries:
    """The children one (protocol, op, model, status class, channel, cache, stream) combination touches."""

    __slots__ = ("count", "latency", "ttfb", "cache")

    def __init__(self, count: Counter, latency: Histogram, ttfb: Histogram, cache: Counter | None) -> None:
        self.count, self.latency, self.ttfb, self.cache = count, latency, ttfb, cache


class _ModelSeries:
    """Token and cost counters of one model."""

    __slots__ = ("input", "output", "cache_read", "cache_write", "reasoning", "cost", "upstream_cost")

    def __init__(self, tokens: list[Counter], cost: Counter, upstream_cost: Counter) -> None:
        self.input, self.output, self.cache_read, self.cache_write, self.reasoning = tokens
        self.cost, self.upstream_cost = cost, upstream_cost


class Metrics:
    """Every relay metric, registered on ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None, *, namespace: str = "waystation",
                 max_models: int = 500) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.max_models = max_models
        r, ns = self.registry, namespace
        self.requests = Counter(
            "requests", "Model calls through the relay, by outcome.",
            ["protocol", "op", "model", "status_class", "channel", "cache", "stream"], namespace=ns, registry=r)
        self.latency = Histogram(
            "request_duration_seconds", "Time from the request's arrival to its last byte (or its error).",
            ["model", "stream"], buckets=LATENCY_BUCKETS, namespace=ns, registry=r)
        self.ttfb = Histogram(
            "time_to_first_byte_seconds", "Time from the request's arrival to the serving channel's first byte.",
            ["model", "channel"], buckets=LATENCY_BUCKETS, namespace=ns, registry=r)
        self.tokens = Counter(
            "tokens", "Tokens billed, by class. input excludes cache reads and writes; "
            "reasoning is a subset of output (do not add them).", ["model", "class"], namespace=ns, registry=r)
        self.cost = Counter(
            "cost_micro_units", "What the root account billed for requests, in micro-units (1 USD = 1e6).",
            ["model"], namespace=ns, registry=r)
        self.upstream_cost = Counter(
            "upstream_cost_micro_units", "What the upstream channels charge for requests, in micro-units, "
            "at the channel prices the operator configured.", ["model"], namespace=ns, registry=r)
        self.upstream_errors = Counter(
            "upstream_errors", "Upstream failures: failed attempts (each failover counts once) and answers "
            "broken off midway.", ["channel", "kind"],
            namespace=ns, registry=r)
        self.circuit = Gauge(
            "circuit_state", "Channel circuit breaker: 0 closed, 1 half-open, 2 open, 3 disabled.", ["channel"],
            namespace=ns, registry=r)
        self.limit_rejections = Counter(
            "limit_rejections", "Requests refused by a rate limit.", ["scope", "dimension"], namespace=ns, registry=r)
        self.cache_hits = Counter(
            "cache_hits", "Requests answered from the relay's response cache.", ["model"], namespace=ns, registry=r)
        self.cache_misses = Counter(
            "cache_misses", "Cacheable requests the response cache could not answer.", ["model"],
            namespace=ns, registry=r)
        self._request_series: dict[tuple[str, str, str, int, int | None, str, bool], _RequestSeries] = {}
        self._model_series: dict[str, _ModelSeries] = {}
        self._models: set[str] = set()
        self._error_children: dict[tuple[int | None, str], Counter] = {}
        self._limit_children: dict[tuple[str, str], Counter] = {}

    # ------------------------------------------------------------------ per request

    def request(self, protocol: str, op: str, model: str, status: int, channel_id: int | None, cache: str,
                stream: bool, latency_s: float, ttfb_s: float | None) -> None:
        """Count one finished request and observe its latency (and time to first byte, if any)."""
        # Keyed by the label value, not the raw name: past the backstop, new names share "other".
        key = (protocol, op, self.model_label(model), status // 100, channel_id, cache, stream)
        series = self._request_series.get(key)
        if series is None:
            series = self._new_request_series(key)
        series.count.inc()
        series.latency.observe(latency_s)
        if ttfb_s is not None:
            series.ttfb.observe(ttfb_s)
        if series.cache is not None:
            series.cache.inc()

    def usage(self, model: str, usage: ir.Usage | None, cost: int | None = None,
              upstream_cost: int | None = None) -> None:
        """Add one request's tokens and costs (micro-units) to ``model``'s counters."""
        model = self.model_label(model)
        series = self._model_series.get(model)
        if series is None:
            series = self._new_model_series(model)
        if usage is not None:
            # Zero increments are skipped: most requests have no cache or reasoning tokens.
            if usage.input_tokens:
                series.input.inc(usage.input_tokens)
            if usage.output_tokens:
                series.output.inc(usage.output_tokens)
            if usage.cache_read_tokens:
                series.cache_read.inc(usage.cache_read_tokens)
            if usage.cache_write_tokens:
                series.cache_write.inc(usage.cache_write_tokens)
            if usage.reasoning_tokens:
                series.reasoning.inc(usage.reasoning_tokens)
        if cost:
            series.cost.inc(cost)
        if upstream_cost:
            series.upstream_cost.inc(upstream_cost)

    def upstream_error(self, channel_id: int | None, kind: str) -> None:
        """Count one failed upstream attempt. ``kind`` is a short token (``timeout``, ``connect``,
        ``overloaded``, an ``ir.ErrorKind``...); anything else is counted as ``other``."""
        key = (channel_id, kind if _KIND.match(kind) else OTHER)
        child = self._error_children.get(key)
        if child is None:
            child = self._error_children[key] = self.upstream_errors.labels(_channel(channel_id), key[1])
        child.inc()

    # ------------------------------------------------------------------ other parts of the relay

    def set_circuit(self, channel_id: int, state: str | int) -> None:
        """Publish a channel's circuit breaker state: a name ("closed", "half_open", "open",
        "disabled") or its gauge value (0, 1, 2, 3)."""
        value = CIRCUIT_VALUES[state] if isinstance(state, str) else state
        if value not in (0, 1, 2, 3):
            raise ValueError(f"not a circuit state: {state!r}")
        self.circuit.labels(_channel(channel_id)).set(value)

    def forget_channel(self, channel_id: int) -> None:
        """Drop a deleted channel's circuit gauge, so it stops being exported."""
        try:
            self.circuit.remove(_channel(channel_id))
        except KeyError:
            pass

    def limit_rejected(self, scope: str, dimension: str) -> None:
        """Count one request refused by a limit. ``scope``: the kind of holder (key, account, plan,
        subtree); a limiter scope name such as "key:12" is cut to its kind, so no id becomes a
        label. ``dimension``: rpm, tpm or concurrency (or the limiter's requests / tokens)."""
        key = (scope, dimension)
        child = self._limit_children.get(key)
        if child is None:
            kind = scope.partition(":")[0]
            label = kind if _KIND.match(kind) else OTHER
            child = self.limit_rejections.labels(label, _DIMENSIONS.get(dimension, OTHER))
            if len(self._limit_children) < 1024:  # scope names carry ids: cache a bounded number
                self._limit_children[key] = child
        child.inc()

    def model_label(self, model: str) -> str:
        """``model`` as a label value, or ``other`` once ``max_models`` distinct names are in use."""
        if model in self._models or model == OTHER:
            return model
        if len(self._models) >= self.max_models:
            return OTHER
        self._models.add(model)
        if len(self._models) == self.max_models:
            log.warning("metrics: %d distinct model names; later ones are labelled %r", self.max_models, OTHER)
        return model

    def exposition(self) -> bytes:
        """The registry in Prometheus text format 0.0.4 (served with ``CONTENT_TYPE``)."""
        return generate_latest(self.registry)

    # ------------------------------------------------------------------ label children

    def _new_request_series(self, key: tuple[str, str, str, int, int | None, str, bool]) -> _RequestSeries:
        protocol, op, model, status_class, channel_id, cache, stream = key
        channel = _channel(channel_id)
        cache = cache if cache in _CACHE_VALUES else "none"
        stream_label = "true" if stream else "false"
        cache_counter = {"hit": self.cache_hits, "miss": self.cache_misses}.get(cache)
        series = _RequestSeries(
            self.requests.labels(protocol, op, model, f"{status_class}xx", channel, cache, stream_label),
            self.latency.labels(model, stream_label),
            self.ttfb.labels(model, channel),
            cache_counter.labels(model) if cache_counter is not None else None,
        )
        self._request_series[key] = series
        return series

    def _new_model_series(self, model: str) -> _ModelSeries:
        series = _ModelSeries([self.tokens.labels(model, c) for c in _TOKEN_CLASSES],
                              self.cost.labels(model), self.upstream_cost.labels(model))
        self._model_series[model] = series
        return series


def _channel(channel_id: int | None) -> str:
    return NO_CHANNEL if channel_id is None else str(channel_id)
