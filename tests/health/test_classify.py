"""Naming upstream failures: which ones disable a channel, which ones only count, which are not
the channel's fault."""

from __future__ import annotations

import json

import pytest

from app.relay.health.classify import kind_for_status, kind_for_unavailable
from app.relay.protocols import CODECS
from tests.fakes import anthropic_error, gemini_error, openai_error
from tests.fakes.errors import GEMINI_API_KEY_INVALID


def kind(protocol: str, status: int, body: object) -> str | None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return kind_for_status(status, CODECS[protocol].parse_error(status, raw))


@pytest.mark.parametrize(("protocol", "status", "body", "expected"), [
    ("openai", 401, openai_error(401, key="sk-wrong-key-1234"), "auth"),
    ("openai", 403, openai_error(403), "auth"),
    ("anthropic", 401, anthropic_error(401), "auth"),
    ("gemini", 400, GEMINI_API_KEY_INVALID, "auth"),
    ("gemini", 403, gemini_error(403), "auth"),
    ("gemini", 429, gemini_error(429), "http_429"),
    ("gemini", 503, gemini_error(503), "overloaded"),
    ("openai", 402, {"error": {"message": "Insufficient Balance", "type": "unknown_error"}}, "billing"),
    ("openai", 429, {"error": {"message": "You exceeded your current quota, please check your plan and billing "
                                          "details.", "type": "insufficient_quota", "code": "insufficient_quota"}},
     "billing"),
    ("anthropic", 400, anthropic_error(400, message="Your credit balance is too low to access the Anthropic API. "
                                                    "Please go to Plans & Billing to upgrade or purchase credits."),
     "billing"),
    ("openai", 403, {"code": 30001, "message": "Sorry, your account balance is insufficient", "data": None},
     "billing"),
    ("openai", 429, openai_error(429), "http_429"),
    ("anthropic", 429, anthropic_error(429), "http_429"),
    ("openai", 500, openai_error(500), "http_5xx"),
    ("openai", 502, b"<html>Bad gateway</html>", "http_5xx"),
    ("openai", 503, openai_error(503), "overloaded"),
    ("anthropic", 529, anthropic_error(529), "overloaded"),
    ("anthropic", 504, anthropic_error(504), "timeout"),
    ("openai", 400, openai_error(400), None),
    ("openai", 404, openai_error(404), None),
    ("openai", 413, openai_error(413), None),
])
def test_upstream_errors_are_named(protocol: str, status: int, body: object, expected: str | None) -> None:
    assert kind(protocol, status, body) == expected


def test_a_gemini_rate_limit_that_mentions_billing_is_not_a_billing_failure() -> None:
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                      "message": "You exceeded your current quota, please check your plan and billing details."}}
    assert kind("gemini", 429, body) == "http_429"


def test_success_is_no_failure() -> None:
    assert kind_for_status(200) is None


def test_unreachable_upstreams() -> None:
    assert kind_for_unavailable("connection failed: ConnectError") == "connect"
    assert kind_for_unavailable("timeout: ConnectTimeout") == "connect"
    assert kind_for_unavailable("timeout: ReadTimeout") == "timeout"
    assert kind_for_unavailable("no first byte before the first-byte timeout") == "timeout"
