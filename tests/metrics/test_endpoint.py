"""GET /metrics on a minimal Litestar app: the text exposition of that app's own registry."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import TestClient

from app.relay.controllers.metrics import metrics_handler
from app.relay.metrics import Metrics
from app.relay.outcome import Recorder
from tests.metrics.support import CapturedLog, outcome


def _app(metrics: Metrics) -> Litestar:
    return Litestar(route_handlers=[metrics_handler], state=State({"metrics": metrics}))


def test_metrics_endpoint_serves_prometheus_text() -> None:
    metrics = Metrics()
    recorder = Recorder(metrics, logger=CapturedLog().logger)
    recorder.record(outcome())
    recorder.record(outcome(status=429, usage=None, error_kind="rate_limit"))
    with TestClient(_app(metrics)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    body = response.text
    assert "# TYPE waystation_requests_total counter" in body
    assert "# TYPE waystation_request_duration_seconds histogram" in body
    assert ('waystation_requests_total{cache="none",channel="1",model="gpt-4o-mini",op="chat",'
            'protocol="openai",status_class="4xx",stream="false"} 1.0') in body
    assert 'waystation_tokens_total{class="input",model="gpt-4o-mini"} 120.0' in body


def test_two_apps_expose_their_own_metrics() -> None:
    busy, idle = Metrics(), Metrics()
    Recorder(busy, logger=CapturedLog().logger).record(outcome())
    with TestClient(_app(busy)) as a, TestClient(_app(idle)) as b:
        assert 'model="gpt-4o-mini"' in a.get("/metrics").text
        assert 'model="gpt-4o-mini"' not in b.get("/metrics").text
        assert "# TYPE waystation_requests_total counter" in b.get("/metrics").text
