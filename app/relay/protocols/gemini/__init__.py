"""Google Gemini generateContent protocol: ``codec`` converts it to and from the IR."""

from __future__ import annotations

from app.relay.protocols.base import Codec
from app.relay.protocols.gemini.codec import GeminiCodec

codec: Codec = GeminiCodec()

__all__ = ["GeminiCodec", "codec"]
