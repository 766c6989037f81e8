"""Drive each official SDK the way an application would, and reduce what it returns to a common
shape (text, tool calls, usage) so one test can compare all nine protocol pairs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.genai import types as gt

from tests.support.harness import Relay


@dataclass
class Answer:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # (name, args, id)
    prompt_tokens: int = 0  # all input, cached included
    output_tokens: int = 0  # all output, reasoning included
    stop: str | None = None
    model: str | None = None


def usage_of(kind: str, usage: dict[str, Any]) -> tuple[int, int]:
    """(all input tokens, all output tokens) from a provider's own usage object."""
    if kind == "openai":
        return usage["prompt_tokens"], usage["completion_tokens"]
    if kind == "anthropic":
        prompt = usage["input_tokens"] + (usage.get("cache_read_input_tokens") or 0) + (
            usage.get("cache_creation_input_tokens") or 0)
        return prompt, usage["output_tokens"]
    return usage["promptTokenCount"], usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["c", "f"]}},
                   "required": ["city"]},
}


# ------------------------------------------------------------------------------------ OpenAI

def _openai_messages(prompt: str, tool_turn: tuple[Answer, str] | None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    if tool_turn:
        answer, result = tool_turn
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for n, a, cid in answer.tool_calls]})
        messages += [{"role": "tool", "tool_call_id": cid, "content": result} for _n, _a, cid in answer.tool_calls]
    return messages


def ask_openai(relay: Relay, model: str, prompt: str, *, stream: bool, tools: bool = False,
               tool_turn: tuple[Answer, str] | None = None, key: str | None = None) -> Answer:
    client = relay.openai(key)
    kw: dict[str, Any] = {"model": model, "messages": _openai_messages(prompt, tool_turn)}
    if tools or tool_turn:
        kw["tools"] = [{"type": "function", "function": WEATHER_TOOL}]
    out = Answer()
    if not stream:
        r = client.chat.completions.create(**kw)
        msg = r.choices[0].message
        out.text = msg.content or ""
        out.tool_calls = [(c.function.name, json.loads(c.function.arguments), c.id) for c in msg.tool_calls or []]
        out.prompt_tokens, out.output_tokens = r.usage.prompt_tokens, r.usage.completion_tokens
        out.stop, out.model = r.choices[0].finish_reason, r.model
        return out
    calls: dict[int, dict[str, str]] = {}
    with client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}) as s:
        for chunk in s:
            out.model = chunk.model
            if chunk.usage:
                out.prompt_tokens, out.output_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            for choice in chunk.choices:
                out.text += choice.delta.content or ""
                for tc in choice.delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                    slot["id"] = tc.id or slot["id"]
                    if tc.function:
                        slot["name"] += tc.function.name or ""
                        slot["args"] += tc.function.arguments or ""
                out.stop = choice.finish_reason or out.stop
    out.tool_calls = [(c["name"], json.loads(c["args"] or "{}"), c["id"]) for _i, c in sorted(calls.items())]
    return out


# ------------------------------------------------------------------------------------ Anthropic

def ask_anthropic(relay: Relay, model: str, prompt: str, *, stream: bool, tools: bool = False,
                  tool_turn: tuple[Answer, str] | None = None, key: str | None = None) -> Answer:
    client = relay.anthropic(key)
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    if tool_turn:
        answer, result = tool_turn
        messages.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": cid, "name": n, "input": a} for n, a, cid in answer.tool_calls]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": cid, "content": result} for _n, _a, cid in answer.tool_calls]})
    kw: dict[str, Any] = {"model": model, "max_tokens": 512, "messages": messages}
    if tools or tool_turn:
        kw["tools"] = [{"name": WEATHER_TOOL["name"], "description": WEATHER_TOOL["description"],
                        "input_schema": WEATHER_TOOL["parameters"]}]
    if stream:
        partial_json: list[str] = []
        with client.messages.stream(**kw) as s:
            for event in s:
                if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    partial_json.append(event.delta.partial_json)
            message = s.get_final_message()
        if message.content and any(b.type == "tool_use" for b in message.content):
            assert len(partial_json) >= 1  # arguments really arrived as deltas
    else:
        message = client.messages.create(**kw)
    out = Answer(stop=message.stop_reason, model=message.model)
    for block in message.content:
        if block.type == "text":
            out.text += block.text
        elif block.type == "tool_use":
            out.tool_calls.append((block.name, dict(block.input), block.id))
    u = message.usage
    out.prompt_tokens = u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
    out.output_tokens = u.output_tokens
    return out


# ------------------------------------------------------------------------------------ Gemini

def ask_gemini(relay: Relay, model: str, prompt: str, *, stream: bool, tools: bool = False,
               tool_turn: tuple[Answer, str] | None = None, key: str | None = None,
               api_version: str | None = "v1beta") -> Answer:
    client = relay.genai(key, api_version=api_version)
    contents: list[gt.Content] = [gt.Content(role="user", parts=[gt.Part(text=prompt)])]
    if tool_turn:
        answer, result = tool_turn
        contents.append(gt.Content(role="model", parts=[
            gt.Part(function_call=gt.FunctionCall(name=n, args=a, id=cid or None)) for n, a, cid in answer.tool_calls]))
        contents.append(gt.Content(role="user", parts=[
            gt.Part(function_response=gt.FunctionResponse(name=n, id=cid or None, response={"result": result}))
            for n, _a, cid in answer.tool_calls]))
    config = gt.GenerateContentConfig(automatic_function_calling=gt.AutomaticFunctionCallingConfig(disable=True))
    if tools or tool_turn:
        config.tools = [gt.Tool(function_declarations=[gt.FunctionDeclaration(
            name=WEATHER_TOOL["name"], description=WEATHER_TOOL["description"],
            parameters_json_schema=WEATHER_TOOL["parameters"])])]
    responses = (list(client.models.generate_content_stream(model=model, contents=contents, config=config))
                 if stream else [client.models.generate_content(model=model, contents=contents, config=config)])
    out = Answer()
    for r in responses:
        out.model = r.model_version or out.model
        for cand in r.candidates or []:
            out.stop = (cand.finish_reason.value if cand.finish_reason else None) or out.stop
            for part in (cand.content.parts if cand.content and cand.content.parts else []):
                if part.text and not part.thought:
                    out.text += part.text
                if part.function_call:
                    fc = part.function_call
                    out.tool_calls.append((fc.name, dict(fc.args or {}), fc.id or ""))
        if r.usage_metadata:
            um = r.usage_metadata
            out.prompt_tokens = um.prompt_token_count or 0
            out.output_tokens = (um.candidates_token_count or 0) + (um.thoughts_token_count or 0)
    return out


ASK = {"openai": ask_openai, "anthropic": ask_anthropic, "gemini": ask_gemini}
