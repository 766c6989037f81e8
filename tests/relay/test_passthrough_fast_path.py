"""Passed-through streams skip SSE decoding for runs of whole events the usage sniffer ignores.
The shortcut must be invisible: same bytes out, same usage, same end, however the stream is cut."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from app.relay import transforms
from app.relay.protocols import CODECS
from app.relay.protocols.sse import SSEDecoder
from app.relay.transforms import PassthroughTransform
from tests.support.recorded import ROOT

STREAMS = sorted([*ROOT.glob("openai/chat_stream_*.sse"), *ROOT.glob("anthropic/messages_stream_*.sse")])


class _EveryEvent:
    """The same sniffer with the shortcut disabled (every event decoded)."""

    markers = None

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def feed(self, event: object) -> None:
        self._inner.feed(event)  # type: ignore[attr-defined]


def _event_cuts(data: bytes) -> list[bytes]:
    """The stream cut after every event (and a few events per cut), as servers usually send it."""
    events = data.replace(b"\r\n", b"\n").split(b"\n\n")
    whole = [e + b"\n\n" for e in events[:-1] if e]
    rng = random.Random(len(data))
    cuts, i = [], 0
    while i < len(whole):
        n = rng.choice((1, 1, 2, 3))
        cuts.append(b"".join(whole[i:i + n]))
        i += n
    return cuts


def _random_cuts(data: bytes) -> list[bytes]:
    rng = random.Random(7)
    cuts, i = [], 0
    while i < len(data):
        n = rng.randint(1, 80)
        cuts.append(data[i:i + n])
        i += n
    return cuts


def _run(path: Path, chunks: list[bytes], *, fast: bool, model: str | None, strip: bool) -> tuple:
    codec = CODECS[path.parent.name]
    sniffer = codec.usage_sniffer() if fast else _EveryEvent(codec.usage_sniffer())
    t = PassthroughTransform(sniffer, codec.emit_stream_error, public_model=model, strip_usage_chunk=strip,
                             codec=codec)
    out = b"".join(t.feed(c) for c in chunks) + t.finish()
    return out, t.usage, t.completed


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
@pytest.mark.parametrize("model", [None, "public-name"])
@pytest.mark.parametrize("cut", [_event_cuts, _random_cuts])
def test_the_fast_path_changes_nothing(path: Path, model: str | None, cut) -> None:  # type: ignore[no-untyped-def]
    strip = path.parent.name == "openai"
    chunks = cut(path.read_bytes())
    fast = _run(path, chunks, fast=True, model=model, strip=strip)
    slow = _run(path, chunks, fast=False, model=model, strip=strip)
    assert fast == slow
    assert fast[2] is True and fast[1] is not None
    events = SSEDecoder().feed(fast[0])
    if model is not None:
        assert all(b'"model":"public-name"' in e.data for e in events if b'"model"' in e.data)
    if strip:
        assert not any(b'"choices":[]' in e.data for e in events)


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_most_event_aligned_chunks_take_the_fast_path(path: Path) -> None:
    codec = CODECS[path.parent.name]
    t = PassthroughTransform(codec.usage_sniffer(), codec.emit_stream_error, public_model="public-name",
                             strip_usage_chunk=path.parent.name == "openai", codec=codec)
    taken = 0
    chunks = _event_cuts(path.read_bytes())
    for chunk in chunks:
        taken += t._ignorable_prefix(chunk) > 0
        t.feed(chunk)
    assert taken >= 1 and t.completed


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_text_of_a_broken_stream_is_the_same_when_its_wire_is_decoded_as_it_grows(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stream that breaks before its usage is billed on its generated text; long streams keep
    # that text rather than their wire (transforms.RAW_KEEP).
    def text_with(keep: int) -> str:
        monkeypatch.setattr(transforms, "RAW_KEEP", keep)
        codec = CODECS[path.parent.name]
        t = PassthroughTransform(codec.usage_sniffer(), codec.emit_stream_error, public_model=None,
                                 strip_usage_chunk=False, codec=codec)
        for chunk in _random_cuts(path.read_bytes()):
            t.feed(chunk)
        return t.generated_text()

    whole = text_with(10**9)
    assert whole  # these streams generate text or tool arguments
    assert text_with(64) == whole


@pytest.mark.parametrize("path", sorted(ROOT.glob("openai/chat_stream_*.sse")), ids=lambda p: p.stem)
def test_a_stream_read_at_once_skips_decoding_up_to_its_usage(path: Path) -> None:
    codec = CODECS["openai"]
    t = PassthroughTransform(codec.usage_sniffer(), codec.emit_stream_error, public_model=None,
                             strip_usage_chunk=True, codec=codec)
    data = path.read_bytes()
    assert 0 < t._ignorable_prefix(data) < data.index(b'"usage":{')
