"""Default synthesiser of the Anthropic Messages wire format."""

from __future__ import annotations

from typing import Any

from ._common import (
    SSE_CT,
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
    split_chars,
    split_text,
    sse_event,
    text_of,
    tool_output_tokens,
    tool_result_text,
    truncate_words,
)

PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    if block.get("type") == "tool_result":
        return text_of(block.get("content"))
    text = block.get("text")
    return text if isinstance(text, str) else ""


def _content_texts(content: Any) -> list[str]:
    if isinstance(content, list):
        return [_block_text(b) for b in content]
    return [_block_text(content)]


def prompt_texts(body: dict[str, Any]) -> list[str]:
    texts = _content_texts(body.get("system") or "")
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            texts += _content_texts(message.get("content"))
    return texts


def count_tokens(req: RecordedRequest, cfg: SynthConfig) -> Plan:
    body = req.body if isinstance(req.body, dict) else {}
    return json_plan(200, {"input_tokens": input_tokens(prompt_texts(body))})


def _tool_result(message: dict[str, Any]) -> str | None:
    content = message.get("content")
    if message.get("role") != "user" or not isinstance(content, list):
        return None
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    return text_of(results[-1].get("content")) if results else None


def _pick_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and "input_schema" in t]
    choice = body.get("tool_choice") or {}
    if not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), tools[0])
    return tools[0]


def usage_for(prompt: int, output: int, cfg: SynthConfig) -> dict[str, Any]:
    cached = min(cfg.cached_tokens, prompt)
    usage: dict[str, Any] = {
        "input_tokens": prompt - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output + cfg.reasoning_tokens,
        "service_tier": "standard",
    }
    if cfg.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": cfg.reasoning_tokens}
    return usage


def messages(req: RecordedRequest, cfg: SynthConfig) -> Plan:
    body = req.body if isinstance(req.body, dict) else {}
    msgs = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    prompt = input_tokens(prompt_texts(body))
    last = msgs[-1] if msgs else {}
    result = _tool_result(last)
    tool = None if result is not None else _pick_tool(body)
    truncated = False
    if result is not None:
        text: str = tool_result_text(result)
    elif tool is None:
        user_text = next(
            (
                " ".join(t for t in _content_texts(m.get("content")) if t)
                for m in reversed(msgs)
                if m.get("role") == "user" and _tool_result(m) is None
            ),
            "",
        )
        max_tokens = body.get("max_tokens")
        text, truncated = truncate_words(echo_text(user_text), max_tokens if isinstance(max_tokens, int) else None)
    else:
        text = ""

    model = body.get("model") or "claude-sonnet-4-5"
    seed = f"{cfg.id_seed}:{req.seq}"
    mid = "msg_01" + make_id(seed, 22)
    if tool is not None:
        args = arguments_for_schema(tool.get("input_schema"))
        args_json = dumps(args).decode()
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": "toolu_01" + make_id(seed + ":tool", 22),
            "name": tool.get("name"),
            "input": args,
        }
        output = tool_output_tokens(args_json)
        stop_reason = "tool_use"
    else:
        args_json = ""
        block = {"type": "text", "text": text}
        output = count_words(text)
        stop_reason = "max_tokens" if truncated else "end_turn"
    usage = usage_for(prompt, output, cfg)

    if not body.get("stream"):
        resp = {
            "model": model,
            "id": mid,
            "type": "message",
            "role": "assistant",
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        return json_plan(200, resp, usage)

    n = 0

    def ev(type_: str, **fields: Any) -> bytes:
        nonlocal n
        n += 1
        return sse_event(type_, {"type": type_, **fields}, pad=(n * 5) % 16)  # Anthropic pads with spaces

    start_usage = {**usage, "output_tokens": 1}
    start_usage.pop("output_tokens_details", None)
    message = {
        "model": model,
        "id": mid,
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    chunks = [ev("message_start", message=message)]
    if tool is not None:
        chunks.append(ev("content_block_start", index=0, content_block={**block, "input": {}}))
        chunks.append(PING)
        frags = ["", *split_chars(args_json, cfg.chunks)]
        for frag in frags:
            chunks.append(ev("content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": frag}))
    else:
        chunks.append(ev("content_block_start", index=0, content_block={"type": "text", "text": ""}))
        chunks.append(PING)
        for piece in split_text(text, cfg.chunks):
            chunks.append(ev("content_block_delta", index=0, delta={"type": "text_delta", "text": piece}))
    chunks.append(ev("content_block_stop", index=0))
    delta_usage = {
        "input_tokens": usage["input_tokens"],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage["cache_read_input_tokens"],
        "output_tokens": usage["output_tokens"],
    }
    if "output_tokens_details" in usage:
        delta_usage["output_tokens_details"] = usage["output_tokens_details"]
    chunks.append(ev("message_delta", delta={"stop_reason": stop_reason, "stop_sequence": None}, usage=delta_usage))
    chunks.append(ev("message_stop"))
    return Plan(200, SSE_CT, chunks, stream=True, usage=usage)


def list_models(cfg: SynthConfig) -> Plan:
    data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-09-29T00:00:00Z"} for m in cfg.models]
    return json_plan(
        200,
        {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        },
    )
