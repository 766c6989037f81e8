"""Anthropic Messages request body -> IR request (inbound: the client speaks Anthropic).

Decisions:

* Server tools (``tools[i].type`` other than absent/"custom", e.g. ``web_search_20250305``) run on
  Anthropic's side and have no IR counterpart: they are skipped, not rejected, so a request that
  also offers them still works on another upstream. A ``tool_choice`` naming a skipped tool falls
  back to ``auto``. Server-tool blocks in the history (``server_tool_use``, ``*_tool_result``,
  ``mcp_*``, ``container_upload``) are skipped likewise.
* ``document`` blocks with a plain-text or inline ``content`` source become text blocks; PDF
  (base64/url) and file sources have no IR counterpart and raise ProtocolError.
* ``thinking.type``: "enabled" -> budget; "disabled" -> Thinking(enabled=False); "adaptive" ->
  Thinking() with no budget (``output_config.effort`` kept as ``effort``). ``display: omitted``
  -> ``include_thoughts=False``.
* ``output_config.format`` (structured outputs) -> response_format json_schema.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.base import ProtocolError

_SERVER_BLOCK_TYPES = frozenset({"server_tool_use", "mcp_tool_use", "mcp_tool_result", "container_upload"})


def _fail(message: str, param: str | None) -> ProtocolError:
    return ProtocolError(message, param=param)


def _is_server_block(btype: str) -> bool:
    return btype in _SERVER_BLOCK_TYPES or (btype.endswith("_tool_result") and btype != "tool_result")


# --------------------------------------------------------------------------- field helpers


def _opt_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise _fail(f"{path}: expected a string", path)
    return value


def _req_str(obj: dict[str, Any], key: str, path: str) -> str:
    value = _opt_str(obj, key, path)
    if value is None:
        raise _fail(f"{path}: field required", path)
    return value


def _int(obj: dict[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{path}: expected an integer", path)
    return value


def _num(obj: dict[str, Any], key: str, path: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"{path}: expected a number", path)
    return float(value)


def _dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"{path}: expected an object", path)
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(f"{path}: expected an array", path)
    return value


def _cache_control(obj: dict[str, Any], path: str) -> dict[str, Any] | None:
    value = obj.get("cache_control")
    if value is None:
        return None
    return _dict(value, f"{path}.cache_control")


def _block_type(block: Any, path: str) -> tuple[dict[str, Any], str]:
    b = _dict(block, path)
    btype = b.get("type")
    if not isinstance(btype, str):
        raise _fail(f"{path}.type: field required", f"{path}.type")
    return b, btype


# --------------------------------------------------------------------------- blocks


def _text(b: dict[str, Any], path: str) -> ir.TextBlock:
    text = _req_str(b, "text", f"{path}.text")
    return ir.TextBlock(text=text, cache_control=_cache_control(b, path))


def _image(b: dict[str, Any], path: str) -> ir.ImageBlock:
    spath = f"{path}.source"
    source = _dict(b.get("source"), spath)
    stype = source.get("type")
    cache_control = _cache_control(b, path)
    if stype == "base64":
        return ir.ImageBlock(data=_req_str(source, "data", f"{spath}.data"),
                             media_type=_req_str(source, "media_type", f"{spath}.media_type"),
                             cache_control=cache_control)
    if stype == "url":
        return ir.ImageBlock(url=_req_str(source, "url", f"{spath}.url"), cache_control=cache_control)
    raise _fail(f"{spath}.type: unsupported image source {stype!r} (use 'base64' or 'url')",
                f"{spath}.type")


def _document(b: dict[str, Any], path: str) -> list[ir.TextBlock | ir.ImageBlock]:
    spath = f"{path}.source"
    source = _dict(b.get("source"), spath)
    stype = source.get("type")
    cache_control = _cache_control(b, path)
    if stype == "text":
        data = _req_str(source, "data", f"{spath}.data")
        return [ir.TextBlock(text=data, cache_control=cache_control)]
    if stype == "content":
        out = _result_content(source.get("content"), f"{spath}.content")
        if out and cache_control is not None:
            last = out[-1]
            out[-1] = msgspec.structs.replace(last, cache_control=cache_control)
        return out
    raise _fail(f"{spath}.type: document source {stype!r} (PDF or file) cannot be converted for this "
                "upstream; only 'text' and 'content' documents are supported", f"{spath}.type")


def _result_content(value: Any, path: str) -> list[ir.TextBlock | ir.ImageBlock]:
    """tool_result / document ``content``: a string or text/image(/text document) blocks."""
    if value is None:
        return []
    if isinstance(value, str):
        return [ir.TextBlock(text=value)] if value else []
    out: list[ir.TextBlock | ir.ImageBlock] = []
    for i, block in enumerate(_list(value, path)):
        bpath = f"{path}.{i}"
        b, btype = _block_type(block, bpath)
        if btype == "text":
            out.append(_text(b, bpath))
        elif btype == "image":
            out.append(_image(b, bpath))
        elif btype == "document":
            out.extend(_document(b, bpath))
        else:
            raise _fail(f"{bpath}.type: unsupported content block type {btype!r}", f"{bpath}.type")
    return out


def _content_block(b: dict[str, Any], btype: str, path: str, tool_names: dict[str, str]) -> list[ir.Block]:
    if btype == "text":
        return [_text(b, path)]
    if btype == "image":
        return [_image(b, path)]
    if btype == "tool_use":
        call_id = _req_str(b, "id", f"{path}.id")
        name = _req_str(b, "name", f"{path}.name")
        raw_input = b.get("input", {})
        if raw_input is None:
            raw_input = {}
        args = msgspec.json.encode(_dict(raw_input, f"{path}.input")).decode()
        tool_names[call_id] = name
        return [ir.ToolCallBlock(id=call_id, name=name, arguments=args,
                                 cache_control=_cache_control(b, path))]
    if btype == "tool_result":
        call_id = _req_str(b, "tool_use_id", f"{path}.tool_use_id")
        is_error = b.get("is_error")
        if is_error is not None and not isinstance(is_error, bool):
            raise _fail(f"{path}.is_error: expected a boolean", f"{path}.is_error")
        return [ir.ToolResultBlock(tool_call_id=call_id,
                                   content=_result_content(b.get("content"), f"{path}.content"),
                                   is_error=bool(is_error), name=tool_names.get(call_id),
                                   cache_control=_cache_control(b, path))]
    if btype == "thinking":
        text = _req_str(b, "thinking", f"{path}.thinking")
        return [ir.ThinkingBlock(text=text, signature=_opt_str(b, "signature", f"{path}.signature") or None)]
    if btype == "redacted_thinking":
        return [ir.ThinkingBlock(redacted_data=_req_str(b, "data", f"{path}.data"))]
    if btype == "document":
        return list(_document(b, path))
    if _is_server_block(btype):
        return []
    raise _fail(f"{path}.type: unsupported content block type {btype!r}", f"{path}.type")


def _messages(value: Any) -> list[ir.Message]:
    if value is None:
        raise _fail("messages: field required", "messages")
    items = _list(value, "messages")
    if not items:
        raise _fail("messages: at least one message is required", "messages")
    tool_names: dict[str, str] = {}
    out: list[ir.Message] = []
    for i, item in enumerate(items):
        path = f"messages.{i}"
        m = _dict(item, path)
        role = m.get("role")
        if role not in ("user", "assistant"):
            raise _fail(f"{path}.role: expected 'user' or 'assistant'", f"{path}.role")
        content = m.get("content")
        blocks: list[ir.Block] = []
        if isinstance(content, str):
            blocks.append(ir.TextBlock(text=content))
        elif isinstance(content, list):
            for j, block in enumerate(content):
                bpath = f"{path}.content.{j}"
                b, btype = _block_type(block, bpath)
                blocks.extend(_content_block(b, btype, bpath, tool_names))
        else:
            raise _fail(f"{path}.content: expected a string or an array of content blocks", f"{path}.content")
        out.append(ir.Message(role=role, content=blocks))
    return out


# --------------------------------------------------------------------------- request-level fields


def _system(value: Any) -> list[ir.TextBlock]:
    if value is None:
        return []
    if isinstance(value, str):
        return [ir.TextBlock(text=value)] if value else []
    out: list[ir.TextBlock] = []
    for i, block in enumerate(_list(value, "system")):
        path = f"system.{i}"
        b, btype = _block_type(block, path)
        if btype != "text":
            raise _fail(f"{path}.type: system blocks must be 'text'", f"{path}.type")
        out.append(_text(b, path))
    return out


def _tools(value: Any) -> tuple[list[ir.Tool], set[str]]:
    """Custom tools -> IR tools; also returns the names of the skipped server tools."""
    if value is None:
        return [], set()
    tools: list[ir.Tool] = []
    skipped: set[str] = set()
    for i, item in enumerate(_list(value, "tools")):
        path = f"tools.{i}"
        t = _dict(item, path)
        ttype = t.get("type")
        name = _req_str(t, "name", f"{path}.name")
        if ttype not in (None, "custom"):
            skipped.add(name)
            continue
        description = _opt_str(t, "description", f"{path}.description")
        cache_control = _cache_control(t, path)
        schema = t.get("input_schema")
        if schema is None:
            tools.append(ir.Tool(name=name, description=description, cache_control=cache_control))
        else:
            tools.append(ir.Tool(name=name, description=description, cache_control=cache_control,
                                 parameters=_dict(schema, f"{path}.input_schema")))
    return tools, skipped


def _tool_choice(value: Any, skipped: set[str]) -> ir.ToolChoice | None:
    if value is None:
        return None
    tc = _dict(value, "tool_choice")
    ctype = tc.get("type")
    disable = tc.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise _fail("tool_choice.disable_parallel_tool_use: expected a boolean",
                    "tool_choice.disable_parallel_tool_use")
    parallel = bool(disable)
    if ctype == "auto":
        return ir.ToolChoice(mode="auto", disable_parallel=parallel)
    if ctype == "any":
        return ir.ToolChoice(mode="required", disable_parallel=parallel)
    if ctype == "none":
        return ir.ToolChoice(mode="none", disable_parallel=parallel)
    if ctype == "tool":
        name = _req_str(tc, "name", "tool_choice.name")
        if name in skipped:
            return ir.ToolChoice(mode="auto", disable_parallel=parallel)
        return ir.ToolChoice(mode="tool", name=name, disable_parallel=parallel)
    raise _fail("tool_choice.type: expected 'auto', 'any', 'tool' or 'none'", "tool_choice.type")


def _thinking(value: Any, output_config: dict[str, Any] | None) -> ir.Thinking | None:
    if value is None:
        return None
    th = _dict(value, "thinking")
    ttype = th.get("type")
    display = th.get("display")
    include = display != "omitted"
    if ttype == "enabled":
        budget = _int(th, "budget_tokens", "thinking.budget_tokens")
        if budget is None:
            raise _fail("thinking.budget_tokens: field required", "thinking.budget_tokens")
        return ir.Thinking(enabled=True, budget_tokens=budget, include_thoughts=include)
    if ttype == "disabled":
        return ir.Thinking(enabled=False)
    if ttype == "adaptive":
        effort = output_config.get("effort") if output_config else None
        return ir.Thinking(enabled=True, effort=effort if isinstance(effort, str) else None,
                           include_thoughts=include)
    raise _fail("thinking.type: expected 'enabled', 'disabled' or 'adaptive'", "thinking.type")


def _response_format(output_config: dict[str, Any] | None) -> ir.ResponseFormat | None:
    fmt = output_config.get("format") if output_config else None
    if fmt is None:
        return None
    f = _dict(fmt, "output_config.format")
    if f.get("type") != "json_schema":
        raise _fail("output_config.format.type: expected 'json_schema'", "output_config.format.type")
    return ir.ResponseFormat(type="json_schema", schema=_dict(f.get("schema"), "output_config.format.schema"))


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    items = _list(value, "stop_sequences")
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise _fail(f"stop_sequences.{i}: expected a string", f"stop_sequences.{i}")
    return list(items)


def parse_request(body: bytes, *, model: str | None = None, stream: bool | None = None) -> ir.Request:
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _fail(f"request body is not valid JSON: {exc}", None) from None
    if not isinstance(data, dict):
        raise _fail("request body must be a JSON object", None)
    d: dict[str, Any] = data

    model_name = model if model is not None else _req_str(d, "model", "model")
    max_tokens = _int(d, "max_tokens", "max_tokens")
    if max_tokens is None:
        raise _fail("max_tokens: field required", "max_tokens")
    if max_tokens < 1:
        raise _fail("max_tokens: must be at least 1", "max_tokens")
    raw_stream = d.get("stream")
    if raw_stream is not None and not isinstance(raw_stream, bool):
        raise _fail("stream: expected a boolean", "stream")
    output_config = d.get("output_config")
    if output_config is not None:
        output_config = _dict(output_config, "output_config")
    metadata = d.get("metadata")
    user = None
    if metadata is not None:
        user = _opt_str(_dict(metadata, "metadata"), "user_id", "metadata.user_id")

    tools, skipped = _tools(d.get("tools"))
    return ir.Request(
        model=model_name,
        messages=_messages(d.get("messages")),
        system=_system(d.get("system")),
        tools=tools,
        tool_choice=_tool_choice(d.get("tool_choice"), skipped),
        max_tokens=max_tokens,
        temperature=_num(d, "temperature", "temperature"),
        top_p=_num(d, "top_p", "top_p"),
        top_k=_int(d, "top_k", "top_k"),
        stop=_stop(d.get("stop_sequences")),
        stream=stream if stream is not None else bool(raw_stream),
        response_format=_response_format(output_config),
        thinking=_thinking(d.get("thinking"), output_config),
        user=user,
    )
