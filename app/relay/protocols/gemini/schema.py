"""Gemini's OpenAPI-subset ``Schema`` <-> JSON Schema.

Inbound, ``parameters`` / ``responseSchema`` use Google's OpenAPI 3.0 subset (upper-case types
such as ``OBJECT``, ``nullable``); they are converted to plain JSON Schema for the IR. The richer
``parametersJsonSchema`` / ``responseJsonSchema`` fields already hold JSON Schema and are kept
as they are.

Outbound, the relay always sends ``parametersJsonSchema`` / ``responseJsonSchema``, which accept
full JSON Schema (``additionalProperties``, ``anyOf``, ``$ref``...), so nothing the caller wrote is
lost to the subset; only the root ``$schema`` marker is removed.
"""

from __future__ import annotations

from typing import Any

_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_ONES = ("items", "additionalProperties", "not")


def openapi_to_json_schema(schema: Any) -> Any:
    """Google's Schema (OpenAPI subset) -> JSON Schema: lower-case types, ``nullable`` folded."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            if value.upper() != "TYPE_UNSPECIFIED":
                out["type"] = value.lower()
        elif key == "nullable":
            continue
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: openapi_to_json_schema(v) for k, v in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [openapi_to_json_schema(v) for v in value]
        elif key in _SCHEMA_ONES:
            out[key] = openapi_to_json_schema(value)
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def outbound_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema for ``parametersJsonSchema`` / ``responseJsonSchema``."""
    if "$schema" not in schema:
        return schema
    return {k: v for k, v in schema.items() if k != "$schema"}
