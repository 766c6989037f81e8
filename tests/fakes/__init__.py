"""Fake OpenAI / Anthropic / Gemini upstream servers for Waystation's tests and benchmarks.

from tests.fakes import FakeProvider, ProviderServer, Fail, Replay, Stall

with ProviderServer(FakeProvider("openai", api_key="sk-up")) as server:
    server.provider.script(Fail(429), Replay("openai/chat_stream_tool_calls.sse"))
    ...  # point the relay's upstream at server.base_url
    assert server.provider.requests[-1].body["stream_options"] == {"include_usage": True}
"""

from ._common import RecordedRequest, count_words, echo_text, input_tokens, tool_result_text
from .behaviours import (
    FIXTURES_DIR,
    Behaviour,
    BreakMidStream,
    Fail,
    Replay,
    Respond,
    Slow,
    Stall,
    StallAfterHeaders,
    extract_usage,
    fixture_bytes,
    fixture_info,
)
from .errors import anthropic_error, gemini_error, openai_error
from .providers import FakeProvider
from .server import ProviderServer, refused_url

__all__ = [
    "FIXTURES_DIR",
    "Behaviour",
    "BreakMidStream",
    "Fail",
    "FakeProvider",
    "ProviderServer",
    "RecordedRequest",
    "Replay",
    "Respond",
    "Slow",
    "Stall",
    "StallAfterHeaders",
    "anthropic_error",
    "count_words",
    "echo_text",
    "extract_usage",
    "fixture_bytes",
    "fixture_info",
    "gemini_error",
    "input_tokens",
    "openai_error",
    "refused_url",
    "tool_result_text",
]
