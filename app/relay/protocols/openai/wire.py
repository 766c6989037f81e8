"""Typed shapes of the OpenAI Chat Completions wire format, for decoding with msgspec.

Request shapes are strict enough that msgspec's validation error names the offending field
(``$.messages[2].content``), which the request parser turns into a ProtocolError ``param``.
Response and chunk shapes are lenient: OpenAI-compatible providers (DeepSeek, Qwen, vLLM, Groq,
Mistral...) add, omit or null out fields, and billing must not fail on a cosmetic difference.
Unknown fields are ignored everywhere.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class Wire(msgspec.Struct, omit_defaults=True):
    """Base of every wire struct; ``None`` fields are left out when encoded."""


# --------------------------------------------------------------------------- thought signatures


def thought_signature(extra_content: dict[str, Any] | None) -> str | None:
    """A Gemini thought signature from a tool call's ``extra_content.google.thought_signature``,
    the shape Google's OpenAI-compatible endpoint uses (Gemini 3 rejects a replayed function call
    without it)."""
    google = (extra_content or {}).get("google")
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


def tool_call_object(call_id: str, name: str, arguments: str, signature: str | None) -> dict[str, Any]:
    """A complete ``tool_calls[]`` entry, as requests and responses carry it."""
    out: dict[str, Any] = {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments or "{}"},
    }
    if signature:
        out["extra_content"] = {"google": {"thought_signature": signature}}
    return out


# --------------------------------------------------------------------------- request: parts


class ContentPart(Wire, tag_field="type"):
    """Base of the content-part union, tagged by ``type``."""


class TextPart(ContentPart, tag="text"):
    text: str


class ImageURL(Wire):
    url: str
    detail: str | None = None


class ImagePart(ContentPart, tag="image_url"):
    #: OpenAI sends an object; a few older clients send the URL as a bare string.
    image_url: ImageURL | str


class RefusalPart(ContentPart, tag="refusal"):
    refusal: str


# --------------------------------------------------------------------------- request: messages


class FunctionCall(Wire):
    name: str
    #: A JSON string on the wire; some clients send the object itself, which we re-serialise.
    arguments: str | dict[str, Any] = ""


class ToolCall(Wire):
    id: str
    function: FunctionCall
    type: str = "function"
    #: Gemini's OpenAI-compatible API carries thought signatures here (see thought_signature()).
    extra_content: dict[str, Any] | None = None


class ChatMessage(Wire, tag_field="role"):
    """Base of the message union, tagged by ``role``."""


class SystemMessage(ChatMessage, tag="system"):
    content: str | list[TextPart]
    name: str | None = None


class DeveloperMessage(ChatMessage, tag="developer"):
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(ChatMessage, tag="user"):
    content: str | list[TextPart | ImagePart]
    name: str | None = None


class AssistantMessage(ChatMessage, tag="assistant"):
    content: str | list[TextPart | RefusalPart] | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None
    #: DeepSeek / Qwen / vLLM chain of thought; OpenRouter and Groq call it ``reasoning``.
    reasoning_content: str | None = None
    reasoning: str | None = None
    name: str | None = None


class ToolMessage(ChatMessage, tag="tool"):
    tool_call_id: str
    #: OpenAI documents text parts only; images are accepted for providers that take them.
    content: str | list[TextPart | ImagePart]


Message = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage


# --------------------------------------------------------------------------- request: options


class FunctionDef(Wire):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(Wire):
    function: FunctionDef
    type: str = "function"


class ToolChoiceFunction(Wire):
    name: str


class ToolChoiceObject(Wire):
    type: str
    function: ToolChoiceFunction | None = None


class JSONSchemaFormat(Wire):
    name: str | None = None
    #: ``schema`` shadows nothing in msgspec but reads badly as an attribute; rename on the wire.
    schema_: dict[str, Any] | None = msgspec.field(default=None, name="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(Wire):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(Wire):
    include_usage: bool | None = None


class ChatRequest(Wire):
    model: str | None = None
    messages: list[Message] | None = None
    tools: list[ToolDef] | None = None
    tool_choice: Literal["auto", "none", "required"] | ToolChoiceObject | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    user: str | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None


# --------------------------------------------------------------------------- usage


class PromptTokensDetails(Wire):
    cached_tokens: int | None = None
    #: OpenRouter's name for prompt tokens written to the cache (OpenAI has no such field).
    cache_write_tokens: int | None = None
    audio_tokens: int | None = None


class CompletionTokensDetails(Wire):
    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class Usage(Wire):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    #: DeepSeek reports cache hits here instead of prompt_tokens_details.
    prompt_cache_hit_tokens: int | None = None
    #: Moonshot reports cache hits at the top level.
    cached_tokens: int | None = None


class UsageEnvelope(Wire):
    """Just the usage of a body: msgspec skips every other field without building it."""

    usage: Usage | None = None


# --------------------------------------------------------------------------- response


class RespFunction(Wire):
    name: str | None = None
    arguments: str | dict[str, Any] | None = None


class RespToolCall(Wire):
    function: RespFunction
    id: str | None = None
    type: str | None = None
    extra_content: dict[str, Any] | None = None


class RespMessage(Wire):
    role: str | None = None
    #: A string from OpenAI; a list of typed chunks from a few providers (Mistral thinking).
    content: str | list[Any] | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[RespToolCall] | None = None


class RespChoice(Wire):
    message: RespMessage
    index: int = 0
    finish_reason: str | None = None


class ChatCompletion(Wire):
    id: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[RespChoice] | None = None
    usage: Usage | None = None
    error: Any = None


# --------------------------------------------------------------------------- stream chunks


class DeltaFunction(Wire):
    name: str | None = None
    arguments: str | None = None


class DeltaToolCall(Wire):
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: DeltaFunction | None = None
    extra_content: dict[str, Any] | None = None


class Delta(Wire):
    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[DeltaToolCall] | None = None


class ChunkChoice(Wire):
    delta: Delta | None = None
    index: int = 0
    finish_reason: str | None = None


class Chunk(Wire):
    id: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[ChunkChoice] | None = None
    usage: Usage | None = None
    error: Any = None
