"""The recorded provider fixtures in ../shared/fixtures/recorded, as test cases."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "recorded"


@dataclass(frozen=True)
class Recorded:
    relpath: str  # "openai/chat_stream_tool_calls.sse"
    kind: str  # provider: openai | anthropic | gemini
    endpoint: str  # "POST https://.../v1/chat/completions"
    status: int

    @property
    def path(self) -> Path:
        return ROOT / self.relpath

    @property
    def body(self) -> bytes:
        return self.path.read_bytes()

    @property
    def is_sse(self) -> bool:
        return self.relpath.endswith(".sse")

    @property
    def is_error(self) -> bool:
        return self.status >= 400

    @property
    def request_body(self) -> bytes | None:
        req = self.path.with_name(self.path.name.rsplit(".", 1)[0] + ".request.json")
        return req.read_bytes() if req.exists() else None

    @property
    def operation(self) -> str:
        """chat (messages/generateContent too), responses or embeddings."""
        url = self.endpoint.split(" ", 1)[1]
        if url.split("?")[0].endswith("/responses"):
            return "responses"
        if url.split("?")[0].endswith("/embeddings"):
            return "embeddings"
        return "chat"

    @property
    def gemini_model(self) -> str:
        return self.endpoint.rsplit("/models/", 1)[1].split(":")[0]

    @property
    def model(self) -> str:
        if self.kind == "gemini":
            return self.gemini_model
        return json.loads(self.request_body or b"{}")["model"]

    @property
    def id(self) -> str:
        return self.relpath


def all_recorded() -> list[Recorded]:
    with (ROOT / "SOURCES.tsv").open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [Recorded(relpath=r["file"], kind=r["file"].split("/")[0], endpoint=r["endpoint"],
                     status=int(r["http_status"])) for r in rows]
