"""Run an ASGI app (a FakeProvider) with uvicorn on 127.0.0.1 in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn

_reserved: list[socket.socket] = []


def refused_url(host: str = "127.0.0.1") -> str:
    """A base URL whose port refuses connections.

    The port stays bound (but never listens) for the life of the process, so no other server can take
    it: connecting gets an immediate RST (ECONNREFUSED on Linux).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    _reserved.append(sock)
    return f"http://{host}:{sock.getsockname()[1]}"


class ProviderServer:
    """Serve ``app`` on ``host:port`` (port 0: a free one) from a daemon thread.

    ``start()`` returns once the port accepts connections; ``stop()`` interrupts stalled/slow responses of
    a FakeProvider, then shuts uvicorn down (bounded by ``shutdown_timeout``). Usable as a context manager.
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 2.0,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None

    @property
    def provider(self) -> Any:
        """The served app (a FakeProvider)."""
        return self.app

    @property
    def base_url(self) -> str:
        if self._sock is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "") -> str:
        return self.base_url + path

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> ProviderServer:
        if self._thread is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(1024)
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            log_level=None,
            access_log=False,
            server_header=False,
            ws="none",
            timeout_graceful_shutdown=self.shutdown_timeout,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"fake-provider:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"provider server failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"provider server did not start within {self.startup_timeout}s")
            time.sleep(0.002)
        with socket.create_connection((self.host, self.port), timeout=self.startup_timeout):
            pass
        return self

    def _run(self) -> None:
        assert self._server is not None
        try:
            with asyncio.Runner(loop_factory=self._server.config.get_loop_factory()) as runner:
                self._loop = runner.get_loop()
                runner.run(self._server.serve(sockets=[self._sock]))  # type: ignore[list-item]
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        interrupt = getattr(self.app, "interrupt", None)
        if callable(interrupt):
            interrupt()
        self._server.should_exit = True
        self._thread.join(self.shutdown_timeout + 1.0)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(2.0)
        if self._sock is not None:
            self._sock.close()
        self._thread = None
        self._server = None

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"http://{self.host}:{self.port}" if self.running else "stopped"
        return f"ProviderServer({self.app!r}, {state})"
