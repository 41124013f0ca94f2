"""Small adapters around the mcp SDK's transports.

- `watched` wraps a transport so that the end of its read stream (a stdio server that exited,
  a dropped connection) sets an event: the supervisor's cue to restart.
- `StderrPipe` is a stdio server's stderr: each line goes to the bridge's log (secrets
  scrubbed), and the last lines explain a server that failed to start or crashed.
- `streamable_http` is the streamable HTTP transport with the configured headers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread
from mcp.client._transport import ReadStream, TransportStreams, WriteStream
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.message import SessionMessage

from mcp_bridge._config import Redactor

__all__ = ["StderrPipe", "TransportStreams", "streamable_http", "watched"]

_END = (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError)
TAIL_LINES = 5


class _WatchedRead:
    """A read stream that sets `ended` when it ends (it forwards everything else)."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], ended: anyio.Event) -> None:
        self._inner = inner
        self._ended = ended

    @property
    def last_context(self) -> Any:  # the dispatcher reads the sender's context from here
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        try:
            return await self._inner.receive()
        except _END:
            self._ended.set()
            raise

    def __aiter__(self) -> _WatchedRead:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._ended.set()
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedRead:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@contextlib.asynccontextmanager
async def watched(
    transport: contextlib.AbstractAsyncContextManager[TransportStreams], ended: anyio.Event
) -> AsyncGenerator[TransportStreams]:
    async with transport as (read, write):
        stream: ReadStream[SessionMessage | Exception] = _WatchedRead(read, ended)
        out: WriteStream[SessionMessage] = write
        yield stream, out


class StderrPipe:
    """A pipe for a child's stderr, drained by a thread into the log and a short tail."""

    def __init__(self, log: logging.Logger, redact: Redactor) -> None:
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "w")
        self._reader = os.fdopen(read_fd, "rb")
        self._log = log
        self._redact = redact
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._thread = threading.Thread(target=self._pump, daemon=True, name=f"stderr-{log.name}")
        self._thread.start()

    def _pump(self) -> None:
        try:
            for raw in self._reader:
                line = self._redact(raw.decode(errors="replace").rstrip())
                if line:
                    self._tail.append(line)
                    self._log.info("%s", line)
        except (OSError, ValueError):  # closed under us at shutdown
            pass
        finally:
            with contextlib.suppress(OSError):
                self._reader.close()

    def spawned(self) -> None:
        """The child holds its own copy of the write end now; drop ours so that the pump
        sees end-of-file when the child exits."""
        with contextlib.suppress(OSError):
            self.writer.close()

    async def finish(self) -> str:
        """The last lines the child wrote (waits briefly for the pump to catch up)."""
        self.spawned()
        await anyio.to_thread.run_sync(self._thread.join, 1.0)
        return " | ".join(self._tail)

    def close(self) -> None:
        self.spawned()


@contextlib.asynccontextmanager
async def streamable_http(url: str, headers: dict[str, str]) -> AsyncGenerator[TransportStreams]:
    """The streamable HTTP transport, with an HTTP client that carries `headers`."""
    async with (
        create_mcp_http_client(headers=headers or None) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams
