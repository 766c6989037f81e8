"""Default synthesiser of the OpenAI wire format: chat completions, completions, responses, embeddings."""

from __future__ import annotations

import base64
import hashlib
import struct
import time
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
    sse_data,
    sse_event,
    text_of,
    tool_output_tokens,
    tool_result_text,
    truncate_words,
)

FINGERPRINT = "fp_fake0001"
DONE = b"data: [DONE]\n\n"


def _chat_usage(prompt: int, completion: int, cfg: SynthConfig) -> dict[str, Any]:
    reasoning = cfg.reasoning_tokens
    completion += reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": min(cfg.cached_tokens, prompt), "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _pick_tool(tools: list[dict[str, Any]], choice: Any) -> dict[str, Any] | None:
    """The tool to call (Chat ``{"function": {...}}`` or Responses flat form), or None to answer text."""
    if not tools or choice == "none":
        return None
    wanted = None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name") or choice.get("name")
    for tool in tools:
        fn = tool.get("function", tool)
        if wanted is None or fn.get("name") == wanted:
            return fn
    return tools[0].get("function", tools[0])


def _function_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type", "function") == "function"]


def _answer(
    body: dict[str, Any], last_role: str | None, last_text: str, user_text: str, max_tokens: Any
) -> tuple[str | None, dict[str, Any] | None, bool]:
    """Decide the answer: (text, tool, truncated)."""
    if last_role in ("tool", "function_call_output"):
        return tool_result_text(last_text), None, False
    tool = _pick_tool(_function_tools(body), body.get("tool_choice"))
    if tool is not None:
        return None, tool, False
    text, truncated = truncate_words(echo_text(user_text), max_tokens if isinstance(max_tokens, int) else None)
    return text, None, truncated


# --------------------------------------------------------------------------- chat completions


def chat_completions(req: RecordedRequest, cfg: SynthConfig) -> Plan:
    body = req.body if isinstance(req.body, dict) else {}
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    prompt = input_tokens([text_of(m.get("content")) for m in messages])
    last = messages[-1] if messages else {}
    user_text = next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    text, tool, truncated = _answer(body, last.get("role"), text_of(last.get("content")), user_text, max_tokens)

    model = body.get("model") or req.deployment or "gpt-4o-mini"
    seed = f"{cfg.id_seed}:{req.seq}"
    cid = "chatcmpl-" + make_id(seed, 29)
    created = int(time.time())
    if tool is not None:
        args = dumps(arguments_for_schema(tool.get("parameters"))).decode()
        call_id = "call_" + make_id(seed + ":call", 24)
        usage = _chat_usage(prompt, tool_output_tokens(args), cfg)
        finish = "tool_calls"
    else:
        args = call_id = ""
        usage = _chat_usage(prompt, count_words(text or ""), cfg)
        finish = "length" if truncated else "stop"

    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        if tool is not None:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": tool.get("name"), "arguments": args}}
            ]
        resp = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
        return json_plan(200, resp, usage)

    include_usage = (body.get("stream_options") or {}).get("include_usage") is True
    base = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        obj = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
        if include_usage:
            obj["usage"] = None
        return sse_data(obj)

    if tool is not None:
        head = {"index": 0, "id": call_id, "type": "function", "function": {"name": tool.get("name"), "arguments": ""}}
        chunks = [chunk({"role": "assistant", "content": None, "tool_calls": [head], "refusal": None})]
        chunks += [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": frag}}]})
            for frag in split_chars(args, cfg.chunks)
        ]
    else:
        chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
        chunks += [chunk({"content": piece}) for piece in split_text(text or "", cfg.chunks)]
    chunks.append(chunk({}, finish))
    if include_usage:
        chunks.append(sse_data({**base, "choices": [], "usage": usage}))
    chunks.append(DONE)
    return Plan(200, SSE_CT, chunks, stream=True, usage=usage if include_usage else None)


# --------------------------------------------------------------------------- legacy completions


def completions(req: RecordedRequest, cfg: SynthConfig) -> Plan:
    body = req.body if isinstance(req.body, dict) else {}
    prompt_in = body.get("prompt") or ""
    prompts = [p for p in prompt_in if isinstance(p, str)] if isinstance(prompt_in, list) else [str(prompt_in)]
    text, truncated = truncate_words(echo_text(prompts[-1] if prompts else ""), body.get("max_tokens"))
    prompt = input_tokens(prompts)
    completion = count_words(text)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    model = body.get("model") or req.deployment or "gpt-3.5-turbo-instruct"
    base = {"id": "cmpl-" + make_id(f"{cfg.id_seed}:{req.seq}", 29), "object": "text_completion"}
    base |= {"created": int(time.time()), "model": model}
    finish = "length" if truncated else "stop"
    if not body.get("stream"):
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
        return json_plan(200, {**base, "choices": [choice], "usage": usage}, usage)
    include_usage = (body.get("stream_options") or {}).get("include_usage") is True
    pieces = [*split_text(text, cfg.chunks), ""]
    chunks = [
        sse_data(
            {
                **base,
                "choices": [
                    {
                        "text": piece,
                        "index": 0,
                        "logprobs": None,
                        "finish_reason": finish if i == len(pieces) - 1 else None,
                    }
                ],
            }
        )
        for i, piece in enumerate(pieces)
    ]
    if include_usage:
        chunks.append(sse_data({**base, "choices": [], "usage": usage}))
    chunks.append(DONE)
    return Plan(200, SSE_CT, chunks, stream=True, usage=usage if include_usage else None)


# --------------------------------------------------------------------------- responses


def _item_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return ""
    if item.get("type") == "function_call_output":
        return text_of(item.get("output"))
    return text_of(item.get("content"))


def responses(req: RecordedRequest, cfg: SynthConfig) -> Plan:
    body = req.body if isinstance(req.body, dict) else {}
    raw_input = body.get("input")
    items: list[Any] = [raw_input] if isinstance(raw_input, str) else list(raw_input or [])
    texts = [_item_text(i) for i in items]
    if isinstance(body.get("instructions"), str):
        texts.append(body["instructions"])
    prompt = input_tokens(texts)
    last = items[-1] if items else ""
    last_role = (
        "function_call_output" if isinstance(last, dict) and last.get("type") == "function_call_output" else None
    )
    user_text = next(
        (
            _item_text(i)
            for i in reversed(items)
            if isinstance(i, str) or (isinstance(i, dict) and i.get("role") == "user")
        ),
        "",
    )
    text, tool, _ = _answer(body, last_role, _item_text(last), user_text, None)

    model = body.get("model") or "gpt-4o-mini"
    seed = f"{cfg.id_seed}:{req.seq}"
    rid = "resp_" + make_id(seed, 48).lower()
    created = int(time.time())
    if tool is not None:
        args = dumps(arguments_for_schema(tool.get("parameters"))).decode()
        output_tokens = tool_output_tokens(args)
        item: dict[str, Any] = {
            "id": "fc_" + make_id(seed + ":fc", 48).lower(),
            "type": "function_call",
            "status": "completed",
            "arguments": args,
            "call_id": "call_" + make_id(seed + ":call", 24),
            "name": tool.get("name"),
        }
    else:
        args = ""
        output_tokens = count_words(text or "")
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        item = {
            "id": "msg_" + make_id(seed + ":msg", 48).lower(),
            "type": "message",
            "status": "completed",
            "content": [part],
            "role": "assistant",
        }
    reasoning = cfg.reasoning_tokens
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": min(cfg.cached_tokens, prompt)},
        "output_tokens": output_tokens + reasoning,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + output_tokens + reasoning,
    }
    response = {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": "completed",
        "background": False,
        "completed_at": created,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [item],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": body.get("metadata") or {},
    }
    if not body.get("stream"):
        return json_plan(200, response, usage)

    seq = 0

    def ev(type_: str, **fields: Any) -> bytes:
        nonlocal seq
        obj = {"type": type_, **fields, "sequence_number": seq}
        seq += 1
        return sse_event(type_, obj)

    pending = {**response, "status": "in_progress", "completed_at": None, "output": [], "usage": None}
    chunks = [ev("response.created", response=pending), ev("response.in_progress", response=pending)]
    if tool is not None:
        chunks.append(
            ev("response.output_item.added", item={**item, "status": "in_progress", "arguments": ""}, output_index=0)
        )
        for frag in split_chars(args, cfg.chunks):
            chunks.append(ev("response.function_call_arguments.delta", delta=frag, item_id=item["id"], output_index=0))
        chunks.append(ev("response.function_call_arguments.done", arguments=args, item_id=item["id"], output_index=0))
    else:
        ids = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        empty_part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        chunks.append(
            ev("response.output_item.added", item={**item, "status": "in_progress", "content": []}, output_index=0)
        )
        chunks.append(ev("response.content_part.added", part=empty_part, **ids))
        for piece in split_text(text or "", cfg.chunks):
            chunks.append(ev("response.output_text.delta", delta=piece, logprobs=[], **ids))
        chunks.append(ev("response.output_text.done", text=text, logprobs=[], **ids))
        chunks.append(ev("response.content_part.done", part=item["content"][0], **ids))
    chunks.append(ev("response.output_item.done", item=item, output_index=0))
    chunks.append(ev("response.completed", response=response))
    return Plan(200, SSE_CT, chunks, stream=True, usage=usage)


# --------------------------------------------------------------------------- embeddings and models


def embedding_vector(text: str, dims: int) -> list[float]:
    """Deterministic unit vector for ``text``, float32-exact values."""
    raw = b""
    counter = 0
    while len(raw) < dims * 2:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [(int.from_bytes(raw[2 * i : 2 * i + 2], "big") / 32767.5) - 1.0 for i in range(dims)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    packed = struct.pack(f"<{dims}f", *(v / norm for v in values))
    return list(struct.unpack(f"<{dims}f", packed))


def embeddings(req: RecordedRequest, cfg: SynthConfig) -> Plan:
    body = req.body if isinstance(req.body, dict) else {}
    raw = body.get("input")
    if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
        inputs: list[Any] = [raw]
    else:
        inputs = list(raw or [])
    dims = body.get("dimensions") or cfg.embedding_dims
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for i, item in enumerate(inputs):
        if isinstance(item, list):  # token ids
            text, n = " ".join(map(str, item)), len(item)
        else:
            text, n = str(item), count_words(str(item))
        tokens += max(1, n)
        vec = embedding_vector(text, dims)
        emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if as_base64 else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    model = body.get("model") or req.deployment or "text-embedding-3-small"
    return json_plan(200, {"object": "list", "data": data, "model": model, "usage": usage}, usage)


def list_models(cfg: SynthConfig) -> Plan:
    data = [{"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in cfg.models]
    return json_plan(200, {"object": "list", "data": data})
