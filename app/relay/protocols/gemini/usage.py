"""Gemini ``usageMetadata`` and ``finishReason`` <-> IR, plus the cheap typed views used for billing.

Usage (see ir.py): ``promptTokenCount`` counts every input token including
``cachedContentTokenCount``; ``candidatesTokenCount`` excludes ``thoughtsTokenCount``;
``toolUsePromptTokenCount`` (e.g. search results fed back) is input too. So
input = prompt - cached + tool_use, cache_read = cached, output = candidates + thoughts,
reasoning = thoughts.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.relay.protocols import ir


class UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    cached_content_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    tool_use_prompt_token_count: int = 0


class _Candidate(msgspec.Struct, rename="camel"):
    finish_reason: str | None = None


class _PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class ChunkView(msgspec.Struct, rename="camel"):
    """What billing needs from a response or stream chunk; everything else is skipped unparsed."""

    usage_metadata: UsageMetadata | None = None
    candidates: list[_Candidate] | None = None
    prompt_feedback: _PromptFeedback | None = None
    error: dict[str, Any] | None = None

    @property
    def finish_reason(self) -> str | None:
        for cand in self.candidates or ():
            if cand.finish_reason:
                return cand.finish_reason
        return None

    @property
    def blocked(self) -> bool:
        return bool(self.prompt_feedback and self.prompt_feedback.block_reason)


chunk_decoder = msgspec.json.Decoder(ChunkView)
chunks_decoder = msgspec.json.Decoder(list[ChunkView])


def to_ir(meta: UsageMetadata) -> ir.Usage:
    thoughts = meta.thoughts_token_count
    cached = meta.cached_content_token_count
    return ir.Usage(
        input_tokens=max(meta.prompt_token_count - cached, 0) + meta.tool_use_prompt_token_count,
        output_tokens=meta.candidates_token_count + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
    )


def usage_from_object(meta: Any) -> ir.Usage | None:
    """A decoded ``usageMetadata`` object -> IR usage (None when absent or malformed)."""
    if not isinstance(meta, dict):
        return None
    try:
        return to_ir(msgspec.convert(meta, UsageMetadata))
    except msgspec.ValidationError:
        return None


def usage_to_object(usage: ir.Usage) -> dict[str, Any]:
    prompt = usage.prompt_tokens
    out: dict[str, Any] = {"promptTokenCount": prompt}
    if usage.cache_read_tokens:
        out["cachedContentTokenCount"] = usage.cache_read_tokens
    out["candidatesTokenCount"] = max(usage.output_tokens - usage.reasoning_tokens, 0)
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    out["totalTokenCount"] = prompt + usage.output_tokens
    return out


_FINISH: dict[str, ir.StopReason] = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
}

_STOP: dict[str, str] = {
    "max_tokens": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "refusal": "SAFETY",
}


def stop_from_finish(reason: str | None, has_calls: bool) -> ir.StopReason | None:
    """Gemini finishReason -> IR stop reason; STOP with function calls is ``tool_use``.

    MALFORMED_FUNCTION_CALL, OTHER and unknown reasons end the turn normally.
    """
    if not reason or reason == "FINISH_REASON_UNSPECIFIED":
        return "tool_use" if has_calls else None
    stop = _FINISH.get(reason, "end_turn")
    if stop == "end_turn" and has_calls and reason == "STOP":
        return "tool_use"
    return stop


def finish_from_stop(stop: ir.StopReason | None) -> str:
    """IR stop reason -> Gemini finishReason (tool_use, end_turn, stop_sequence... -> STOP)."""
    return _STOP.get(stop or "end_turn", "STOP")
