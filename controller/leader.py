"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it,
so only one `podium controller` reconciles while two replicas run (or overlap in a rolling
update):

- a candidate takes the Lease when it is absent, released (no holder), or expired: its record
  has not changed for `leaseDurationSeconds` *as this candidate observed it* (its own
  monotonic clock, so clock skew between nodes does not matter);
- every write carries the resourceVersion read just before, so of two candidates racing for
  one Lease exactly one wins (the other gets 409 and stays standby);
- the leader renews every `retry_period_s`; when no renewal succeeded for `renew_deadline_s`
  it stops leading. The deadline is shorter than the lease, so it stops before a standby may
  take over;
- on a clean shutdown the leader releases the Lease (no holder, one second), and a standby
  takes over at its next try instead of a whole lease later.

No library does this for lightkube or asyncio with our client: lightkube and
lightkube-extensions have none, kopf's peering is not leader election, and the official
clients' electors come with their own (second) Kubernetes client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.kube import Conflict, Kube

__all__ = ["LeaderConfig", "LeaderElector", "default_namespace"]

log = logging.getLogger("podium.controller.leader")
_IN_CLUSTER_NS = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def default_namespace() -> str:
    """Where the Lease lives: $POD_NAMESPACE, else the Pod's own namespace, else podium-system."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    with contextlib.suppress(OSError):
        return _IN_CLUSTER_NS.read_text(encoding="utf-8").strip() or "podium-system"
    return "podium-system"


def _identity() -> str:
    return f"{socket.gethostname()}_{secrets.token_hex(4)}"


@dataclass(frozen=True)
class LeaderConfig:
    name: str = "podium-controller"
    """The Lease's name."""
    namespace: str = field(default_factory=default_namespace)
    identity: str = field(default_factory=_identity)
    """This candidate's holderIdentity (hostname, i.e. the Pod's name, plus a random part)."""
    lease_duration_s: float = 15.0
    """How long a standby waits, from the last change it saw, before it takes the Lease."""
    renew_deadline_s: float = 10.0
    """How long the leader keeps trying to renew before it stops leading."""
    retry_period_s: float = 2.0
    """Between tries (to acquire, or to renew)."""

    def __post_init__(self) -> None:
        if not self.lease_duration_s > self.renew_deadline_s > self.retry_period_s * 1.2 > 0:
            raise ValueError(
                "leader election needs lease duration > renew deadline > 1.2 x retry period > 0 "
                f"(got {self.lease_duration_s:g} s, {self.renew_deadline_s:g} s, "
                f"{self.retry_period_s:g} s)"
            )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self, kube: Kube, config: LeaderConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.kube, self.config, self.clock = kube, config, clock
        self.leading = asyncio.Event()
        self._seen: tuple[Any, ...] | None = None
        self._seen_at = 0.0

    async def _try(self) -> bool:
        """One try to take or renew the Lease; True when this candidate holds it after."""
        c = self.config
        lease = await self.kube.get("Lease", c.name, c.namespace)
        spec: dict[str, Any] = {
            "holderIdentity": c.identity,
            "leaseDurationSeconds": max(1, round(c.lease_duration_s)),
            "acquireTime": _now(),
            "renewTime": _now(),
            "leaseTransitions": 0,
        }
        meta = {"name": c.name, "namespace": c.namespace}
        if lease is None:
            try:
                await self.kube.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                        "metadata": meta, "spec": spec})  # fmt: skip
            except Conflict:
                return False
            return True
        old: dict[str, Any] = lease.get("spec") or {}
        holder = old.get("holderIdentity") or ""
        record = (holder, old.get("renewTime"), old.get("leaseDurationSeconds"))
        if record != self._seen:
            self._seen, self._seen_at = record, self.clock()
        duration = float(old.get("leaseDurationSeconds") or c.lease_duration_s)
        if holder and holder != c.identity and self.clock() < self._seen_at + duration:
            return False  # held by someone else, and not expired
        transitions = int(old.get("leaseTransitions") or 0)
        if holder == c.identity:
            spec["acquireTime"] = old.get("acquireTime") or spec["acquireTime"]
        spec["leaseTransitions"] = transitions if holder in ("", c.identity) else transitions + 1
        version = lease["metadata"].get("resourceVersion")
        try:
            await self.kube.replace({**lease, "metadata": {**meta, "resourceVersion": version},
                                     "spec": spec})  # fmt: skip
        except Conflict:
            return False
        return True

    async def _sleep(self) -> None:
        await asyncio.sleep(self.config.retry_period_s * random.uniform(1.0, 1.2))  # noqa: S311

    async def acquire(self) -> None:
        """Return once this candidate leads."""
        said = False
        while True:
            try:
                if await self._try():
                    break
                if not said and self._seen:
                    said = True
                    log.info("standing by: the lease %s/%s is held by %s", self.config.namespace,
                             self.config.name, self._seen[0])  # fmt: skip
            except Exception as exc:  # the API is away: keep campaigning
                log.warning("leader election: %s", exc)
            await self._sleep()
        log.info("leading as %s (lease %s/%s)", self.config.identity, self.config.namespace,
                 self.config.name)  # fmt: skip
        self.leading.set()

    async def hold(self) -> None:
        """Renew until renewing fails for the renew deadline; then return (not leading)."""
        c = self.config
        renewed = self.clock()
        while True:
            await asyncio.sleep(c.retry_period_s)
            left = renewed + c.renew_deadline_s - self.clock()
            try:
                ok = left > 0 and await asyncio.wait_for(self._try(), left)
            except Exception as exc:  # a timeout, or the API is away
                log.warning("renewing the lease: %s", exc)
                ok = False
            if ok:
                renewed = self.clock()
            elif self.clock() >= renewed + c.renew_deadline_s:
                self.leading.clear()
                log.error("lost the lease %s/%s (not renewed for %g s)", c.namespace, c.name,
                          c.renew_deadline_s)  # fmt: skip
                return

    async def release(self) -> None:
        """Give the Lease up (clean shutdown), so a standby takes over at its next try."""
        if not self.leading.is_set():
            return
        self.leading.clear()
        with contextlib.suppress(Exception):  # best effort: else the Lease simply expires
            await asyncio.wait_for(self._give_up(), self.config.renew_deadline_s)

    async def _give_up(self) -> None:
        c = self.config
        lease = await self.kube.get("Lease", c.name, c.namespace)
        old: dict[str, Any] = (lease or {}).get("spec") or {}
        if lease is not None and old.get("holderIdentity") == c.identity:
            spec = {**old, "holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": _now()}
            await self.kube.replace({**lease, "spec": spec})
            log.info("released the lease %s/%s", c.namespace, c.name)

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Campaign, then run `lead` while leading. Returns when the lease is lost (`lead`
        cancelled); cancelled itself, it stops `lead` and releases the lease."""
        try:
            await self.acquire()
            work = asyncio.ensure_future(lead())
            holding = asyncio.ensure_future(self.hold())
            try:
                done, _ = await asyncio.wait({work, holding}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (work, holding):
                    task.cancel()
                await asyncio.gather(work, holding, return_exceptions=True)
            if work in done:
                work.result()  # `lead` failed: its error, after the lease is released below
        finally:
            await asyncio.shield(self.release())
