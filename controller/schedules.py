"""The AgentSchedule reconciler: observe the schedule and the runs it owns, ask the pure
`reconcile_schedule` what to do at `now` (the injected clock), and do it.

Creating a run is a plain create of its deterministic name: 409 means this tick was already
started (by this process before a restart, another replica, or a slow earlier pass) and is
not an error. A name taken by a run the schedule does not own is reported, never adopted.
The status is written only when it changed, through the status subresource.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Histogram
from pydantic import ValidationError

from controller.build import MANAGER
from controller.crd.agentschedule import AgentSchedule, AgentScheduleStatus
from controller.kube import Conflict, Kube, NotFound
from controller.runner import Key, Watch
from controller.schedule import (
    SCHEDULE_LABEL,
    Event,
    build_run,
    format_time,
    observe_run,
    reconcile_schedule,
)

__all__ = ["AgentScheduleReconciler"]

log = logging.getLogger("podium.controller.schedules")
START_DELAY = Histogram(
    "podium_schedule_start_delay_seconds",
    "From a tick to its AgentRun created",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _schedule_keys(obj: dict[str, Any]) -> list[Key]:
    meta = _meta(obj)
    return [Key("AgentSchedule", meta.get("namespace", ""), meta.get("name", ""))]


def _run_keys(obj: dict[str, Any]) -> list[Key]:
    meta = _meta(obj)
    labels: dict[str, str] = meta.get("labels") or {}
    owner = labels.get(SCHEDULE_LABEL)
    return [Key("AgentSchedule", meta.get("namespace", ""), owner)] if owner else []


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    refs: list[dict[str, Any]] = _meta(obj).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


class AgentScheduleReconciler:
    kind = "AgentSchedule"

    def __init__(self, kube: Kube, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.kube = kube
        self.clock = clock

    def watches(self) -> Sequence[Watch]:
        return [Watch("AgentSchedule", _schedule_keys), Watch("AgentRun", _run_keys)]

    async def reconcile(self, key: Key) -> float | None:
        raw = await self.kube.get("AgentSchedule", key.name, key.namespace)
        if raw is None or _meta(raw).get("deletionTimestamp"):
            return None  # its runs go with it (ownerReferences)
        try:
            schedule = AgentSchedule.model_validate(raw)
        except ValidationError as exc:
            await self._invalid(raw, exc)
            return None
        schedule.metadata.setdefault("namespace", key.namespace)
        found = await self.kube.list("AgentRun", key.namespace, {SCHEDULE_LABEL: key.name})
        runs = [observe_run(r) for r in found if _owned_by(r, schedule.uid)]
        now = self.clock()
        plan = reconcile_schedule(schedule, runs, now)
        for name in plan.cancel:
            try:
                await self.kube.merge_patch(
                    "AgentRun", name, key.namespace, {"spec": {"cancel": True}}
                )
                plan.events.append(Event("Normal", "Replaced", f"cancelled {name} (Replace)"))
            except NotFound:
                pass
        for name, tick in plan.create:
            await self._create(schedule, name, tick, plan.status, plan.events)
        for name in plan.delete:
            if await self.kube.delete("AgentRun", name, key.namespace):
                plan.events.append(Event("Normal", "SuccessfulDelete", f"pruned {name}"))
        for event in plan.events:
            await self._event(schedule, event)
        await self._write(schedule, plan.status)
        return plan.requeue_after

    async def _create(
        self,
        schedule: AgentSchedule,
        name: str,
        tick: datetime,
        status: AgentScheduleStatus,
        events: list[Event],
    ) -> None:
        try:
            await self.kube.create(build_run(schedule, name, tick))
        except Conflict:
            existing = await self.kube.get("AgentRun", name, schedule.namespace)
            if existing is not None and not _owned_by(existing, schedule.uid):
                events.append(
                    Event(
                        "Warning",
                        "RunNameTaken",
                        f"AgentRun {name} exists and is not this schedule's: tick "
                        f"{format_time(tick)} not started",
                    )
                )
                status.active = [r for r in status.active if r.name != name]
                status.activeCount = len(status.active)
            return  # ours: this tick was started already
        START_DELAY.observe(max(0.0, (self.clock() - tick).total_seconds()))
        events.append(
            Event("Normal", "SuccessfulCreate", f"created {name} for {format_time(tick)}")
        )

    async def _write(self, schedule: AgentSchedule, status: AgentScheduleStatus) -> None:
        new = status.model_dump(mode="json", exclude_none=True)
        old = (
            schedule.status.model_dump(mode="json", exclude_none=True) if schedule.status else None
        )
        if new == old:
            return
        with contextlib.suppress(NotFound):  # deleted meanwhile
            await self.kube.patch_status(
                schedule.name, schedule.namespace, new, kind="AgentSchedule"
            )

    async def _invalid(self, raw: dict[str, Any], exc: ValidationError) -> None:
        meta = _meta(raw)
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        condition = {
            "type": "Valid",
            "status": "False",
            "reason": "InvalidSpec",
            "message": f"{where}: {first['msg']}"[:1024],
            "lastTransitionTime": format_time(self.clock()),
        }
        status: dict[str, Any] = raw.get("status") or {}
        old: list[dict[str, Any]] = status.get("conditions") or []
        if any(c.get("message") == condition["message"] for c in old):
            return
        await self.kube.patch_status(
            meta["name"], meta.get("namespace", ""), {"conditions": [condition]}, "AgentSchedule"
        )

    async def _event(self, schedule: AgentSchedule, event: Event) -> None:
        now = format_time(self.clock())
        obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{schedule.name}.{secrets.token_hex(8)}",
                "namespace": schedule.namespace,
            },
            "involvedObject": {
                "apiVersion": schedule.apiVersion,
                "kind": "AgentSchedule",
                "name": schedule.name,
                "namespace": schedule.namespace,
                "uid": schedule.uid,
            },
            "reason": event.reason,
            "message": event.message[:1024],
            "type": event.type,
            "source": {"component": MANAGER},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.kube.create(obj)
        except Exception as exc:  # an event is a courtesy; the status is the record
            log.debug("event for %s not recorded: %s", schedule.name, exc)
