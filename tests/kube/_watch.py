"""Watches on the fake API: the events since a resourceVersion (410 when it is too old) or the
current objects as ADDED, sendInitialEvents bookmarks, then live changes translated for the
watch's selector (objects moving in and out of view), until timeoutSeconds or the API stops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.kube import _discovery
from tests.kube._resources import Resource
from tests.kube._store import ApiError, Change, Store


class Watches:
    """The open watches of one fake API, fed from the store's changes."""

    def __init__(self, store: Store, stopping: asyncio.Event) -> None:
        self.store = store
        self.stopping = stopping
        self.watchers: list[tuple[str, str, asyncio.Queue[Change | None]]] = []

    def notify(self, change: Change, loop: asyncio.AbstractEventLoop) -> None:
        """From any thread: hand the change to each watch of its resource."""
        for group, plural, queue in self.watchers:
            if (group, plural) == (change.group, change.plural):
                loop.call_soon_threadsafe(queue.put_nowait, change)

    def stop(self) -> None:
        """On the server's loop: end every watch now (None wakes each one)."""
        for _, _, queue in self.watchers:
            queue.put_nowait(None)

    async def serve(
        self,
        request: web.Request,
        res: Resource,
        namespace: str | None,
        select: Callable[[dict[str, Any]], bool],
    ) -> web.StreamResponse:
        """A watch of `res` (in `namespace`, or everywhere for None) for objects `select`
        accepts, from the request's resourceVersion (or the current objects as ADDED)."""
        q = request.query

        def matches(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            if namespace is not None and obj["metadata"].get("namespace") != namespace:
                return False
            return select(obj)

        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        entry = (res.group, res.plural, queue)
        rv_raw = q.get("resourceVersion", "")
        initial = q.get("sendInitialEvents") == "true"
        events: list[dict[str, Any]] = []
        with self.store.lock:
            self.watchers.append(entry)
            if rv_raw in ("", "0") or initial:
                items, _ = self.store.list(res, namespace, select)
                events = [{"type": "ADDED", "object": o} for o in items]
            else:
                try:
                    since = int(rv_raw)
                except ValueError:
                    raise ApiError(
                        400, "BadRequest", f"invalid resourceVersion {rv_raw!r}"
                    ) from None
                history = self.store.history
                if history and since < history[0].rv - 1:
                    events = [
                        {
                            "type": "ERROR",
                            "object": ApiError(
                                410,
                                "Expired",
                                f"too old resource version: {since} ({history[0].rv})",
                            ).status(),
                        }
                    ]
                else:
                    for change in history:
                        if change.rv > since and (change.group, change.plural) == (
                            res.group,
                            res.plural,
                        ):
                            queue.put_nowait(change)
            current = self.store.rv
        table = "as=Table" in request.headers.get("Accept", "")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            timeout = float(q.get("timeoutSeconds") or 1800)
            deadline = asyncio.get_running_loop().time() + timeout
            for event in events:
                await self._send(response, res, event, table)
            if events and events[0]["type"] == "ERROR":
                return response
            if initial and q.get("allowWatchBookmarks") == "true":
                mark = {
                    "kind": res.kind,
                    "apiVersion": res.group_version,
                    "metadata": {
                        "resourceVersion": str(current),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                }
                await self._send(response, res, {"type": "BOOKMARK", "object": mark}, False)
            loop = asyncio.get_running_loop()
            while not self.stopping.is_set() and loop.time() < deadline:
                try:
                    change = await asyncio.wait_for(queue.get(), min(1.0, deadline - loop.time()))
                except TimeoutError:
                    if request.transport is None or request.transport.is_closing():
                        break
                    continue
                if change is None:
                    break
                kind = _translate(change, matches)
                if kind is not None:
                    await self._send(response, res, {"type": kind, "object": change.new}, table)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.remove(entry)
        return response

    async def _send(
        self, response: web.StreamResponse, res: Resource, event: dict[str, Any], table: bool
    ) -> None:
        if table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            event = {
                **event,
                "object": _discovery.table(
                    res, [event["object"]], self.store.now(), False, self.store.rv
                ),
            }
        await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")


def _translate(change: Change, matches: Callable[[dict[str, Any] | None], bool]) -> str | None:
    """The event type a selective watch sees for a change (objects move in and out of view)."""
    if change.type == "DELETED":
        return "DELETED" if matches(change.old) else None
    before, after = matches(change.old), matches(change.new)
    if after:
        return "MODIFIED" if before else "ADDED"
    return "DELETED" if before else None
