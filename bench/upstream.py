"""A minimal, fast fake provider for the benchmark: a raw asyncio HTTP/1.1 server (uvloop + the
httptools parser), no framework, fixed answers.

  POST /v1/chat/completions                    OpenAI: fixed JSON with usage, or an SSE stream
  POST /v1/messages                            Anthropic: fixed JSON with usage
  POST /v1beta/models/{m}:generateContent      Gemini: fixed JSON with usageMetadata (also /v1/)

An OpenAI stream sends ``--chunks`` content chunks, one every ``--interval-ms`` (0: back to back,
each its own write), then a finish chunk, a usage chunk and ``data: [DONE]``. A request can override
both through its model name: ``...-c100-i20`` means 100 chunks every 20 ms (the relay passes the
model name through, so one upstream serves every scenario).

    python -m bench.upstream --port 9100 --chunks 20 --interval-ms 0
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time

import httptools
import uvloop

_MODEL = re.compile(rb'"model"\s*:\s*"([^"]*)"')
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_CHUNKS = re.compile(rb"-c(\d+)")
_INTERVAL = re.compile(rb"-i(\d+)")

OPENAI_JSON = (b'{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench",'
               b'"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the bench upstream."},'
               b'"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}')
ANTHROPIC_JSON = (b'{"id":"msg_bench","type":"message","role":"assistant","model":"bench","content":'
                  b'[{"type":"text","text":"Hello from the bench upstream."}],"stop_reason":"end_turn",'
                  b'"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":8}}')
GEMINI_JSON = (b'{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello from the bench upstream."}]},'
               b'"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":12,'
               b'"candidatesTokenCount":8,"totalTokenCount":20},"modelVersion":"bench"}')

_CHUNK = b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench",' \
         b'"choices":[{"index":0,"delta":{"content":"tok "},"finish_reason":null}]}\n\n'
_FIRST = b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench",' \
         b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'


def _tail(chunks: int) -> bytes:
    return (b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench",'
            b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
            b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench",'
            b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":%d,"total_tokens":%d}}\n\n'
            b"data: [DONE]\n\n" % (chunks, chunks + 12))


def _frame(data: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _json_response(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body))


_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
_SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
             b"transfer-encoding: chunked\r\n\r\n")


class Upstream(asyncio.Protocol):
    """One connection. Requests are answered in order; one that arrives while a stream is still
    being sent waits for it (HTTP/1.1 without pipelining in practice)."""

    def __init__(self, chunks: int, interval_ms: int) -> None:
        self.chunks, self.interval = chunks, interval_ms / 1000
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.pending: list[tuple[bytes, bytes]] = []
        self.streaming = False

    # ------------------------------------------------------------ transport / parser callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        request = (self.url, b"".join(self.body))
        self.url, self.body = b"", []
        if self.streaming:
            self.pending.append(request)
        else:
            self.answer(*request)

    # ------------------------------------------------------------ answers
    def answer(self, url: bytes, body: bytes) -> None:
        if self.transport is None:
            return
        if url.endswith(b"/chat/completions"):
            if _STREAM.search(body):
                self.stream(body)
                return
            self.transport.write(_json_response(OPENAI_JSON))
        elif url.endswith(b"/messages"):
            self.transport.write(_json_response(ANTHROPIC_JSON))
        elif b":generateContent" in url:
            self.transport.write(_json_response(GEMINI_JSON))
        else:
            self.transport.write(_NOT_FOUND)

    def stream(self, body: bytes) -> None:
        chunks, interval = self.chunks, self.interval
        model = _MODEL.search(body)
        if model:
            if m := _CHUNKS.search(model.group(1)):
                chunks = int(m.group(1))
            if m := _INTERVAL.search(model.group(1)):
                interval = int(m.group(1)) / 1000
        self.streaming = True
        self.transport.write(_SSE_HEAD + _frame(_FIRST))
        if interval <= 0:
            for _ in range(chunks):
                self.transport.write(_frame(_CHUNK))
            self.finish(chunks)
            return
        loop = asyncio.get_running_loop()
        start = loop.time()

        def tick(sent: int) -> None:
            if self.transport is None:
                return
            self.transport.write(_frame(_CHUNK))
            sent += 1
            if sent >= chunks:
                self.finish(chunks)
            else:  # scheduled against the start, so timer lateness does not accumulate
                loop.call_at(start + (sent + 1) * interval, tick, sent)

        if chunks:
            loop.call_at(start + interval, tick, 0)
        else:
            self.finish(0)

    def finish(self, chunks: int) -> None:
        if self.transport is None:
            return
        self.transport.write(_frame(_tail(chunks)) + b"0\r\n\r\n")
        self.streaming = False
        while self.pending and not self.streaming:
            self.answer(*self.pending.pop(0))


async def serve(host: str, port: int, chunks: int, interval_ms: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Upstream(chunks, interval_ms), host, port, backlog=4096,
                                      reuse_address=True)
    print(f"bench upstream on http://{host}:{port} (chunks={chunks}, interval={interval_ms} ms)", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per OpenAI stream")
    parser.add_argument("--interval-ms", type=int, default=0, help="delay between chunks (0: back to back)")
    parser.add_argument("--max-seconds", type=float, default=3600, help="exit after this long, whatever happens")
    args = parser.parse_args()

    async def bounded() -> None:
        try:
            await asyncio.wait_for(serve(args.host, args.port, args.chunks, args.interval_ms), args.max_seconds)
        except TimeoutError:
            pass

    started = time.monotonic()
    uvloop.run(bounded())
    print(f"bench upstream stopped after {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
