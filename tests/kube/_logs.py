"""Container logs as the kubelet records them, served at pods/NAME/log (follow, tailLines,
limitBytes, the container choice rules of the real API)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from tests.kube._store import ApiError

LogKey = tuple[str, str, str]
"""(namespace, pod, container)"""


class Logs:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: dict[LogKey, bytearray] = {}
        self.closed: set[LogKey] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiters: dict[LogKey, list[asyncio.Event]] = {}

    def write(self, namespace: str, pod: str, container: str, chunk: bytes) -> None:
        """Append output (thread-safe; the kubelet calls this)."""
        key = (namespace, pod, container)
        with self.lock:
            self.data.setdefault(key, bytearray()).extend(chunk)
        self._wake(key)

    def close(self, namespace: str, pod: str, container: str) -> None:
        """The container exited: followers get EOF."""
        key = (namespace, pod, container)
        with self.lock:
            self.data.setdefault(key, bytearray())
            self.closed.add(key)
        self._wake(key)

    def text(self, namespace: str, pod: str, container: str) -> str:
        with self.lock:
            return bytes(self.data.get((namespace, pod, container), b"")).decode(errors="replace")

    def _wake(self, key: LogKey) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        for event in self.waiters.get(key, []):
            loop.call_soon_threadsafe(event.set)

    async def serve(self, request: web.Request, pod: dict[str, Any], q: Any) -> web.StreamResponse:
        meta, spec = pod["metadata"], pod.get("spec", {})
        name, ns = meta["name"], meta.get("namespace", "")
        main = [c["name"] for c in spec.get("containers", [])]
        init = [c["name"] for c in spec.get("initContainers", [])]
        container = q.get("container") or (meta.get("annotations") or {}).get(
            "kubectl.kubernetes.io/default-container"
        )
        if not container:
            if len(main) != 1:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod "
                    f"{name}, choose one of: [{' '.join(main)}] or one of the init "
                    f"containers: [{' '.join(init)}]",
                )
            container = main[0]
        if container not in main + init:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        key = (ns, name, container)
        with self.lock:
            started = key in self.data
        if not started:
            raise ApiError(
                400,
                "BadRequest",
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating',
            )
        if q.get("follow") != "true":
            return web.Response(body=self._cut(key, q), content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        event = asyncio.Event()
        self.waiters.setdefault(key, []).append(event)
        sent = 0
        try:
            first = self._cut(key, q)
            with self.lock:
                sent = len(self.data[key])
            await response.write(first)
            while True:
                with self.lock:
                    chunk = bytes(self.data[key][sent:])
                    done = key in self.closed
                if chunk:
                    sent += len(chunk)
                    await response.write(chunk)
                if done:
                    break
                event.clear()
                try:
                    await asyncio.wait_for(event.wait(), 1.0)
                except TimeoutError:
                    if request.transport is None or request.transport.is_closing():
                        break
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.waiters[key].remove(event)
        return response

    def _cut(self, key: LogKey, q: Any) -> bytes:
        with self.lock:
            data = bytes(self.data.get(key, b""))
        tail = q.get("tailLines")
        if tail is not None:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-int(tail) :]) if int(tail) > 0 else b""
        limit = q.get("limitBytes")
        if limit is not None:
            data = data[: int(limit)]
        return data
