"""Gemini ``Part`` objects <-> IR content blocks, shared by requests and whole responses.

Thought signatures: Gemini puts ``thoughtSignature`` on any part. On a ``functionCall`` part it
becomes ``ToolCallBlock.signature``; on a thought part, that ThinkingBlock's signature. On a plain
text (or media) part, which has no signature slot in the IR, it is attached to the ThinkingBlock
just before it (when that one has no signature yet) or carried by an empty ``ThinkingBlock("",
signature)`` inserted before the block. :func:`write_parts` reverses that: a signed ThinkingBlock
directly followed by text or media moves its signature onto that part, so the round trip is exact.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from app.relay.protocols import ir
from app.relay.protocols.base import ProtocolError
from app.relay.protocols.gemini.wire import DUMMY_SIGNATURES, decode, dumps, expect, field

#: Part fields with no IR counterpart: dropped silently.
_IGNORED_PARTS = ("executableCode", "codeExecutionResult", "videoMetadata", "toolCall", "toolResponse")


class PartReader:
    """Turns Gemini parts into IR blocks, keeping tool-call ids consistent across a conversation.

    ``new_id`` makes ids for calls sent without one; ``functionResponse`` parts without an id are
    paired with the earliest unanswered call of the same name.
    """

    def __init__(self, new_id: Callable[[set[str]], str]) -> None:
        self._new_id = new_id
        self._used: set[str] = set()
        self._pending: list[tuple[str, str]] = []  # unanswered calls: (id, name), in order

    def read(self, parts: Any, path: str) -> list[ir.Block]:
        expect(parts, list, path, "an array of parts")
        blocks: list[ir.Block] = []
        for j, part in enumerate(parts):
            self._read_part(part, f"{path}[{j}]", blocks)
        return blocks

    # ------------------------------------------------------------------ one part

    def _read_part(self, part: Any, path: str, blocks: list[ir.Block]) -> None:
        expect(part, dict, path, "an object")
        sig = field(part, "thoughtSignature")
        if sig is not None:
            expect(sig, str, f"{path}.thoughtSignature", "a string")
            if sig in DUMMY_SIGNATURES:
                sig = None
        text = part.get("text")
        if text is not None:
            expect(text, str, f"{path}.text", "a string")
            thought = part.get("thought")
            if thought is not None:
                expect(thought, bool, f"{path}.thought", "a boolean")
            if thought:
                blocks.append(ir.ThinkingBlock(text=text, signature=sig))
                return
            if sig:
                attach_signature(blocks, sig)
            blocks.append(ir.TextBlock(text=text))
            return
        if (call := field(part, "functionCall")) is not None:
            blocks.append(self._call(call, f"{path}.functionCall", sig))
            return
        if sig:
            attach_signature(blocks, sig)
        if (resp := field(part, "functionResponse")) is not None:
            blocks.append(self._result(resp, f"{path}.functionResponse"))
        elif (media := read_media(part, path)) is not None:
            blocks.append(media)
        elif not sig and part.get("thought") is None and not any(field(part, k) is not None
                                                                 for k in _IGNORED_PARTS):
            raise ProtocolError(f"{path} has no supported data (text, inlineData, fileData, "
                                "functionCall or functionResponse)", param=path)

    def _call(self, call: Any, path: str, sig: str | None) -> ir.ToolCallBlock:
        expect(call, dict, path, "an object")
        name = expect(call.get("name"), str, f"{path}.name", "a string")
        args = call.get("args")
        if args is None:
            args = {}
        expect(args, dict, f"{path}.args", "an object")
        call_id = call.get("id")
        if call_id is not None:
            expect(call_id, str, f"{path}.id", "a string")
        if not call_id:
            call_id = self._new_id(self._used)
        self._used.add(call_id)
        self._pending.append((call_id, name))
        return ir.ToolCallBlock(id=call_id, name=name, arguments=dumps(args), signature=sig)

    def _result(self, resp: Any, path: str) -> ir.ToolResultBlock:
        expect(resp, dict, path, "an object")
        name = expect(resp.get("name"), str, f"{path}.name", "a string")
        call_id = resp.get("id")
        if call_id is not None:
            expect(call_id, str, f"{path}.id", "a string")
        if call_id:
            self._pending = [p for p in self._pending if p[0] != call_id]
        else:
            call_id = self._match(name)
        self._used.add(call_id)
        response = resp.get("response")
        content: list[ir.TextBlock | ir.ImageBlock] = [
            ir.TextBlock(text=dumps(response if response is not None else {}))]
        extra = resp.get("parts")
        if extra is not None:  # Gemini 3 multimodal function responses
            expect(extra, list, f"{path}.parts", "an array")
            for k, sub in enumerate(extra):
                expect(sub, dict, f"{path}.parts[{k}]", "an object")
                if (media := read_media(sub, f"{path}.parts[{k}]")) is not None:
                    content.append(media)
        return ir.ToolResultBlock(tool_call_id=call_id, content=content, name=name)

    def _match(self, name: str) -> str:
        for k, (pid, pname) in enumerate(self._pending):
            if pname == name:
                del self._pending[k]
                return pid
        return self._new_id(self._used)


def attach_signature(blocks: list[ir.Block], sig: str) -> None:
    """Give ``sig`` to the unsigned ThinkingBlock ending ``blocks``, or add a signature carrier."""
    last = blocks[-1] if blocks else None
    if isinstance(last, ir.ThinkingBlock) and last.signature is None and last.redacted_data is None:
        last.signature = sig
    else:
        blocks.append(ir.ThinkingBlock(text="", signature=sig))


def read_media(part: dict[str, Any], path: str) -> ir.ImageBlock | None:
    """``inlineData`` -> base64 ImageBlock, ``fileData`` -> URL ImageBlock, else None."""
    if (inline := field(part, "inlineData")) is not None:
        expect(inline, dict, f"{path}.inlineData", "an object")
        data = expect(inline.get("data"), str, f"{path}.inlineData.data", "a base64 string")
        mime = field(inline, "mimeType")
        if mime is not None:
            expect(mime, str, f"{path}.inlineData.mimeType", "a string")
        return ir.ImageBlock(data=data, media_type=mime)
    if (file := field(part, "fileData")) is not None:
        expect(file, dict, f"{path}.fileData", "an object")
        uri = expect(field(file, "fileUri"), str, f"{path}.fileData.fileUri", "a string")
        mime = field(file, "mimeType")
        if mime is not None:
            expect(mime, str, f"{path}.fileData.mimeType", "a string")
        return ir.ImageBlock(url=uri, media_type=mime)
    return None


# --------------------------------------------------------------------------- IR -> parts


def write_parts(blocks: list[ir.Block], *, names: dict[str, str] | None = None,
                ids: bool = True) -> list[dict[str, Any]]:
    """IR blocks -> Gemini parts (see the module docstring for signatures).

    ``names`` maps tool-call ids to names, for ToolResultBlocks that lack ``name``. ``ids``: put
    ``id`` on functionCall / functionResponse. Responses to clients carry them (google-genai and
    ADK pair calls by id); upstream requests do not, because some Gemini API versions reject the
    field ("Unknown name \"id\"") while pairing by name and order always works.
    """
    parts: list[dict[str, Any]] = []
    carry: str | None = None  # signature moving onto the next text/media part
    for k, block in enumerate(blocks):
        if isinstance(block, ir.ThinkingBlock):
            if _dropped(block):
                continue
            nxt = next((b for b in blocks[k + 1:] if not _dropped(b)), None)
            if isinstance(nxt, ir.TextBlock | ir.ImageBlock):
                if block.text:
                    parts.append({"text": block.text, "thought": True})
                carry = block.signature
            else:
                parts.append({"text": block.text, "thought": True, "thoughtSignature": block.signature})
            continue
        if isinstance(block, ir.TextBlock):
            part: dict[str, Any] = {"text": block.text}
        elif isinstance(block, ir.ImageBlock):
            part = media_part(block)
        elif isinstance(block, ir.ToolCallBlock):
            part = {"functionCall": call_object(block, ids=ids)}
            if block.signature:
                part["thoughtSignature"] = block.signature
        else:
            parts.extend(result_parts(block, names or {}, ids=ids))
            continue
        if carry is not None:
            part["thoughtSignature"] = carry
            carry = None
        parts.append(part)
    return parts


def _dropped(block: ir.Block) -> bool:
    """Unsigned or Anthropic-redacted thinking: nothing Gemini could verify, so not sent."""
    return isinstance(block, ir.ThinkingBlock) and (not block.signature or block.redacted_data is not None)


def call_object(block: ir.ToolCallBlock, *, ids: bool = True) -> dict[str, Any]:
    call: dict[str, Any] = {"id": block.id} if ids else {}
    call["name"] = block.name
    call["args"] = arguments_object(block.arguments)
    return call


def arguments_object(arguments: str) -> dict[str, Any]:
    """IR argument JSON text -> the ``args`` object ({} when empty or not valid JSON)."""
    if not arguments.strip():
        return {}
    try:
        value = decode(arguments, "tool arguments")
    except ProtocolError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def result_parts(block: ir.ToolResultBlock, names: dict[str, str], *,
                 ids: bool = True) -> list[dict[str, Any]]:
    """A tool result -> a ``functionResponse`` part (+ media parts for images in the result).

    The response object is the result text when that is a JSON object, else ``{"result": text}``
    (``{"error": text}`` for an error result).
    """
    text = "\n".join(b.text for b in block.content if isinstance(b, ir.TextBlock))
    response: Any = None
    if text.lstrip().startswith("{"):
        try:
            response = decode(text, "tool result")
        except ProtocolError:
            response = None
    if not isinstance(response, dict):
        response = {"error" if block.is_error else "result": text}
    name = block.name or names.get(block.tool_call_id) or block.tool_call_id
    function_response: dict[str, Any] = {"id": block.tool_call_id} if ids else {}
    function_response["name"] = name
    function_response["response"] = response
    out: list[dict[str, Any]] = [{"functionResponse": function_response}]
    out.extend(media_part(b) for b in block.content if isinstance(b, ir.ImageBlock))
    return out


def media_part(block: ir.ImageBlock) -> dict[str, Any]:
    """base64 or ``data:`` URL -> inlineData; other URLs -> fileData (mimeType guessed)."""
    if block.data is not None:
        return {"inlineData": {"mimeType": block.media_type or "image/jpeg", "data": block.data}}
    url = block.url or ""
    if url.startswith("data:"):
        mime, data = split_data_url(url)
        return {"inlineData": {"mimeType": block.media_type or mime, "data": data}}
    return {"fileData": {"mimeType": block.media_type or guess_mime(url), "fileUri": url}}


def split_data_url(url: str) -> tuple[str, str]:
    """``data:<mime>[;base64],<payload>`` -> (mime, base64 payload)."""
    header, _, payload = url[5:].partition(",")
    params = header.split(";")
    mime = params[0] or "text/plain"
    if "base64" in params[1:]:
        return mime, payload
    return mime, base64.b64encode(unquote_to_bytes(payload)).decode()


def guess_mime(url: str) -> str:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or "image/jpeg"
