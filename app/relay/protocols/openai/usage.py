"""Token usage and finish reasons between the OpenAI wire and the IR.

OpenAI's ``prompt_tokens`` counts everything the model read, cached or not, and
``completion_tokens`` includes reasoning; the IR splits the prompt (see ir.py).
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.openai import wire

_FINISH_TO_IR: dict[str, ir.StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
    # Non-OpenAI spellings seen on OpenAI-compatible upstreams.
    "eos": "end_turn",
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "model_length": "max_tokens",
    "tool_use": "tool_use",
    "sensitive": "content_filter",
    "safety": "content_filter",
}

_IR_TO_FINISH: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
}


def stop_reason(finish_reason: str | None) -> ir.StopReason | None:
    """OpenAI finish_reason -> IR stop reason. OpenAI reports a matched stop sequence as plain
    "stop", so it becomes end_turn; unknown values from compatible providers count as end_turn."""
    if finish_reason is None:
        return None
    return _FINISH_TO_IR.get(finish_reason, "end_turn")


def finish_reason(reason: ir.StopReason | None) -> str:
    """IR stop reason -> an OpenAI finish_reason (always one of the SDK's literals)."""
    return _IR_TO_FINISH.get(reason or "end_turn", "stop")


def usage_to_ir(usage: wire.Usage) -> ir.Usage:
    """Wire usage -> IR usage (input excludes cache reads and writes)."""
    prompt = usage.prompt_tokens or 0
    output = usage.completion_tokens or 0
    details = usage.prompt_tokens_details
    cache_read = (
        (details.cached_tokens if details else None) or usage.prompt_cache_hit_tokens or usage.cached_tokens or 0
    )
    cache_write = (details.cache_write_tokens if details else None) or 0
    cdetails = usage.completion_tokens_details
    reasoning = (cdetails.reasoning_tokens if cdetails else None) or 0
    return ir.Usage(
        input_tokens=max(prompt - cache_read - cache_write, 0),
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
    )


def usage_to_wire(usage: ir.Usage) -> dict[str, Any]:
    """IR usage -> OpenAI's usage object (with the details OpenAI itself always sends).
    Cache writes have no OpenAI field; they are in prompt_tokens and, when non-zero, reported
    as ``prompt_tokens_details.cache_write_tokens`` (OpenRouter's name) so nothing is lost."""
    prompt_details: dict[str, int] = {"cached_tokens": usage.cache_read_tokens, "audio_tokens": 0}
    if usage.cache_write_tokens:
        prompt_details["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


_envelope_decoder = msgspec.json.Decoder(wire.UsageEnvelope)


def parse_usage(body: bytes) -> ir.Usage | None:
    """Usage of a whole response body, or None. Only the ``usage`` member is materialised."""
    if b'"usage"' not in body:
        return None
    try:
        envelope = _envelope_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return usage_to_ir(envelope.usage) if envelope.usage is not None else None
