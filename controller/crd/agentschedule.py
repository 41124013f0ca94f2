"""The `AgentSchedule` kind (podium.dev/v1alpha1): an AgentRun started on a cron schedule,
with the CronJob's own fields and meanings (`concurrencyPolicy`, `startingDeadlineSeconds`,
`suspend`, history limits) and its status (`lastScheduleTime`, active runs, the last result).

The pydantic models are the one source of truth for the CRD (`controller.crd.schema`) and
for what the schedule reconciler reads; `controller.schedule` holds the timing logic.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.crd.models import AgentRunSpec, Condition

__all__ = [
    "MAX_NAME",
    "TIME_ZONE_PATTERN",
    "AgentSchedule",
    "AgentScheduleSpec",
    "AgentScheduleStatus",
    "ConcurrencyPolicy",
    "RunRef",
    "RunResult",
    "RunTemplate",
]

MAX_NAME = 31
"""A schedule's name is at most this long, so `NAME-<minutes>` (a run's name) fits the 40
characters an AgentRun may have (Kubernetes limits a CronJob's name the same way)."""
TIME_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,3}$"
"""The shape of an IANA name; whether the zone exists is checked by the controller (its
time zone database), which reports an unknown one as the `Valid` condition."""
ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]

Timestamp = Annotated[str, Field(max_length=64)]


def _cel(*rules: tuple[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


class TemplateMetadata(_Model):
    """Labels and annotations every run of the schedule gets (besides the schedule's own)."""

    labels: Annotated[
        dict[Annotated[str, Field(max_length=317)], Annotated[str, Field(max_length=63)]],
        Field(max_length=32),
    ] = Field(default_factory=dict)
    annotations: Annotated[
        dict[Annotated[str, Field(max_length=317)], Annotated[str, Field(max_length=4096)]],
        Field(max_length=32),
    ] = Field(default_factory=dict)


class RunTemplate(
    _Model,
    json_schema_extra=_cel(
        (
            "!has(self.spec.cancel) || !self.spec.cancel",
            "a run template cannot be cancelled: suspend the schedule instead",
        ),
    ),
):
    """The AgentRun each tick creates."""

    metadata: TemplateMetadata = Field(default_factory=TemplateMetadata)
    spec: AgentRunSpec
    """An AgentRun's spec. Without `memory.scope`, every run of the schedule shares the scope
    `schedule/NAME`, so a nightly run can recall what the last one stored (with a memory
    `claim`, the database outlives each run)."""


class AgentScheduleSpec(
    _Model,
    json_schema_extra=_cel(
        (
            "!self.schedule.contains('TZ')",
            "put the time zone in spec.timeZone, not CRON_TZ or TZ in the schedule",
        ),
    ),
):
    """When to start a run, what to do when runs overlap or ticks were missed, and how many
    finished runs to keep."""

    schedule: Annotated[str, Field(min_length=1, max_length=128)]
    """A 5-field cron expression (minute hour day-of-month month day-of-week), or a macro:
    @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly."""
    timeZone: Annotated[str | None, Field(max_length=64, pattern=TIME_ZONE_PATTERN)] = None
    """An IANA time zone (`Europe/Berlin`) the schedule is read in; default UTC. Across a
    daylight-saving change a time that does not exist fires at the first minute after the
    gap, and a repeated hour fires once for a fixed time (as Debian's cron does)."""
    concurrencyPolicy: ConcurrencyPolicy = "Allow"
    """What a tick does while an earlier run is active: `Allow` starts another, `Forbid` skips
    the tick, `Replace` cancels the active run and starts the new one."""
    startingDeadlineSeconds: Annotated[int | None, Field(ge=0, le=31_536_000)] = None
    """A tick missed by more than this many seconds (controller down, Forbid blocking) is
    skipped. Without it the most recent missed tick still starts, late; never more than one."""
    suspend: bool = False
    """Start no new runs (active ones go on); resuming does not replay the ticks missed
    meanwhile beyond what startingDeadlineSeconds allows."""
    successfulRunsHistoryLimit: Annotated[int, Field(ge=0, le=100)] = 3
    """Succeeded runs to keep; older ones are deleted."""
    failedRunsHistoryLimit: Annotated[int, Field(ge=0, le=100)] = 1
    """Failed, timed-out or cancelled runs to keep."""
    runTemplate: RunTemplate


class RunRef(_Model):
    """A run the schedule started."""

    name: Annotated[str, Field(max_length=253)]
    scheduledTime: Timestamp | None = None


class RunResult(_Model):
    """How the schedule's most recent finished run ended."""

    name: Annotated[str, Field(max_length=253)]
    phase: Annotated[str, Field(max_length=32)]
    scheduledTime: Timestamp | None = None
    completionTime: Timestamp | None = None
    error: Annotated[str | None, Field(max_length=1024)] = None


class AgentScheduleStatus(_Model):
    """What the controller observed and did; a projection, rebuilt on every reconcile."""

    lastScheduleTime: Timestamp | None = None
    """The tick of the most recent run started."""
    nextScheduleTime: Timestamp | None = None
    """The next tick (none while suspended or invalid)."""
    lastSuccessfulTime: Timestamp | None = None
    """When the most recent succeeded run completed."""
    lastMissedTime: Timestamp | None = None
    """The most recent tick skipped for being later than startingDeadlineSeconds."""
    activeCount: int = 0
    """How many runs are active (a printer column)."""
    active: Annotated[list[RunRef], Field(max_length=256)] = Field(
        default_factory=lambda: list[RunRef]()
    )
    """Runs of this schedule not finished yet."""
    lastResult: RunResult | None = None
    observedGeneration: int | None = None
    conditions: Annotated[list[Condition], Field(max_length=16)] = Field(
        default_factory=lambda: list[Condition]()
    )


class AgentSchedule(_Model):
    apiVersion: Literal["podium.dev/v1alpha1"] = "podium.dev/v1alpha1"
    kind: Literal["AgentSchedule"] = "AgentSchedule"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: AgentScheduleSpec
    status: AgentScheduleStatus | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "default")

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid", ""))
