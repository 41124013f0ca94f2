"""When an AgentSchedule starts, cancels and prunes runs: pure functions of the schedule, the
runs observed, and the time (a parameter, never the wall clock), after Kubernetes' CronJob
controller (v2).

- A tick's run is named `SCHEDULE-<tick in Unix minutes>`, so creating it is the lock: a
  restart, a second replica or a slow reconcile that tries the same tick again gets 409.
- Only the most recent unmet tick is ever started: a controller that was down for a day
  starts one run, late (or none, when that tick is older than `startingDeadlineSeconds`).
  Past 100 missed ticks a warning says so (CronJob's guard); finding the most recent one
  stays cheap (a reverse search, not a walk over every missed tick).
- Cron expressions are read by `cronsim` in the schedule's IANA zone (zoneinfo): a local
  time skipped by a daylight-saving change fires at the first minute after the gap; in a
  repeated hour a fixed-time entry fires once and `*/N`-minute ones fire in both (Debian
  cron's rules). Ticks are instants; names and status use UTC.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from controller.crd.agentschedule import AgentSchedule, AgentScheduleStatus, RunRef, RunResult
from controller.crd.models import TERMINAL_PHASES, Condition

__all__ = [
    "MACROS",
    "MAX_MISSED",
    "SCHEDULE_LABEL",
    "TICK_ANNOTATION",
    "Cron",
    "Event",
    "ObservedRun",
    "Plan",
    "ScheduleError",
    "build_run",
    "format_time",
    "observe_run",
    "parse_time",
    "reconcile_schedule",
    "run_name",
]

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_MISSED = 100
"""More unmet ticks than this since the last run: warn (clock skew, or a long outage)."""
NEXT_DELTA = timedelta(milliseconds=100)
"""Wake a little after the tick, so that `now` is past it (CronJob's nextScheduleDelta)."""
SCHEDULE_LABEL = "podium.dev/schedule"
TICK_ANNOTATION = "podium.dev/scheduled-time"
SUCCEEDED = "Succeeded"
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


class ScheduleError(ValueError):
    """A schedule or time zone that cannot be used; `reason` is the condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as Kubernetes writes it; None for none or garbage."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES


def load_zone(name: str | None) -> ZoneInfo:
    """The IANA zone of that name (UTC when none); ScheduleError for an unknown one."""
    if name is None:
        return ZoneInfo("UTC")
    if name not in _zone_names():
        raise ScheduleError("UnknownTimeZone", f"unknown time zone {name!r} (an IANA name)")
    return ZoneInfo(name)


@dataclass(frozen=True)
class Cron:
    """A parsed schedule in its zone. Times in and out are aware; results are in UTC."""

    expression: str
    """Five fields (a macro expanded)."""
    zone: ZoneInfo

    @classmethod
    def parse(cls, schedule: str, time_zone: str | None = None) -> Cron:
        """The schedule read in that zone (cached: reconciles parse the same few often)."""
        return _parse(schedule, time_zone)

    def _iter(self, start: datetime, *, reverse: bool = False) -> Iterator[datetime]:
        return CronSim(self.expression, start.astimezone(self.zone), reverse=reverse)

    def after(self, t: datetime) -> datetime | None:
        """The first tick strictly after `t` (None: none in the next 50 years). Ticks are
        whole minutes, so the answer for `t` is the answer for its minute: cached by it."""
        return _after(self, int(t.timestamp()) // 60)

    def upcoming(self, t: datetime, n: int) -> list[datetime]:
        """The next `n` ticks after `t`."""
        out: list[datetime] = []
        it = self._iter(t)
        for tick in it:
            out.append(tick.astimezone(UTC))
            if len(out) >= n:
                break
        return out

    def latest(self, earliest: datetime, now: datetime) -> tuple[datetime | None, int]:
        """The most recent tick in (earliest, now], and how many ticks fell in that window
        (counted up to MAX_MISSED + 1)."""
        count = 0
        last: datetime | None = None
        t = self.after(earliest)
        while t is not None and t <= now:
            last, count = t, count + 1
            if count > MAX_MISSED:
                break
            t = self.after(t)
        else:
            return last, count
        # Many missed: search backwards from just past `now` (ticks are whole minutes).
        start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        try:
            recent = next(self._iter(start, reverse=True)).astimezone(UTC)
        except StopIteration:  # pragma: no cover - a tick was seen above
            return last, count
        return recent, count


@functools.lru_cache(maxsize=4096)
def _parse(schedule: str, time_zone: str | None) -> Cron:
    text = " ".join(schedule.split())
    if "TZ=" in text:
        raise ScheduleError(
            "InvalidSchedule", "put the time zone in spec.timeZone, not CRON_TZ or TZ"
        )
    if text.startswith("@"):
        if text not in MACROS:
            raise ScheduleError(
                "InvalidSchedule",
                f"unknown macro {text!r} (use one of {', '.join(MACROS)})",
            )
        text = MACROS[text]
    fields = text.split(" ")
    if len(fields) != 5:
        raise ScheduleError(
            "InvalidSchedule",
            f"{schedule!r} has {len(fields)} fields: a schedule has 5 "
            "(minute hour day-of-month month day-of-week) or is a macro like @daily",
        )
    zone = load_zone(time_zone)
    cron = Cron(text, zone)
    try:
        first = cron.after(datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ScheduleError("InvalidSchedule", f"invalid schedule {schedule!r}: {exc}") from exc
    if first is None:
        raise ScheduleError("InvalidSchedule", f"schedule {schedule!r} never fires")
    return cron


@functools.lru_cache(maxsize=65536)
def _after(cron: Cron, minute: int) -> datetime | None:
    start = datetime.fromtimestamp(minute * 60, UTC)
    try:
        return next(cron._iter(start)).astimezone(UTC)  # pyright: ignore[reportPrivateUsage]
    except StopIteration:
        return None


def run_name(schedule: str, tick: datetime) -> str:
    """The run of this schedule for this tick: the same on every replica and every retry."""
    return f"{schedule}-{int(tick.timestamp()) // 60}"


# ---------------------------------------------------------------- what was observed


@dataclass(frozen=True)
class ObservedRun:
    """One AgentRun owned by the schedule, as the API showed it."""

    name: str
    phase: str = "Pending"
    tick: datetime | None = None
    """From the run's `podium.dev/scheduled-time` annotation."""
    created: datetime | None = None
    completed: datetime | None = None
    cancel: bool = False
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def order(self) -> datetime:
        return self.tick or self.created or datetime.min.replace(tzinfo=UTC)


def observe_run(obj: dict[str, Any]) -> ObservedRun:
    """An AgentRun object (as JSON from the API) reduced to what scheduling needs."""
    meta: dict[str, Any] = obj.get("metadata") or {}
    status: dict[str, Any] = obj.get("status") or {}
    spec: dict[str, Any] = obj.get("spec") or {}
    annotations: dict[str, Any] = meta.get("annotations") or {}
    error = status.get("error")
    return ObservedRun(
        name=str(meta.get("name", "")),
        phase=str(status.get("phase") or "Pending"),
        tick=parse_time(annotations.get(TICK_ANNOTATION)),
        created=parse_time(meta.get("creationTimestamp")),
        completed=parse_time(status.get("completionTime")),
        cancel=bool(spec.get("cancel", False)),
        error=str(error)[:1024] if error else None,
    )


# ---------------------------------------------------------------- what to do


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Plan:
    """The actions of one reconcile, in the order to apply them: cancel, create, delete,
    then the status patch."""

    create: list[tuple[str, datetime]] = field(default_factory=lambda: [])
    """(run name, tick): build each with `build_run`; 409 on create means already done."""
    cancel: list[str] = field(default_factory=lambda: [])
    """Runs to stop (`spec.cancel: true`)."""
    delete: list[str] = field(default_factory=lambda: [])
    """Finished runs beyond the history limits."""
    status: AgentScheduleStatus = field(default_factory=AgentScheduleStatus)
    events: list[Event] = field(default_factory=lambda: [])
    requeue_after: float | None = None
    """Seconds until the next tick is due (None: only a change needs another look)."""


def _condition(
    old: AgentScheduleStatus | None,
    status: Literal["True", "False"],
    reason: str,
    message: str,
    now: datetime,
) -> Condition:
    previous = next((c for c in (old.conditions if old else []) if c.type == "Valid"), None)
    since = (
        previous.lastTransitionTime
        if previous is not None and previous.status == status
        else format_time(now)
    )
    return Condition(
        type="Valid", status=status, reason=reason, message=message, lastTransitionTime=since
    )


def _prune(schedule: AgentSchedule, finished: list[ObservedRun]) -> list[str]:
    spec = schedule.spec
    succeeded = sorted((r for r in finished if r.phase == SUCCEEDED), key=lambda r: r.order)
    failed = sorted((r for r in finished if r.phase != SUCCEEDED), key=lambda r: r.order)
    doomed = succeeded[: max(0, len(succeeded) - spec.successfulRunsHistoryLimit)]
    doomed += failed[: max(0, len(failed) - spec.failedRunsHistoryLimit)]
    return [r.name for r in doomed]


def reconcile_schedule(schedule: AgentSchedule, runs: Sequence[ObservedRun], now: datetime) -> Plan:
    """Everything one reconcile of `schedule` should do at `now`, given the runs it owns."""
    old = schedule.status
    spec = schedule.spec
    plan = Plan()
    active = sorted((r for r in runs if not r.finished), key=lambda r: r.order)
    finished = sorted((r for r in runs if r.finished), key=lambda r: r.order)
    plan.delete = _prune(schedule, finished)
    status = plan.status
    status.observedGeneration = schedule.metadata.get("generation")
    status.lastScheduleTime = old.lastScheduleTime if old else None
    status.lastMissedTime = old.lastMissedTime if old else None
    status.lastSuccessfulTime = old.lastSuccessfulTime if old else None
    status.active = [
        RunRef(name=r.name, scheduledTime=format_time(r.tick) if r.tick else None) for r in active
    ]
    status.activeCount = len(status.active)
    if finished:
        last = finished[-1]
        status.lastResult = RunResult(
            name=last.name,
            phase=last.phase,
            scheduledTime=format_time(last.tick) if last.tick else None,
            completionTime=format_time(last.completed) if last.completed else None,
            error=last.error,
        )
    elif old is not None:
        status.lastResult = old.lastResult
    done = [r.completed for r in finished if r.phase == SUCCEEDED and r.completed]
    known = parse_time(status.lastSuccessfulTime)
    if done and (known is None or max(done) > known):
        status.lastSuccessfulTime = format_time(max(done))

    try:
        cron = Cron.parse(spec.schedule, spec.timeZone)
    except ScheduleError as exc:
        status.conditions = [_condition(old, "False", exc.reason, str(exc), now)]
        if not any(c.reason == exc.reason for c in (old.conditions if old else [])):
            plan.events.append(Event("Warning", exc.reason, str(exc)))
        return plan
    status.conditions = [_condition(old, "True", "Valid", f"{cron.expression} in {cron.zone}", now)]
    if spec.suspend:
        return plan

    # The last tick already handled: the status says so, and so do the runs themselves
    # (a status write lost after a create must not start that tick again).
    handled = parse_time(status.lastScheduleTime) or parse_time(
        schedule.metadata.get("creationTimestamp")
    )
    ticks = [r.tick for r in runs if r.tick is not None]
    if ticks and (handled is None or max(ticks) > handled):
        handled = max(ticks)
    handled = handled or now
    floor = handled
    if spec.startingDeadlineSeconds is not None:
        # Ticks older than the deadline are skipped: look for unmet ones only after it.
        cutoff = now - timedelta(seconds=spec.startingDeadlineSeconds)
        if cutoff > handled:
            _note_missed(cron, handled, cutoff, spec.startingDeadlineSeconds, plan)
            floor = cutoff
    tick, missed = cron.latest(floor, now)
    nxt = cron.after(now)
    status.nextScheduleTime = format_time(nxt) if nxt else None
    plan.requeue_after = (nxt - now + NEXT_DELTA).total_seconds() if nxt else None
    if tick is None:
        return plan
    if missed > MAX_MISSED:
        plan.events.append(
            Event(
                "Warning",
                "TooManyMissedTimes",
                f"more than {MAX_MISSED} ticks were missed (clock skew or a long outage?): "
                f"starting only the most recent, {format_time(tick)}; set "
                "startingDeadlineSeconds to skip late ones",
            )
        )
    name = run_name(schedule.name, tick)
    if any(r.name == name for r in runs):
        return plan
    if spec.concurrencyPolicy == "Forbid" and active:
        plan.events.append(
            Event(
                "Normal",
                "RunAlreadyActive",
                f"not starting the {format_time(tick)} run: {active[-1].name} is still "
                "active and concurrencyPolicy is Forbid",
            )
        )
        return plan
    if spec.concurrencyPolicy == "Replace":
        plan.cancel = [r.name for r in active if not r.cancel]
    plan.create.append((name, tick))
    status.lastScheduleTime = format_time(tick)
    status.active.append(RunRef(name=name, scheduledTime=format_time(tick)))
    status.activeCount = len(status.active)
    return plan


def _note_missed(
    cron: Cron, handled: datetime, cutoff: datetime, deadline: int, plan: Plan
) -> None:
    """Record (once) the most recent tick in (handled, cutoff]: it was never started and is
    now later than the deadline allows."""
    late, _ = cron.latest(handled, cutoff)
    if late is None:
        return
    stamp = format_time(late)
    if plan.status.lastMissedTime == stamp:
        return
    plan.status.lastMissedTime = stamp
    plan.events.append(
        Event(
            "Warning",
            "MissSchedule",
            f"the {stamp} tick was not started within startingDeadlineSeconds ({deadline}s): "
            "skipped",
        )
    )


def build_run(schedule: AgentSchedule, name: str, tick: datetime) -> dict[str, Any]:
    """The AgentRun for one tick: owned by the schedule (deleted with it), labelled with it,
    sharing one memory scope across runs unless the template names its own."""
    template = schedule.spec.runTemplate
    spec = template.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    if "scope" not in template.spec.memory.model_fields_set:
        spec.setdefault("memory", {})["scope"] = f"schedule/{schedule.name}"
    spec.pop("cancel", None)
    return {
        "apiVersion": "podium.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {
            "name": name,
            "namespace": schedule.namespace,
            "labels": {**template.metadata.labels, SCHEDULE_LABEL: schedule.name},
            "annotations": {**template.metadata.annotations, TICK_ANNOTATION: format_time(tick)},
            "ownerReferences": [
                {
                    "apiVersion": schedule.apiVersion,
                    "kind": schedule.kind,
                    "name": schedule.name,
                    "uid": schedule.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }
