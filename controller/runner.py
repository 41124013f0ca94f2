"""A small level-triggered runner shared by every kind the controller reconciles.

Each `Reconciler` names what it watches (`Watch`: a kind, a label selector, and how an
object maps to the keys it concerns) and reconciles one key at a time from what the API says
now. The runner lists each watched kind (queueing every key), then watches it; it keeps one
queue without duplicates, never runs one key twice at once (a key that changes while it runs
is run again after), honours `requeue after` answers, re-lists everything every `resync`
seconds, and retries failures with backoff. Adding a kind (AgentSchedule, MCPServer) is one
more `Reconciler` handed to the same runner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import Histogram

from controller.kube import Kube

__all__ = ["Key", "Reconciler", "Runner", "Watch"]

log = logging.getLogger("podium.controller")
RECONCILE_SECONDS = Histogram(
    "podium_reconcile_seconds",
    "Time one reconcile took, by kind",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@dataclass(frozen=True, order=True)
class Key:
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Watch:
    kind: str
    to_keys: Callable[[dict[str, Any]], list[Key]]
    labels: dict[str, str] = field(default_factory=lambda: {})


class Reconciler(Protocol):
    kind: str

    def watches(self) -> Sequence[Watch]: ...

    async def reconcile(self, key: Key) -> float | None:
        """Make the world match the object at `key`; seconds until it should run again."""
        ...


class Runner:
    def __init__(
        self,
        kube: Kube,
        reconcilers: Sequence[Reconciler],
        namespaces: Sequence[str] = (),
        workers: int = 8,
        resync_s: float = 300.0,
    ) -> None:
        self.kube = kube
        self.reconcilers = {r.kind: r for r in reconcilers}
        self.namespaces: list[str | None] = list(namespaces) or [None]
        self.workers = workers
        self.resync_s = resync_s
        self.ready = asyncio.Event()
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._running: set[Key] = set()
        self._dirty: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self.reconciles = 0
        self._sources = self._listed = 0

    def enqueue(self, key: Key) -> None:
        if key in self._running:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def enqueue_after(self, key: Key, seconds: float) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(seconds, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    async def _list_and_watch(self, watch: Watch, namespace: str | None) -> None:
        """List (queueing every key), then watch from the list's version; again on failure."""
        ns = namespace if namespace is not None else _all()
        first = True
        while True:
            try:
                items, version = await self.kube.list_with_version(watch.kind, ns, watch.labels)
                for obj in items:
                    for key in watch.to_keys(obj):
                        self.enqueue(key)
                if first:
                    first = False
                    self._listed += 1
                    if self._listed == self._sources:
                        self.ready.set()
                async for _event, obj in self.kube.watch(watch.kind, ns, watch.labels, version):
                    for key in watch.to_keys(obj):
                        self.enqueue(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API went away: list again, the state is level
                log.warning("watch %s in %s: %s; listing again", watch.kind, ns or "*", exc)
                await asyncio.sleep(1.0)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_s)
            for r in self.reconcilers.values():
                for ns in self.namespaces:
                    try:
                        items = await self.kube.list(r.kind, ns if ns is not None else _all())
                    except Exception as exc:
                        log.warning("resync %s: %s", r.kind, exc)
                        continue
                    for obj in items:
                        meta = obj.get("metadata", {})
                        self.enqueue(Key(r.kind, meta.get("namespace", ""), meta.get("name", "")))

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._running.add(key)
            started = time.perf_counter()
            again: float | None = None
            try:
                again = await self.reconcilers[key.kind].reconcile(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception:
                count = self._failures.get(key, 0) + 1
                self._failures[key] = count
                again = min(60.0, 0.25 * 2**count)
                log.exception("reconcile %s/%s failed (try %d)", key.namespace, key.name, count)
            finally:
                self.reconciles += 1
                RECONCILE_SECONDS.labels(key.kind).observe(time.perf_counter() - started)
                self._running.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.enqueue(key)
            elif again is not None:
                self.enqueue_after(key, again)

    async def run(self, extra: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()) -> None:
        """Run until cancelled."""
        sources = [
            (w, ns)
            for r in self.reconcilers.values()
            for w in r.watches()
            for ns in self.namespaces
        ]
        self._sources, self._listed = len(sources), 0
        async with asyncio.TaskGroup() as group:
            for watch, ns in sources:
                group.create_task(self._list_and_watch(watch, ns))
            for _ in range(self.workers):
                group.create_task(self._worker())
            group.create_task(self._resync())
            for job in extra:
                group.create_task(job())

    def idle(self) -> bool:
        return not self._queued and not self._running


def _all() -> Any:
    from controller.kube import ALL

    return ALL
