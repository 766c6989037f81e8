"""Recording outcomes moves the right series in the Prometheus exposition, with bounded labels."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.relay.metrics import LATENCY_BUCKETS, Metrics
from app.relay.outcome import Recorder
from app.relay.protocols import ir
from tests.metrics.support import CapturedLog, outcome


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the text exposition, keyed by (name, labels)."""
    text = metrics.exposition().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


def label_sets(metrics: Metrics, name: str) -> list[dict[str, str]]:
    return [dict(labels) for (n, labels) in samples(metrics) if n == name]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(Metrics(), logger=CapturedLog().logger)


REQUEST_LABELS = dict(protocol="openai", op="chat", model="gpt-4o-mini", status_class="2xx", channel="1",
                      cache="none", stream="false")


def test_request_counter_counts_each_outcome_under_its_label_set(recorder: Recorder) -> None:
    recorder.record(outcome())
    recorder.record(outcome())
    recorder.record(outcome(protocol="anthropic", op="chat", stream=True, status=529, usage=None,
                            error_kind="overloaded", channel_id=2, cost=None, upstream_cost=None))
    m = recorder.metrics
    assert value(m, "waystation_requests_total", **REQUEST_LABELS) == 2
    assert value(m, "waystation_requests_total", **{**REQUEST_LABELS, "protocol": "anthropic",
                                                    "status_class": "5xx", "channel": "2", "stream": "true"}) == 1
    assert all(set(labels) == set(REQUEST_LABELS) for labels in label_sets(m, "waystation_requests_total"))


def test_latency_and_ttfb_land_in_the_right_buckets(recorder: Recorder) -> None:
    recorder.record(outcome(latency_ms=300.0, ttfb_ms=40.0))
    recorder.record(outcome(latency_ms=90_000.0, ttfb_ms=None))  # no first byte: latency only
    m = recorder.metrics
    lat = {"model": "gpt-4o-mini", "stream": "false"}
    assert value(m, "waystation_request_duration_seconds_bucket", **lat, le="0.25") == 0
    assert value(m, "waystation_request_duration_seconds_bucket", **lat, le="0.5") == 1
    assert value(m, "waystation_request_duration_seconds_bucket", **lat, le="60.0") == 1
    assert value(m, "waystation_request_duration_seconds_bucket", **lat, le="120.0") == 2
    assert value(m, "waystation_request_duration_seconds_bucket", **lat, le="+Inf") == 2
    assert value(m, "waystation_request_duration_seconds_count", **lat) == 2
    assert value(m, "waystation_request_duration_seconds_sum", **lat) == pytest.approx(90.3)
    ttfb = {"model": "gpt-4o-mini", "channel": "1"}
    assert value(m, "waystation_time_to_first_byte_seconds_bucket", **ttfb, le="0.025") == 0
    assert value(m, "waystation_time_to_first_byte_seconds_bucket", **ttfb, le="0.05") == 1
    assert value(m, "waystation_time_to_first_byte_seconds_count", **ttfb) == 1
    les = [labels["le"] for labels in label_sets(m, "waystation_request_duration_seconds_bucket")]
    assert les == [str(b) for b in LATENCY_BUCKETS] + ["+Inf"]
    assert LATENCY_BUCKETS[0] == 0.001 and LATENCY_BUCKETS[-1] == 120.0


def test_tokens_by_class_and_cost_in_micro_units(recorder: Recorder) -> None:
    recorder.record(outcome())
    recorder.record(outcome(usage=ir.Usage(input_tokens=10, output_tokens=2, cache_write_tokens=7), cost=3,
                            upstream_cost=None))
    m = recorder.metrics
    tokens = {c: value(m, "waystation_tokens_total", model="gpt-4o-mini", **{"class": c})
              for c in ("input", "output", "cache_read", "cache_write", "reasoning")}
    assert tokens == {"input": 130, "output": 32, "cache_read": 64, "cache_write": 7, "reasoning": 5}
    assert value(m, "waystation_cost_micro_units_total", model="gpt-4o-mini") == 1503
    assert value(m, "waystation_upstream_cost_micro_units_total", model="gpt-4o-mini") == 1000


def test_failed_attempts_count_as_upstream_errors_per_channel_and_kind(recorder: Recorder) -> None:
    o = outcome(channel_id=3, attempts=3)
    o.fail_attempt(1, "openai-east", "timeout", "no first byte before the first-byte timeout")
    o.fail_attempt(2, "openai-west", "rate_limit", "HTTP 429 rate_limit")
    recorder.record(o)
    o = outcome(channel_id=None, status=503, error_kind="overloaded", usage=None, cost=None, upstream_cost=None)
    o.fail_attempt(1, "openai-east", "timeout", "timeout: ReadTimeout")
    o.fail_attempt(2, "openai-west", "Weird Kind: with spaces and more", "?")  # not a token: counted as other
    recorder.record(o)
    assert o.failures[0] == "openai-east: timeout: ReadTimeout"  # the format all_channels_failed splits on
    m = recorder.metrics
    assert value(m, "waystation_upstream_errors_total", channel="1", kind="timeout") == 2
    assert value(m, "waystation_upstream_errors_total", channel="2", kind="rate_limit") == 1
    assert value(m, "waystation_upstream_errors_total", channel="2", kind="other") == 1
    assert value(m, "waystation_requests_total", **{**REQUEST_LABELS, "status_class": "5xx", "channel": "none"}) == 1


def test_cache_hits_and_misses(recorder: Recorder) -> None:
    recorder.record(outcome(cache_hit=True, cache_lookup=True, channel_id=None, ttfb_ms=1.0))
    recorder.record(outcome(cache_hit=True, cache_lookup=True, channel_id=None, ttfb_ms=1.0))
    recorder.record(outcome(cache_lookup=True))
    recorder.record(outcome())
    m = recorder.metrics
    assert value(m, "waystation_cache_hits_total", model="gpt-4o-mini") == 2
    assert value(m, "waystation_cache_misses_total", model="gpt-4o-mini") == 1
    assert value(m, "waystation_requests_total", **{**REQUEST_LABELS, "cache": "hit", "channel": "none"}) == 2
    assert value(m, "waystation_requests_total", **{**REQUEST_LABELS, "cache": "miss"}) == 1
    assert value(m, "waystation_requests_total", **REQUEST_LABELS) == 1


def test_circuit_gauge_and_limit_rejections() -> None:
    m = Metrics()
    m.set_circuit(7, "open")
    m.set_circuit(8, "closed")
    assert value(m, "waystation_circuit_state", channel="7") == 2
    m.set_circuit(7, "half_open")
    assert value(m, "waystation_circuit_state", channel="7") == 1
    m.set_circuit(8, "disabled")
    assert value(m, "waystation_circuit_state", channel="8") == 3
    m.set_circuit(8, 0)
    assert value(m, "waystation_circuit_state", channel="8") == 0
    with pytest.raises((KeyError, ValueError)):
        m.set_circuit(8, "ajar")
    m.forget_channel(8)
    m.forget_channel(99)  # never seen: nothing to forget
    assert label_sets(m, "waystation_circuit_state") == [{"channel": "7"}]
    m.limit_rejected("key", "rpm")
    m.limit_rejected("key", "rpm")
    m.limit_rejected("subtree", "tpm")
    # The limiter's own scope names carry ids ("key:12"): only the kind becomes a label.
    m.limit_rejected("key:12", "requests")
    m.limit_rejected("account:5", "concurrency")
    m.limit_rejected("plan:pro", "tokens")
    assert value(m, "waystation_limit_rejections_total", scope="key", dimension="rpm") == 3
    assert value(m, "waystation_limit_rejections_total", scope="subtree", dimension="tpm") == 1
    assert value(m, "waystation_limit_rejections_total", scope="account", dimension="concurrency") == 1
    assert value(m, "waystation_limit_rejections_total", scope="plan", dimension="tpm") == 1
    assert "12" not in {v for labels in label_sets(m, "waystation_limit_rejections_total") for v in labels.values()}


def test_unknown_model_names_never_become_labels(recorder: Recorder) -> None:
    for typo in ("gpt-4o-mnii", "gtp-4", "x" * 200):
        recorder.record(outcome(model=typo, channel_id=None, status=404, error_kind="not_found", usage=None,
                                attempts=0, ttfb_ms=None, cost=None, upstream_cost=None))
    models = {labels["model"] for labels in label_sets(recorder.metrics, "waystation_requests_total")}
    assert models == {"unknown"}


def test_model_labels_are_capped() -> None:
    recorder = Recorder(Metrics(max_models=2), logger=CapturedLog().logger)
    for model in ("a", "b", "c", "d", "a"):
        recorder.record(outcome(model=model))
    m = recorder.metrics
    assert {labels["model"] for labels in label_sets(m, "waystation_requests_total")} == {"a", "b", "other"}
    assert value(m, "waystation_requests_total", **{**REQUEST_LABELS, "model": "other"}) == 2
    assert value(m, "waystation_tokens_total", model="other", **{"class": "input"}) == 240


def test_key_and_account_ids_are_never_labels(recorder: Recorder) -> None:
    recorder.record(outcome(key_id=424242, account_id=737373))
    text = recorder.metrics.exposition().decode()
    assert "424242" not in text and "737373" not in text
    names = {n for labels in label_sets(recorder.metrics, "waystation_requests_total") for n in labels}
    assert not names & {"key", "key_id", "account", "account_id"}


def test_each_metrics_has_its_own_registry() -> None:
    one, two = Recorder(Metrics(), logger=CapturedLog().logger), Recorder(Metrics(), logger=CapturedLog().logger)
    one.record(outcome())
    assert value(one.metrics, "waystation_requests_total", **REQUEST_LABELS) == 1
    assert value(two.metrics, "waystation_requests_total", **REQUEST_LABELS) is None
    assert Recorder().metrics is not Recorder().metrics  # constructible bare, each with its own registry
