"""Local token counting with the offline OpenAI vocabularies from ``bpe-openai``.

Used where no upstream reports a count: the demo channel, ``count_tokens`` on non-Anthropic
channels, and (later) reservations and streams that break before their usage arrives.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from app.relay.protocols import ir

if TYPE_CHECKING:
    from bpe_openai import Encoding

#: Rough per-message framing overhead of chat formats (role markers, separators).
MESSAGE_OVERHEAD = 4


@cache
def _encoding() -> Encoding:
    # Imported on first use: the package and its vocabulary take ~140 MB, and the request path
    # only needs them when a bound is not good enough (see bound_request).
    import bpe_openai

    return bpe_openai.get_encoding("o200k_base")


def count_text(text: str) -> int:
    return len(_encoding().encode(text)) if text else 0


def _block_text(block: ir.Block) -> str:
    if isinstance(block, ir.TextBlock):
        return block.text
    if isinstance(block, ir.ToolCallBlock):
        return block.name + block.arguments
    if isinstance(block, ir.ToolResultBlock):
        return "".join(b.text for b in block.content if isinstance(b, ir.TextBlock))
    if isinstance(block, ir.ThinkingBlock):
        return block.text
    return ""


#: Images are billed by providers by size; without decoding them, count a typical tile.
IMAGE_TOKENS = 765


def count_request(request: ir.Request) -> int:
    """Estimated input tokens of a request (text, tool calls/results, tool schemas, images)."""
    total = sum(count_text(b.text) for b in request.system)
    for message in request.messages:
        total += MESSAGE_OVERHEAD
        for block in message.content:
            total += IMAGE_TOKENS if isinstance(block, ir.ImageBlock) else count_text(_block_text(block))
    for tool in request.tools:
        total += count_text(tool.name) + count_text(tool.description or "")
        total += count_text(str(tool.parameters))
    return total


def bound_request(request: ir.Request | None, body: bytes) -> int:
    """An upper bound of :func:`count_request` without the tokenizer, for holds. A byte-level BPE
    token covers at least one byte of text, and the client's body holds every text byte (JSON
    escaping only adds some) plus more framing than the per-message overhead; images are counted
    as in ``count_request``. (Tool schemas are counted there in Python's spelling, which can be a
    few characters longer than minified JSON: a bound for holds, not an exact science.)"""
    images = 0
    if request is not None:
        images = sum(isinstance(b, ir.ImageBlock) for m in request.messages for b in m.content)
    return len(body) + images * IMAGE_TOKENS


def rough_request(body: bytes) -> int:
    """A tokenizer-free estimate of a request's input tokens (about four bytes a token, as
    providers' own rate limiters estimate before the real count is known)."""
    return len(body) // 4
