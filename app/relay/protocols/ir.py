"""The canonical intermediate representation (IR) shared by the three wire protocols.

Every conversion is ``parse(inbound wire) -> IR -> emit(upstream wire)`` and back for responses
and streams. The IR covers what OpenAI Chat Completions, Anthropic Messages and Gemini
generateContent have in common; anything protocol-specific that has no counterpart is dropped on
conversion (same-protocol traffic never goes through the IR: it is passed through as bytes).

Conventions that every protocol module relies on:

* Token usage is normalised so that billing can add classes without double counting:
  ``input_tokens`` excludes cache reads and cache writes; ``output_tokens`` includes reasoning;
  ``reasoning_tokens`` is the part of ``output_tokens`` spent on reasoning/thinking.
  (OpenAI's ``prompt_tokens`` = input + cache_read + cache_write; Anthropic's ``input_tokens`` =
  input; Gemini's ``candidatesTokenCount`` = output - reasoning.)
* Tool-call arguments are a JSON *string* (what OpenAI sends and streams); Anthropic and Gemini
  objects are serialised compactly when parsed and decoded when emitted.
* Images are either a URL or base64 ``data`` with a ``media_type``.
* Stream indices in block events are IR indices: 0, 1, 2... in order of appearance across the
  whole message, independent of the wire's own numbering.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["user", "assistant"]

#: Why the model stopped, in Anthropic's vocabulary (the richest of the three).
StopReason = Literal[
    "end_turn",  # natural stop (OpenAI "stop", Gemini "STOP")
    "max_tokens",  # length cap (OpenAI "length", Gemini "MAX_TOKENS")
    "stop_sequence",  # a caller stop sequence matched (OpenAI reports "stop")
    "tool_use",  # the model wants tool results (OpenAI "tool_calls")
    "content_filter",  # provider safety filter (Gemini SAFETY/RECITATION/..., OpenAI content_filter)
    "refusal",  # the model refused (Anthropic "refusal")
    "pause_turn",  # Anthropic server-tool pause; maps to end_turn elsewhere
]


class Struct(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    """Base for IR structs: omit defaults when encoded (handy for debugging and snapshots)."""


# --------------------------------------------------------------------------- content blocks


class TextBlock(Struct, tag="text"):
    text: str
    #: Anthropic prompt-caching marker, kept when Anthropic is on both ends of a conversion
    #: chain that goes through the IR (e.g. {"type": "ephemeral"}).
    cache_control: dict[str, Any] | None = None


class ImageBlock(Struct, tag="image"):
    #: Either ``url`` (http(s) or a ``data:`` URL as OpenAI accepts) or ``data`` + ``media_type``.
    url: str | None = None
    data: str | None = None  # base64, no data: prefix
    media_type: str | None = None  # e.g. "image/png"
    detail: str | None = None  # OpenAI's "auto" | "low" | "high"
    cache_control: dict[str, Any] | None = None


class ToolCallBlock(Struct, tag="tool_call"):
    id: str
    name: str
    arguments: str = ""  # JSON text of the arguments object ("" while streaming starts)
    #: Gemini 2.5+/3 ``thoughtSignature`` that must be echoed back on the next turn.
    signature: str | None = None
    cache_control: dict[str, Any] | None = None


class ToolResultBlock(Struct, tag="tool_result"):
    tool_call_id: str
    content: list[TextBlock | ImageBlock] = msgspec.field(default_factory=list)
    is_error: bool = False
    #: Name of the tool that was called. Gemini needs it (functionResponse.name); the other two
    #: protocols identify results by id only, so parsers fill it from the matching earlier
    #: ToolCallBlock in the conversation when they can.
    name: str | None = None
    cache_control: dict[str, Any] | None = None


class ThinkingBlock(Struct, tag="thinking"):
    text: str = ""
    #: Provider signature that authenticates the thinking on the next turn (Anthropic
    #: ``signature``; Gemini ``thoughtSignature``). Only meaningful back to the same provider.
    signature: str | None = None
    #: Anthropic ``redacted_thinking``: opaque ``data``, no text.
    redacted_data: str | None = None


Block = TextBlock | ImageBlock | ToolCallBlock | ToolResultBlock | ThinkingBlock


class Message(Struct):
    role: Role
    content: list[Block]


# --------------------------------------------------------------------------- request


class Tool(Struct):
    name: str
    description: str | None = None
    #: JSON Schema of the arguments object.
    parameters: dict[str, Any] = msgspec.field(default_factory=lambda: {"type": "object", "properties": {}})
    cache_control: dict[str, Any] | None = None


class ToolChoice(Struct):
    #: "auto": model decides; "none": no tools; "required": must call some tool (Anthropic
    #: "any", Gemini mode ANY); "tool": must call ``name``.
    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None
    #: OpenAI ``parallel_tool_calls=False`` / Anthropic ``disable_parallel_tool_use=True``.
    disable_parallel: bool = False


class ResponseFormat(Struct):
    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class Thinking(Struct):
    """Extended thinking / reasoning request.

    Anthropic: {"type": "enabled", "budget_tokens": N}. Gemini: thinkingConfig
    {thinkingBudget, includeThoughts}. OpenAI: reasoning_effort ("low" | "medium" | "high" | ...).
    """

    enabled: bool = True
    budget_tokens: int | None = None
    effort: str | None = None  # OpenAI reasoning_effort, when that is what the caller said
    include_thoughts: bool = True


class Request(Struct):
    model: str
    messages: list[Message]
    system: list[TextBlock] = msgspec.field(default_factory=list)
    tools: list[Tool] = msgspec.field(default_factory=list)
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = msgspec.field(default_factory=list)
    stream: bool = False
    response_format: ResponseFormat | None = None
    thinking: Thinking | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    #: End-user id for abuse tracking (OpenAI ``user``, Anthropic ``metadata.user_id``).
    user: str | None = None
    #: OpenAI inbound only: did the client ask for the final usage chunk
    #: (``stream_options.include_usage``)? Emitters of OpenAI streams honour it.
    include_usage: bool = False


# --------------------------------------------------------------------------- response


class Usage(Struct):
    input_tokens: int = 0  # excludes cache reads and writes
    output_tokens: int = 0  # includes reasoning
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0  # subset of output_tokens

    @property
    def prompt_tokens(self) -> int:
        """All input the model read: uncached + cache reads + cache writes."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens


class Response(Struct):
    id: str
    model: str
    content: list[Block]
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    created: int | None = None  # unix seconds, when the wire has it


# --------------------------------------------------------------------------- errors


ErrorKind = Literal[
    "invalid_request",  # 400
    "authentication",  # 401
    "permission",  # 403
    "not_found",  # 404
    "request_too_large",  # 413
    "rate_limit",  # 429
    "insufficient_quota",  # 402/429 depending on protocol
    "api_error",  # 500
    "overloaded",  # 529 / 503
    "timeout",  # 504
]


class Error(Struct):
    """An error in protocol-neutral form; each protocol emits it in its own shape."""

    kind: ErrorKind
    message: str
    status: int
    #: Protocol-specific code when one is worth keeping (OpenAI ``code``, e.g. "model_not_found").
    code: str | None = None
    param: str | None = None


# --------------------------------------------------------------------------- stream events


class StreamStart(Struct, tag="start"):
    id: str
    model: str
    #: Usage known at the start (Anthropic reports input tokens in message_start).
    usage: Usage | None = None
    created: int | None = None


class BlockStart(Struct, tag="block_start"):
    index: int
    #: The block with what is known at its start: TextBlock(""), ThinkingBlock(""),
    #: ToolCallBlock(id, name, arguments="") or a complete ImageBlock.
    block: Block


class BlockDelta(Struct, tag="block_delta"):
    index: int
    #: "text" for TextBlock, "arguments" for ToolCallBlock JSON fragments, "thinking" for
    #: ThinkingBlock text, "signature" for a ThinkingBlock or ToolCallBlock signature.
    kind: Literal["text", "arguments", "thinking", "signature"]
    text: str


class BlockStop(Struct, tag="block_stop"):
    index: int


class MessageDelta(Struct, tag="message_delta"):
    """End-of-message facts. Either field may arrive in separate events (OpenAI sends the finish
    reason, then a usage-only chunk); emitters keep the latest values and flush them at StreamEnd.
    ``usage`` is cumulative (the total so far), never an increment."""

    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage | None = None


class StreamEnd(Struct, tag="end"):
    """The upstream finished the stream normally ([DONE], message_stop, end of Gemini stream)."""


class StreamError(Struct, tag="error"):
    """The upstream reported an error inside the stream (or the relay ended it with one)."""

    error: Error


StreamEvent = StreamStart | BlockStart | BlockDelta | BlockStop | MessageDelta | StreamEnd | StreamError
