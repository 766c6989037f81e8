"""Same protocol on both sides: the body travels as bytes. Only the model name may be rewritten,
and OpenAI streams are made to report usage (the relay bills on it)."""

from __future__ import annotations

import re

import msgspec

_MODEL_FIELD = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"')


def rewrite_model(body: bytes, new_model: str) -> bytes:
    """Replace the value of the top-level ``"model"`` field. A quoted ``"model":"..."`` pair can
    only be JSON structure (quotes inside strings are escaped), but nested objects (metadata,
    tool schemas) may have one too: when the body has more than one, decode and re-encode
    instead, which keeps key order and every field."""
    encoded = msgspec.json.encode(new_model)
    matches = _MODEL_FIELD.findall(body, 0)
    if len(matches) == 1:
        return _MODEL_FIELD.sub(lambda m: b'"model":' + encoded, body, count=1)
    doc = msgspec.json.decode(body)
    if isinstance(doc, dict):
        doc["model"] = new_model
    return msgspec.json.encode(doc)


def rewrite_first_model(payload: bytes, new_model: str) -> bytes:
    """Response bodies and stream events: the first ``"model"`` field is the top-level one."""
    encoded = msgspec.json.encode(new_model)
    return _MODEL_FIELD.sub(lambda m: b'"model":' + encoded, payload, count=1)


def rewrite_every_model(events: bytes, new_model: str) -> bytes:
    """Whole stream events (several, raw SSE text): the model field of each. Outside JSON strings
    only; in a stream event every ``"model"`` outside a string is the event's own."""
    encoded = msgspec.json.encode(new_model)
    return _MODEL_FIELD.sub(lambda m: b'"model":' + encoded, events)


def force_stream_usage(body: bytes) -> bytes:
    """Make an OpenAI streaming request ask for the final usage chunk."""
    doc = msgspec.json.decode(body)
    options = doc.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return body
    if options is None and body.lstrip()[:1] == b"{":
        # Insert without re-serialising the client's body.
        head = body.index(b"{") + 1
        rest = body[head:].lstrip()
        sep = b"" if rest[:1] == b"}" else b","
        return body[:head] + b'"stream_options":{"include_usage":true}' + sep + body[head:]
    doc["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return msgspec.json.encode(doc)


def is_usage_only_chunk(data: bytes) -> bool:
    """OpenAI's final usage chunk: ``"choices":[]`` with a usage object."""
    return b'"choices":[]' in data and b'"usage":{' in data.replace(b'"usage": {', b'"usage":{')
