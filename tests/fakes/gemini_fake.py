"""Default synthesiser of the Gemini (generativelanguage v1beta) wire format."""

from __future__ import annotations

import json
from typing import Any

from ._common import (
    Plan,
    RecordedRequest,
    SynthConfig,
    arguments_for_schema,
    count_words,
    dumps,
    echo_text,
    input_tokens,
    json_plan,
    make_id,
    split_text,
    tool_output_tokens,
    tool_result_text,
    truncate_words,
)

JSON_CT = "application/json; charset=UTF-8"
SSE_CT = "text/event-stream"


def _function_response_text(fr: dict[str, Any]) -> str:
    response = fr.get("response")
    if isinstance(response, dict) and len(response) == 1:
        value = next(iter(response.values()))
        return value if isinstance(value, str) else dumps(value).decode()
    return dumps(response).decode()


def _part_text(part: Any) -> str:
    if not isinstance(part, dict):
        return ""
    if isinstance(part.get("text"), str) and not part.get("thought"):
        return part["text"]
    if isinstance(part.get("functionResponse"), dict):
        return _function_response_text(part["functionResponse"])
    return ""


def _parts(content: Any) -> list[Any]:
    if isinstance(content, dict):
        parts = content.get("parts")
        return parts if isinstance(parts, list) else []
    return []


def prompt_texts(body: dict[str, Any]) -> list[str]:
    texts = [_part_text(p) for p in _parts(body.get("systemInstruction"))]
    for content in body.get("contents") or []:
        texts += [_part_text(p) for p in _parts(content)]
    return texts


def _pick_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    decls = [
        d
        for tool in body.get("tools") or []
        if isinstance(tool, dict)
        for d in tool.get("functionDeclarations") or tool.get("function_declarations") or []
        if isinstance(d, dict)
    ]
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if not decls or str(config.get("mode", "")).upper() == "NONE":
        return None
    allowed = config.get("allowedFunctionNames") or []
    return next((d for d in decls if d.get("name") in allowed), decls[0])


def usage_metadata(prompt: int, candidates: int, cfg: SynthConfig) -> dict[str, Any]:
    """Gemini usageMetadata; like the real API, zero cached/thoughts counts are omitted."""
    cached = min(cfg.cached_tokens, prompt)
    thoughts = cfg.reasoning_tokens
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
    }
    if cached:
        usage["cachedContentTokenCount"] = cached
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if cached:
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def count_tokens(req: RecordedRequest, cfg: SynthConfig) -> Plan:
    body = req.body if isinstance(req.body, dict) else {}
    body = body.get("generateContentRequest") or body
    n = input_tokens(prompt_texts(body))
    return json_plan(
        200, {"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}, content_type=JSON_CT
    )


def generate(req: RecordedRequest, cfg: SynthConfig, *, stream: bool, sse: bool) -> Plan:
    body = req.body if isinstance(req.body, dict) else {}
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    prompt = input_tokens(prompt_texts(body))
    last_parts = _parts(contents[-1]) if contents else []
    responses = [p["functionResponse"] for p in last_parts if isinstance(p, dict) and "functionResponse" in p]
    tool = None if responses else _pick_tool(body)
    finish = "STOP"
    if responses:
        text = tool_result_text(_function_response_text(responses[-1]))
    elif tool is None:
        user_text = next(
            (
                " ".join(t for t in (_part_text(p) for p in _parts(c)) if t)
                for c in reversed(contents)
                if c.get("role", "user") == "user"
            ),
            "",
        )
        max_out = (body.get("generationConfig") or {}).get("maxOutputTokens")
        text, truncated = truncate_words(echo_text(user_text), max_out if isinstance(max_out, int) else None)
        finish = "MAX_TOKENS" if truncated else "STOP"
    else:
        text = ""

    model = req.model or "gemini-2.0-flash"
    rid = make_id(f"{cfg.id_seed}:{req.seq}", 23)

    def chunk(parts: list[dict[str, Any]], done: bool, candidates: int) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if done:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": usage_metadata(prompt, candidates, cfg),
            "modelVersion": model,
            "responseId": rid,
        }

    objs: list[dict[str, Any]]
    if tool is not None:
        schema = tool.get("parameters") or tool.get("parametersJsonSchema") or tool.get("parameters_json_schema")
        args = arguments_for_schema(schema)
        output = tool_output_tokens(dumps(args).decode())
        objs = [chunk([{"functionCall": {"name": tool.get("name"), "args": args}}], True, output)]
    elif not stream:
        output = count_words(text)
        objs = [chunk([{"text": text}], True, output)]
    else:
        pieces = split_text(text, cfg.chunks) or [""]
        objs = []
        output = 0
        for i, piece in enumerate(pieces):
            output += count_words(piece)
            objs.append(chunk([{"text": piece}], i == len(pieces) - 1, output))
    usage = objs[-1]["usageMetadata"]

    if not stream:
        return json_plan(200, objs[0], usage, content_type=JSON_CT)
    if sse:
        chunks = [b"data: " + dumps(o) + b"\r\n\r\n" for o in objs]
        return Plan(200, SSE_CT, chunks, stream=True, usage=usage)
    # Without alt=sse Google streams one pretty-printed JSON array: "[{...}\n,\r\n{...}\n]".
    pretty = [json.dumps(o, indent=2, ensure_ascii=False).encode() for o in objs]
    chunks = [(b"[" if i == 0 else b"\n,\r\n") + p for i, p in enumerate(pretty)]
    chunks[-1] += b"\n]"
    return Plan(200, JSON_CT, chunks, stream=True, usage=usage)


def model_info(name: str) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": name,
        "description": f"Fake {name}",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 8192,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 40,
        "maxTemperature": 2,
    }


def list_models(cfg: SynthConfig) -> Plan:
    return json_plan(200, {"models": [model_info(m) for m in cfg.models]}, content_type=JSON_CT)
