"""Wire protocols (OpenAI, Anthropic, Gemini) and the IR that connects them."""

from __future__ import annotations

from app.relay.protocols import ir
from app.relay.protocols.anthropic import codec as anthropic_codec
from app.relay.protocols.base import Codec, ProtocolError
from app.relay.protocols.gemini import codec as gemini_codec
from app.relay.protocols.openai import codec as openai_codec

CODECS: dict[str, Codec] = {"openai": openai_codec, "anthropic": anthropic_codec, "gemini": gemini_codec}

__all__ = ["CODECS", "Codec", "ProtocolError", "ir"]
