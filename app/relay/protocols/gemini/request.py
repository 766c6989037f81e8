"""Gemini ``generateContent`` request body <-> IR request.

The model and streaming live in the URL (``models/{model}:streamGenerateContent``), so they
are keyword arguments. camelCase and snake_case field names are both accepted, as Google's
REST API does. Fields with no IR counterpart are ignored: ``safetySettings``,
``cachedContent``, non-function tools (``googleSearch``, ``codeExecution``, ``urlContext``...),
``candidateCount`` (only candidate 0 is relayed), ``responseModalities``, ``speechConfig``...
"""

from __future__ import annotations

import re
from typing import Any

from app.relay.protocols import ir
from app.relay.protocols.base import ProtocolError
from app.relay.protocols.gemini.parts import PartReader, write_parts
from app.relay.protocols.gemini.schema import openapi_to_json_schema, outbound_json_schema
from app.relay.protocols.gemini.wire import (
    DUMMY_SIGNATURE,
    decode,
    encode,
    expect,
    field,
    sequential_ids,
)

_ROLES: dict[str, ir.Role] = {"user": "user", "model": "assistant", "function": "user"}
_NUMBER = (int, float)

#: OpenAI reasoning effort -> Gemini 2.x thinking budget.
EFFORT_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576}
#: OpenAI reasoning effort -> Gemini 3 thinkingLevel.
EFFORT_LEVELS = {"none": "minimal", "minimal": "minimal", "low": "low", "medium": "medium",
                 "high": "high", "xhigh": "high"}
_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")


# --------------------------------------------------------------------------- parse


def parse_request(body: bytes, *, model: str | None = None, stream: bool | None = None) -> ir.Request:
    data = decode(body)
    expect(data, dict, "body", "a JSON object")
    name = model or data.get("model")
    if not isinstance(name, str) or not name:
        raise ProtocolError("model is required (models/{model}:generateContent)", param="model")
    request = ir.Request(
        model=name.removeprefix("models/"),
        messages=_contents(field(data, "contents")),
        system=_system(field(data, "systemInstruction")),
        tools=_tools(field(data, "tools")),
        tool_choice=_tool_choice(field(data, "toolConfig")),
        stream=bool(stream),
    )
    config = field(data, "generationConfig")
    if config is not None:
        _generation_config(request, expect(config, dict, "generationConfig", "an object"))
    return request


def _contents(contents: Any) -> list[ir.Message]:
    expect(contents, list, "contents", "an array of Content objects")
    if not contents:
        raise ProtocolError("contents must not be empty", param="contents")
    reader = PartReader(sequential_ids())
    messages: list[ir.Message] = []
    for i, content in enumerate(contents):
        path = f"contents[{i}]"
        expect(content, dict, path, "an object")
        role = content.get("role") or "user"
        if not isinstance(role, str) or role not in _ROLES:
            raise ProtocolError(f"{path}.role must be 'user' or 'model'", param=f"{path}.role")
        parts = content.get("parts")
        if isinstance(parts, list) and not parts:
            raise ProtocolError(f"{path}.parts must not be empty", param=f"{path}.parts")
        blocks = reader.read(parts, f"{path}.parts")
        if not blocks:
            continue
        if messages and messages[-1].role == _ROLES[role]:
            messages[-1].content.extend(blocks)  # consecutive same-role turns are merged
        else:
            messages.append(ir.Message(role=_ROLES[role], content=blocks))
    return messages


def _system(system: Any) -> list[ir.TextBlock]:
    if system is None:
        return []
    if isinstance(system, str):
        return [ir.TextBlock(text=system)]
    expect(system, dict, "systemInstruction", "a Content object")
    parts = expect(system.get("parts") or [], list, "systemInstruction.parts", "an array")
    out: list[ir.TextBlock] = []
    for j, part in enumerate(parts):
        path = f"systemInstruction.parts[{j}]"
        expect(part, dict, path, "an object")
        out.append(ir.TextBlock(text=expect(part.get("text"), str, f"{path}.text", "a string")))
    return out


def _tools(tools: Any) -> list[ir.Tool]:
    if tools is None:
        return []
    expect(tools, list, "tools", "an array")
    out: list[ir.Tool] = []
    for i, tool in enumerate(tools):
        expect(tool, dict, f"tools[{i}]", "an object")
        decls = field(tool, "functionDeclarations")
        if decls is None:
            continue  # googleSearch, codeExecution, urlContext...: no IR counterpart
        expect(decls, list, f"tools[{i}].functionDeclarations", "an array")
        for j, decl in enumerate(decls):
            out.append(_declaration(decl, f"tools[{i}].functionDeclarations[{j}]"))
    return out


def _declaration(decl: Any, path: str) -> ir.Tool:
    expect(decl, dict, path, "an object")
    name = expect(decl.get("name"), str, f"{path}.name", "a string")
    description = decl.get("description")
    if description is not None:
        expect(description, str, f"{path}.description", "a string")
    tool = ir.Tool(name=name, description=description)
    if (schema := field(decl, "parametersJsonSchema")) is not None:
        tool.parameters = expect(schema, dict, f"{path}.parametersJsonSchema", "an object")
    elif (schema := decl.get("parameters")) is not None:
        tool.parameters = openapi_to_json_schema(expect(schema, dict, f"{path}.parameters", "an object"))
    return tool


def _tool_choice(config: Any) -> ir.ToolChoice | None:
    if config is None:
        return None
    expect(config, dict, "toolConfig", "an object")
    fcc = field(config, "functionCallingConfig")
    if fcc is None:
        return None
    path = "toolConfig.functionCallingConfig"
    expect(fcc, dict, path, "an object")
    mode = fcc.get("mode")
    names = field(fcc, "allowedFunctionNames") or []
    expect(names, list, f"{path}.allowedFunctionNames", "an array of names")
    if mode is None:
        return None
    mode = expect(mode, str, f"{path}.mode", "a string").upper()
    if mode == "NONE":
        return ir.ToolChoice(mode="none")
    if mode == "ANY":
        if len(names) == 1 and isinstance(names[0], str):
            return ir.ToolChoice(mode="tool", name=names[0])
        return ir.ToolChoice(mode="required")
    if mode in ("AUTO", "VALIDATED", "MODE_UNSPECIFIED"):
        return ir.ToolChoice(mode="auto")
    raise ProtocolError(f"{path}.mode must be AUTO, ANY, NONE or VALIDATED", param=f"{path}.mode")


def _generation_config(request: ir.Request, config: dict[str, Any]) -> None:
    def get(name: str, kind: type | tuple[type, ...], what: str) -> Any:
        value = field(config, name)
        return None if value is None else expect(value, kind, f"generationConfig.{name}", what)

    request.max_tokens = get("maxOutputTokens", int, "an integer")
    temperature = get("temperature", _NUMBER, "a number")
    request.temperature = None if temperature is None else float(temperature)
    top_p = get("topP", _NUMBER, "a number")
    request.top_p = None if top_p is None else float(top_p)
    top_k = get("topK", _NUMBER, "a number")
    request.top_k = None if top_k is None else int(top_k)
    request.seed = get("seed", int, "an integer")
    for name, attr in (("presencePenalty", "presence_penalty"), ("frequencyPenalty", "frequency_penalty")):
        value = get(name, _NUMBER, "a number")
        setattr(request, attr, None if value is None else float(value))
    stop = get("stopSequences", list, "an array of strings") or []
    for k, item in enumerate(stop):
        expect(item, str, f"generationConfig.stopSequences[{k}]", "a string")
    request.stop = stop
    mime = get("responseMimeType", str, "a string")
    if mime == "application/json":
        schema = get("responseJsonSchema", dict, "an object")
        if schema is None and isinstance(config.get("_responseJsonSchema"), dict):
            schema = config["_responseJsonSchema"]
        if schema is None and (legacy := get("responseSchema", dict, "an object")) is not None:
            schema = openapi_to_json_schema(legacy)
        request.response_format = (ir.ResponseFormat(type="json_schema", schema=schema) if schema
                                   else ir.ResponseFormat(type="json_object"))
    thinking = get("thinkingConfig", dict, "an object")
    if thinking is not None:
        request.thinking = _thinking(thinking)


def _thinking(config: dict[str, Any]) -> ir.Thinking:
    path = "generationConfig.thinkingConfig"
    budget = field(config, "thinkingBudget")
    if budget is not None:
        expect(budget, int, f"{path}.thinkingBudget", "an integer")
    include = field(config, "includeThoughts")
    if include is not None:
        expect(include, bool, f"{path}.includeThoughts", "a boolean")
    level = field(config, "thinkingLevel")
    if level is not None:
        expect(level, str, f"{path}.thinkingLevel", "a string")
    return ir.Thinking(
        enabled=budget != 0,
        budget_tokens=budget if budget is not None and budget > 0 else None,
        effort=level.lower() if level and level.upper() != "THINKING_LEVEL_UNSPECIFIED" else None,
        include_thoughts=bool(include),
    )


# --------------------------------------------------------------------------- emit


def emit_request(request: ir.Request, *, model: str) -> bytes:
    gemini3 = _major(model) >= 3
    calls = [b for m in request.messages for b in m.content if isinstance(b, ir.ToolCallBlock)]
    names = {b.id: b.name for b in calls}
    order = {b.id: k for k, b in enumerate(calls)}
    contents: list[dict[str, Any]] = []
    for message in request.messages:
        role = "model" if message.role == "assistant" else "user"
        parts = write_parts(_in_call_order(message.content, order), names=names, ids=False)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if gemini3:
        _sign_first_calls(contents)
    body: dict[str, Any] = {"contents": contents}
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": b.text} for b in request.system]}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration_object(t) for t in request.tools]}]
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(request.tool_choice)}
    config = _config_object(request, gemini3)
    if config:
        body["generationConfig"] = config
    return encode(body)


def _in_call_order(blocks: list[ir.Block], order: dict[str, int]) -> list[ir.Block]:
    """Tool results re-ordered to follow their calls (Gemini pairs them by name and order, as
    the upstream request carries no ids); other blocks keep their places."""
    slots = [k for k, b in enumerate(blocks) if isinstance(b, ir.ToolResultBlock)]
    if len(slots) < 2:
        return blocks
    results = sorted((b for b in blocks if isinstance(b, ir.ToolResultBlock)),
                     key=lambda b: order.get(b.tool_call_id, len(order)))
    out = list(blocks)
    for k, block in zip(slots, results, strict=True):
        out[k] = block
    return out


def _major(model: str) -> int:
    match = _GEMINI_MAJOR.search(model)
    return int(match.group(1)) if match else 0


def _sign_first_calls(contents: list[dict[str, Any]]) -> None:
    """Gemini 3 rejects a model turn whose first functionCall lacks a thoughtSignature (history
    from another provider): give it the placeholder Google documents for that case."""
    for content in contents:
        if content["role"] != "model":
            continue
        for part in content["parts"]:
            if "functionCall" in part:
                part.setdefault("thoughtSignature", DUMMY_SIGNATURE)
                break


def _declaration_object(tool: ir.Tool) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        decl["description"] = tool.description
    decl["parametersJsonSchema"] = outbound_json_schema(tool.parameters)
    return decl


def _calling_config(choice: ir.ToolChoice) -> dict[str, Any]:
    if choice.mode == "none":
        return {"mode": "NONE"}
    if choice.mode == "required":
        return {"mode": "ANY"}
    if choice.mode == "tool" and choice.name:
        return {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    return {"mode": "AUTO"}


def _config_object(request: ir.Request, gemini3: bool) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, value in (("maxOutputTokens", request.max_tokens), ("temperature", request.temperature),
                       ("topP", request.top_p), ("topK", request.top_k), ("seed", request.seed),
                       ("presencePenalty", request.presence_penalty),
                       ("frequencyPenalty", request.frequency_penalty)):
        if value is not None:
            config[key] = value
    if request.stop:
        config["stopSequences"] = list(request.stop)
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema:
            config["responseJsonSchema"] = outbound_json_schema(fmt.schema)
    if request.thinking is not None:
        config["thinkingConfig"] = _thinking_object(request.thinking, gemini3)
    return config


def _thinking_object(thinking: ir.Thinking, gemini3: bool) -> dict[str, Any]:
    """Budget when given; effort -> thinkingLevel on Gemini 3, a budget (1024/8192/24576) before."""
    out: dict[str, Any] = {}
    if not thinking.enabled:
        out["thinkingBudget"] = 0
    elif thinking.budget_tokens is not None:
        out["thinkingBudget"] = thinking.budget_tokens
    elif thinking.effort:
        effort = thinking.effort.lower()
        if gemini3:
            out["thinkingLevel"] = EFFORT_LEVELS.get(effort, effort)
        else:
            out["thinkingBudget"] = EFFORT_BUDGETS.get(effort, -1)
    if thinking.include_thoughts:
        out["includeThoughts"] = True
    return out
