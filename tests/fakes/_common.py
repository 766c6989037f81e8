"""Shared helpers of the fake providers: response plans, JSON/SSE framing, token maths, tool arguments."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

JSON_CT = "application/json"
SSE_CT = "text/event-stream; charset=utf-8"

#: Added to the word count of a request's text to get its input tokens (chat-template overhead).
INPUT_TOKEN_OVERHEAD = 10
#: The echoed user text is cut to this many words.
ECHO_MAX_WORDS = 40


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (key order preserved)."""
    return _encoder.encode(obj)


def loads(data: bytes | str) -> Any:
    return _decoder.decode(data)


@dataclass
class Plan:
    """What a fake is about to send: status, headers and the body split into chunks.

    For streams every chunk is one SSE event (or one JSON array element) sent with its own ASGI
    ``http.response.body`` message; a non-stream body is a single chunk with a Content-Length.
    ``usage`` is the usage this response reports, in the provider's wire form (None if none).
    """

    status: int
    content_type: str
    chunks: list[bytes]
    stream: bool = False
    usage: dict[str, Any] | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def json_plan(status: int, body: Any, usage: dict[str, Any] | None = None, content_type: str = JSON_CT) -> Plan:
    raw = body if isinstance(body, bytes) else dumps(body)
    return Plan(status=status, content_type=content_type, chunks=[raw], usage=usage)


def sse_data(obj: Any) -> bytes:
    """OpenAI framing: ``data: {json}\\n\\n``."""
    return b"data: " + dumps(obj) + b"\n\n"


def sse_event(event: str, obj: Any, pad: int = 0) -> bytes:
    """Named-event framing (Anthropic, OpenAI Responses); ``pad`` trailing spaces like Anthropic sends."""
    return b"event: " + event.encode() + b"\ndata: " + dumps(obj) + b" " * pad + b"\n\n"


# --------------------------------------------------------------------------- token maths


def count_words(text: str) -> int:
    return len(text.split())


def input_tokens(texts: list[str]) -> int:
    """The fakes' prompt-token formula: whitespace-separated words of all text content + 10."""
    return sum(count_words(t) for t in texts) + INPUT_TOKEN_OVERHEAD


def tool_output_tokens(arguments_json: str) -> int:
    """Output tokens of a tool call: 1 (the call itself) + the compact arguments JSON length // 4."""
    return 1 + len(arguments_json) // 4


def echo_text(last_user_text: str) -> str:
    words = last_user_text.split()
    if len(words) > ECHO_MAX_WORDS:
        words = words[:ECHO_MAX_WORDS]
    return "Echo: " + " ".join(words) if words else "Echo:"


def tool_result_text(result_text: str) -> str:
    words = result_text.split()[:ECHO_MAX_WORDS]
    return "Tool result: " + " ".join(words) if words else "Tool result:"


def truncate_words(text: str, max_words: int | None) -> tuple[str, bool]:
    """Cut ``text`` to ``max_words`` words (max_tokens emulation); returns (text, truncated)."""
    if max_words is None or max_words <= 0:
        return text, False
    words = text.split()
    if len(words) <= max_words:
        return text, False
    return " ".join(words[:max_words]), True


_WORD_RE = re.compile(r"\S+\s*")


def split_text(text: str, n: int) -> list[str]:
    """Split ``text`` at word boundaries into at most ``n`` non-empty pieces (fewer if too few words).

    Pieces concatenate back to ``text`` and word counts add up (each piece holds whole words).
    """
    n = max(1, n)
    words = _WORD_RE.findall(text)
    if not words:
        return [text] if text else []
    n = min(n, len(words))
    base, extra = divmod(len(words), n)
    pieces: list[str] = []
    i = 0
    for k in range(n):
        size = base + (1 if k < extra else 0)
        pieces.append("".join(words[i : i + size]))
        i += size
    return pieces


def split_chars(text: str, n: int) -> list[str]:
    """Split ``text`` into at most ``n`` non-empty character slices (tool-argument fragments)."""
    n = max(1, min(n, len(text)))
    if not text:
        return []
    base, extra = divmod(len(text), n)
    out: list[str] = []
    i = 0
    for k in range(n):
        size = base + (1 if k < extra else 0)
        out.append(text[i : i + size])
        i += size
    return out


# --------------------------------------------------------------------------- ids

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def make_id(seed: str, length: int = 24) -> str:
    """Deterministic base62 id derived from ``seed``."""
    n = int.from_bytes(hashlib.sha512(seed.encode()).digest(), "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(out)


# --------------------------------------------------------------------------- tool arguments


def _schema_type(schema: dict[str, Any]) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if str(x).lower() != "null"), None)
    if t is None:
        for key in ("anyOf", "oneOf", "allOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                for option in options:
                    if isinstance(option, dict) and str(option.get("type", "")).lower() != "null":
                        return _schema_type(option)
        if "properties" in schema:
            return "object"
        return None
    return str(t).lower()


def value_for_schema(schema: Any) -> Any:
    """A deterministic value for a JSON schema (string "test", integer 42, number 1.5, boolean true,
    array [], object {}, enum → first value). Gemini's upper-case OpenAPI types are accepted."""
    if not isinstance(schema, dict):
        return "test"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "const" in schema:
        return schema["const"]
    t = _schema_type(schema)
    if t is None:
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options and isinstance(options[0], dict):
                return value_for_schema(options[0])
    return {
        "string": "test",
        "integer": 42,
        "number": 1.5,
        "boolean": True,
        "array": [],
        "object": {},
        "null": None,
    }.get(t or "string", "test")


def arguments_for_schema(schema: Any) -> dict[str, Any]:
    """Arguments for a tool's parameter schema: only the ``required`` properties if any, else all."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return {}
    required = schema.get("required")
    names = [n for n in required if n in props] if isinstance(required, list) and required else list(props)
    return {name: value_for_schema(props[name]) for name in names}


def text_of(content: Any) -> str:
    """Concatenated text of a message ``content`` (string, or list of parts with ``text``)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return " ".join(parts)
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    return str(content)


# --------------------------------------------------------------------------- request record


@dataclass
class RecordedRequest:
    """One request a fake received, and what it answered."""

    seq: int
    method: str
    path: str
    query: dict[str, str]
    query_string: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    raw_body: bytes
    body: Any  # parsed JSON (None if empty or not JSON)
    received_at: float  # time.monotonic()
    endpoint: str = ""  # e.g. "chat.completions", "messages", "generateContent", "models"
    model: str | None = None  # body "model", Gemini URL model, or Azure deployment
    stream: bool = False
    deployment: str | None = None  # Azure
    api_version: str | None = None  # Azure ?api-version=, Gemini "v1beta"
    behaviour: Any = None  # the scripted behaviour consumed (None: default synthesiser)
    status: int | None = None  # response status once headers were sent
    usage: dict[str, Any] | None = None  # usage reported by the response (wire form)
    completed: bool = False  # the full response was sent
    aborted: bool = False  # the response was cut (BreakMidStream, client gone, shutdown)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def json(self) -> Any:
        return self.body


class SynthConfig(Protocol):
    """The synthesiser knobs of a FakeProvider (see its docstring)."""

    kind: str
    id_seed: str
    chunks: int
    cached_tokens: int
    reasoning_tokens: int
    embedding_dims: int
    models: list[str]
