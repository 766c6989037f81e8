"""Acceptance: the official OpenAI, Anthropic and google-genai SDKs get correct answers through
upstreams of all three types, streamed and not, including a tool-call round trip with streamed
arguments, with the usage the upstream reported."""

from __future__ import annotations

import itertools

import pytest

from tests.fakes import ProviderServer
from tests.fakes._common import echo_text, tool_result_text
from tests.support.clients import ASK, usage_of
from tests.support.harness import Relay
from tests.support.upstreams import add_upstream_channel

KINDS = ("openai", "anthropic", "gemini")
PAIRS = list(itertools.product(KINDS, KINDS))
#: The upstream's own name for the model, different from the public one so the rewrite shows.
UPSTREAM_MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


@pytest.fixture(scope="session")
def matrix_models(relay: Relay, provider_servers: dict[str, ProviderServer]) -> dict[str, str]:
    """One channel per upstream kind, each serving a public model mapped to the upstream's name."""
    models = {}
    for kind in KINDS:
        public = f"matrix-{kind}"
        add_upstream_channel(relay, kind, provider_servers[kind], [public], name=f"matrix-{kind}",
                             model_map={public: UPSTREAM_MODEL[kind]})
        models[kind] = public
    return models


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=[f"{c}-to-{u}" for c, u in PAIRS])
def test_text_answer_and_usage(relay: Relay, upstreams: dict[str, ProviderServer], matrix_models: dict[str, str],
                               client: str, upstream: str, stream: bool) -> None:
    prompt = f"Hello relay, this is {client} calling {upstream}"
    answer = ASK[client](relay, matrix_models[upstream], prompt, stream=stream)

    fake = upstreams[upstream].provider
    assert answer.text == echo_text(prompt)
    assert answer.tool_calls == []
    assert (answer.prompt_tokens, answer.output_tokens) == usage_of(upstream, fake.last_usage)
    assert answer.prompt_tokens > 0 and answer.output_tokens > 0
    # The upstream was asked for its own model name; the client sees the public one.
    sent = fake.requests[-1]
    if upstream == "gemini":
        assert UPSTREAM_MODEL["gemini"] in sent.path
    else:
        assert sent.body["model"] == UPSTREAM_MODEL[upstream]
    if client != "gemini":
        assert answer.model == matrix_models[upstream]
    if upstream == "openai" and stream:
        assert sent.body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=[f"{c}-to-{u}" for c, u in PAIRS])
def test_tool_call_round_trip_streamed(relay: Relay, upstreams: dict[str, ProviderServer],
                                       matrix_models: dict[str, str], client: str, upstream: str) -> None:
    ask = ASK[client]
    model = matrix_models[upstream]
    first = ask(relay, model, "What is the weather in Paris?", stream=True, tools=True)
    assert [(name, args) for name, args, _id in first.tool_calls] == [("get_weather", {"city": "test"})]
    assert first.stop in {"openai": ("tool_calls",), "anthropic": ("tool_use",), "gemini": ("STOP",)}[client]

    second = ask(relay, model, "What is the weather in Paris?", stream=True, tool_turn=(first, "22 degrees"))
    assert "22 degrees" in second.text
    assert second.text.startswith(tool_result_text("")[:10])
    fake = upstreams[upstream].provider
    assert (second.prompt_tokens, second.output_tokens) == usage_of(upstream, fake.last_usage)
