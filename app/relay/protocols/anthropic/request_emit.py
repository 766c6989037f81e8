"""IR request -> Anthropic Messages request body (upstream: the channel speaks Anthropic).

Decisions:

* ``max_tokens`` is required by Anthropic: :data:`DEFAULT_MAX_TOKENS` when the IR has none. With
  thinking, ``max_tokens`` must exceed the budget: when it does not, the caller's ``max_tokens``
  (or the default) is treated as the room for the answer and the budget is added on top.
* Thinking: a budget is sent as ``{"type": "enabled"}`` (raised to Anthropic's minimum of 1024);
  an OpenAI ``effort`` maps through :data:`EFFORT_BUDGETS` ("none" disables); thinking with
  neither uses :data:`DEFAULT_THINKING_BUDGET` (``adaptive`` is only understood by the newest
  models, ``enabled`` by every thinking model). With thinking on, sampling parameters Anthropic
  rejects are dropped: ``top_k``, ``temperature`` other than 1, ``top_p`` below 0.95; thinking
  itself is dropped when ``tool_choice`` forces a tool (Anthropic rejects the combination).
* ``response_format`` has no field every Claude model accepts (``output_config.format`` is only
  understood by recent models), so json_object / json_schema append a system instruction.
* Thinking blocks are sent only with a signature (Anthropic rejects unsigned thinking); redacted
  thinking is sent back as is; thinking in user turns is dropped.
* Tool results go in user turns (first in the turn, as Anthropic requires); consecutive turns of
  the same role are merged; empty text blocks and empty turns are dropped; trailing whitespace of
  a final assistant prefill is stripped (Anthropic rejects it).
* Whitespace-only stop sequences are dropped (Anthropic rejects them); seed, penalties and
  ``include_usage`` have no Anthropic counterpart.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.anthropic.response import tool_input

#: ``max_tokens`` sent when the IR request has none (Anthropic requires it).
DEFAULT_MAX_TOKENS = 4096
#: Anthropic's smallest accepted ``thinking.budget_tokens``.
MIN_THINKING_BUDGET = 1024
#: Budget for thinking requested without a budget or an effort.
DEFAULT_THINKING_BUDGET = 4096
#: OpenAI ``reasoning_effort`` -> Anthropic thinking budget.
EFFORT_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32768,
    "max": 32768,
}
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."
JSON_SCHEMA_INSTRUCTION = (
    "Respond with a single valid JSON value that conforms to the following JSON Schema, "
    "and nothing else (no prose, no code fences):\n"
)


def _with_cache(out: dict[str, Any], cache_control: dict[str, Any] | None) -> dict[str, Any]:
    if cache_control is not None:
        out["cache_control"] = cache_control
    return out


def _image(block: ir.ImageBlock) -> dict[str, Any] | None:
    source: dict[str, Any]
    if block.data is not None:
        source = {"type": "base64", "media_type": block.media_type or "image/png", "data": block.data}
    elif block.url is not None and block.url.startswith("data:"):
        header, _, payload = block.url[5:].partition(",")
        parts = header.split(";")
        media_type = parts[0] or "image/png"
        data = payload if "base64" in parts[1:] else base64.b64encode(unquote_to_bytes(payload)).decode()
        source = {"type": "base64", "media_type": media_type, "data": data}
    elif block.url:
        source = {"type": "url", "url": block.url}
    else:
        return None
    return _with_cache({"type": "image", "source": source}, block.cache_control)


def _result_content(blocks: list[ir.TextBlock | ir.ImageBlock]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in blocks:
        if isinstance(b, ir.TextBlock):
            if b.text:
                out.append(_with_cache({"type": "text", "text": b.text}, b.cache_control))
        else:
            img = _image(b)
            if img is not None:
                out.append(img)
    return out


def _block(block: ir.Block, role: ir.Role) -> dict[str, Any] | None:
    if isinstance(block, ir.TextBlock):
        if not block.text:
            return None
        return _with_cache({"type": "text", "text": block.text}, block.cache_control)
    if isinstance(block, ir.ImageBlock):
        return _image(block)
    if isinstance(block, ir.ToolCallBlock):
        return _with_cache({"type": "tool_use", "id": block.id, "name": block.name,
                            "input": tool_input(block.arguments)}, block.cache_control)
    if isinstance(block, ir.ToolResultBlock):
        out: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.tool_call_id}
        content = _result_content(block.content)
        if content:
            out["content"] = content
        if block.is_error:
            out["is_error"] = True
        return _with_cache(out, block.cache_control)
    # ThinkingBlock
    if role != "assistant":
        return None
    if block.redacted_data is not None:
        return {"type": "redacted_thinking", "data": block.redacted_data}
    if block.signature:
        return {"type": "thinking", "thinking": block.text, "signature": block.signature}
    return None


def _messages(messages: list[ir.Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        for block in message.content:
            role: ir.Role = "user" if isinstance(block, ir.ToolResultBlock) else message.role
            wire = _block(block, role)
            if wire is None:
                continue
            if out and out[-1]["role"] == role:
                out[-1]["content"].append(wire)
            else:
                out.append({"role": role, "content": [wire]})
    for m in out:
        if m["role"] == "user":
            # tool_result blocks must open the user turn (stable: relative order kept)
            m["content"].sort(key=lambda b: b["type"] != "tool_result")
    if out and out[-1]["role"] == "assistant":
        last = out[-1]["content"][-1]
        if last["type"] == "text":
            stripped = last["text"].rstrip()
            if stripped:
                last["text"] = stripped
            else:
                out[-1]["content"].pop()
                if not out[-1]["content"]:
                    out.pop()
    return out


def _system(request: ir.Request) -> str | list[dict[str, Any]] | None:
    blocks = [_with_cache({"type": "text", "text": b.text}, b.cache_control)
              for b in request.system if b.text]
    rf = request.response_format
    if rf is not None and rf.type == "json_schema" and rf.schema is not None:
        schema = msgspec.json.encode(rf.schema).decode()
        blocks.append({"type": "text", "text": JSON_SCHEMA_INSTRUCTION + schema})
    elif rf is not None and rf.type in ("json_object", "json_schema"):
        blocks.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})
    if not blocks:
        return None
    if len(blocks) == 1 and "cache_control" not in blocks[0]:
        return str(blocks[0]["text"])
    return blocks


def _thinking(thinking: ir.Thinking | None) -> dict[str, Any] | None:
    if thinking is None:
        return None
    if not thinking.enabled:
        return {"type": "disabled"}
    if thinking.budget_tokens is not None:
        if thinking.budget_tokens <= 0:
            return {"type": "disabled"}
        budget = max(thinking.budget_tokens, MIN_THINKING_BUDGET)
    elif thinking.effort is not None:
        if thinking.effort == "none":
            return {"type": "disabled"}
        budget = EFFORT_BUDGETS.get(thinking.effort, DEFAULT_THINKING_BUDGET)
    else:
        budget = DEFAULT_THINKING_BUDGET
    out: dict[str, Any] = {"type": "enabled", "budget_tokens": budget}
    if not thinking.include_thoughts:
        out["display"] = "omitted"
    return out


def _tool_choice(tc: ir.ToolChoice) -> dict[str, Any]:
    if tc.mode == "none":
        return {"type": "none"}
    out: dict[str, Any]
    if tc.mode == "tool" and tc.name:
        out = {"type": "tool", "name": tc.name}
    elif tc.mode in ("required", "tool"):
        out = {"type": "any"}
    else:
        out = {"type": "auto"}
    if tc.disable_parallel:
        out["disable_parallel_tool_use"] = True
    return out


def emit_request(request: ir.Request, *, model: str) -> bytes:
    thinking = _thinking(request.thinking)
    tc = request.tool_choice
    if thinking is not None and request.tools and tc is not None and tc.mode in ("required", "tool"):
        thinking = None  # Anthropic rejects thinking with a forced tool choice; the tool call wins
    budget = thinking.get("budget_tokens") if thinking else None
    max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
    if budget is not None and max_tokens <= budget:
        max_tokens += budget

    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
    system = _system(request)
    if system is not None:
        body["system"] = system
    body["messages"] = _messages(request.messages)
    if request.tools:
        body["tools"] = [
            _with_cache({"name": t.name, **({"description": t.description} if t.description else {}),
                         "input_schema": t.parameters}, t.cache_control)
            for t in request.tools
        ]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice(request.tool_choice)

    thinking_on = thinking is not None and thinking["type"] != "disabled"
    if request.temperature is not None and (not thinking_on or request.temperature == 1.0):
        body["temperature"] = request.temperature
    if request.top_p is not None and (not thinking_on or request.top_p >= 0.95):
        body["top_p"] = request.top_p
    if request.top_k is not None and not thinking_on:
        body["top_k"] = request.top_k
    stop = [s for s in request.stop if s.strip()]
    if stop:
        body["stop_sequences"] = stop
    if thinking is not None:
        body["thinking"] = thinking
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    return msgspec.json.encode(body)
