"""What the Job and its Pod show, as the AgentRun's status: a pure function of the objects
the API returned and the time, so a restarted controller computes the same status again.

The agent's termination message is input from the Pod, so it is untrusted: at most 4 KiB
(the kubelet's own limit), parsed strictly into `Summary`; anything else fails the run with
reason `InvalidResult`, never a crash of the controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controller.crd.models import TERMINAL_PHASES, AgentRunStatus, Condition, Phase, Usage

__all__ = [
    "BLOCKED_GRACE_S",
    "MAX_MESSAGE_BYTES",
    "Observation",
    "Summary",
    "observe",
    "parse_summary",
    "set_condition",
    "timestamp",
]

MAX_MESSAGE_BYTES = 4096
AGENT = "agent"
CONTROL = "podium-control"
BLOCKED_GRACE_S = 120.0
"""How long a container may wait on an image or a missing Secret before the run fails."""
IMAGE = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
CONFIG = {"CreateContainerConfigError", "CreateContainerError"}
AT_ONCE = {"InvalidImageName", "ErrImageNeverPull"}  # no retry can fix these
_STATUS: dict[str, Phase] = {
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "timed_out": "TimedOut",
}


class _Tokens(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)


class Summary(BaseModel):
    """The agent's termination message (runtime.agent.main.termination_summary)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    status: Literal["succeeded", "failed", "cancelled", "timed_out"]
    output: str = Field("", max_length=MAX_MESSAGE_BYTES)
    error: str | None = Field(None, max_length=MAX_MESSAGE_BYTES)
    turns: int = Field(0, ge=0)
    tool_calls: int = Field(0, ge=0)
    duration_s: float = Field(0.0, ge=0)
    usage: _Tokens | None = None
    truncated: bool = False


def parse_summary(message: str | None) -> Summary | str:
    """The summary, or why the message is not one."""
    if not message:
        return "empty"
    if len(message.encode()) > MAX_MESSAGE_BYTES:
        return f"{len(message.encode())} bytes (at most {MAX_MESSAGE_BYTES})"
    try:
        return Summary.model_validate_json(message)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"not a valid summary ({where + ': ' if where else ''}{first['msg']})"


def timestamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def set_condition(
    conditions: list[Condition], type: str, status: str, reason: str, message: str, now: datetime
) -> list[Condition]:
    """`conditions` with `type` set; its transition time moves only when its status does."""
    old = next((c for c in conditions if c.type == type), None)
    since = old.lastTransitionTime if old and old.status == status else timestamp(now)
    new = Condition.model_validate(
        {"type": type, "status": status, "reason": reason, "message": message[:4096],
         "lastTransitionTime": since}
    )  # fmt: skip
    return [*(c for c in conditions if c.type != type), new]


@dataclass
class Observation:
    status: AgentRunStatus
    events: list[tuple[str, str, str]] = field(default_factory=lambda: [])
    """(type Normal|Warning, reason, message) to record on the run."""
    delete_job: bool = False
    """Stop the Job (a run that can never finish, or already failed, leaves nothing running)."""

    @property
    def terminal(self) -> bool:
        return self.status.phase in TERMINAL_PHASES


def _statuses(pod: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    status = pod.get("status", {})
    return [
        (c["name"], c)
        for c in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]
    ]


def _skill(container: str) -> str:
    return container.removeprefix("skill-")


def _who(container: str) -> str:
    if container == AGENT:
        return "the agent"
    if container == CONTROL:
        return f"the run's control service (container {container})"
    return f"skill {_skill(container)} (container {container})"


def _crashes(pod: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name, c in _statuses(pod):
        if name == AGENT:
            continue
        term = c.get("lastState", {}).get("terminated") or c.get("state", {}).get("terminated")
        if not term or (term.get("exitCode", 0) == 0 and term.get("reason") != "OOMKilled"):
            continue
        restarts = c.get("restartCount", 0)
        what = "was OOMKilled" if term.get("reason") == "OOMKilled" else "crashed"
        again = f", {restarts} restarts" if restarts else ""
        out.append(f"{_who(name)} {what} (exit code {term.get('exitCode')}{again})")
    return out


def _blocked(pod: dict[str, Any]) -> tuple[str, str, bool] | None:
    """(reason, message, hopeless) for a container that cannot start."""
    for name, c in _statuses(pod):
        waiting: dict[str, Any] = c.get("state", {}).get("waiting") or {}
        reason = str(waiting.get("reason", ""))
        if reason in IMAGE:
            image = c.get("image", "")
            detail = str(waiting.get("message", ""))
            text = f"{_who(name)}: image {image} cannot be pulled ({reason}: {detail})"
            return "ImagePullBackOff", text, reason in AT_ONCE
        if reason in CONFIG:
            message = str(waiting.get("message", ""))
            kind = "SecretNotFound" if "secret" in message.lower() else reason
            return kind, f"{_who(name)} cannot start: {message}", False
    return None


def _agent_terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    for name, c in _statuses(pod):
        if name == AGENT:
            return c.get("state", {}).get("terminated")
    return None


def _agent_started(pod: dict[str, Any]) -> str | None:
    for name, c in _statuses(pod):
        if name == AGENT:
            running = c.get("state", {}).get("running")
            if running:
                return running.get("startedAt") or pod.get("status", {}).get("startTime") or ""
    return None


def _job_failed(job: dict[str, Any]) -> tuple[str, str] | None:
    for c in job.get("status", {}).get("conditions", []):
        if c.get("type") == "Failed" and c.get("status") == "True":
            return c.get("reason", ""), c.get("message", "")
    return None


def _job_complete(job: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Complete" and c.get("status") == "True"
        for c in job.get("status", {}).get("conditions", [])
    )


def observe(
    previous: AgentRunStatus,
    job: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    now: datetime,
    grace_s: float = BLOCKED_GRACE_S,
) -> Observation:
    """The run's status from its Job and Pods (`job` None: the Job is gone)."""
    status = previous.model_copy(deep=True)
    if status.phase in TERMINAL_PHASES:
        return Observation(status)
    obs = Observation(status)
    pods = sorted(pods, key=lambda p: p.get("metadata", {}).get("creationTimestamp") or "")
    pod = pods[-1] if pods else None

    def finish(phase: Phase, reason: str, message: str, delete: bool = False) -> Observation:
        status.phase = phase
        status.completionTime = status.completionTime or timestamp(now)
        if phase != "Succeeded":
            status.error = (status.error or message)[:4096]
        status.conditions = set_condition(status.conditions, "Waiting", "False", reason, "", now)
        status.conditions = set_condition(
            status.conditions, "Finished", "True", reason, message, now
        )
        warn = phase in ("Failed", "TimedOut")
        obs.events.append(("Warning" if warn else "Normal", reason, message))
        obs.delete_job = delete
        return obs

    crashes = _crashes(pod) if pod else []
    if crashes:
        status.conditions = set_condition(
            status.conditions, "SkillsHealthy", "False", "SkillCrashed", "; ".join(crashes), now
        )
    terminated = _agent_terminated(pod) if pod else None
    if terminated is not None:
        parsed = parse_summary(terminated.get("message"))
        if isinstance(parsed, str):
            code = terminated.get("exitCode")
            return finish(
                "Failed",
                "InvalidResult",
                f"the agent exited (code {code}) and its termination message is {parsed}",
            )
        status.output = parsed.output
        status.turns, status.toolCalls = parsed.turns, parsed.tool_calls
        status.durationSeconds = parsed.duration_s
        if parsed.usage:
            status.usage = Usage(
                inputTokens=parsed.usage.input_tokens, outputTokens=parsed.usage.output_tokens
            )
        status.completionTime = terminated.get("finishedAt") or timestamp(now)
        status.startTime = status.startTime or terminated.get("startedAt")
        phase = _STATUS[parsed.status]
        if phase == "Succeeded":
            return finish(phase, "Succeeded", f"the agent answered in {parsed.turns} turns")
        message = parsed.error or f"the agent ended {parsed.status}"
        if crashes:
            message += f" ({'; '.join(crashes)})"
        return finish(phase, {"Failed": "AgentFailed"}.get(phase, phase), message)
    if job is not None:
        failed = _job_failed(job)
        if failed and failed[0] == "DeadlineExceeded":
            deadline = job.get("spec", {}).get("activeDeadlineSeconds")
            return finish(
                "TimedOut", "DeadlineExceeded", f"the Job's deadline ({deadline} s) passed"
            )
        if failed:
            why = "; ".join(crashes) or (
                "the pod was deleted before the agent finished" if pod is None else failed[1]
            )
            return finish("Failed", "PodDeleted" if pod is None else failed[0] or "JobFailed", why)
        if _job_complete(job):
            return finish("Failed", "InvalidResult", "the agent left no termination message")
    if pod is None:
        if job is None and status.jobName:
            return finish("Failed", "JobDeleted", f"the Job {status.jobName} was deleted")
        if status.phase == "Running":
            return finish("Failed", "PodDeleted", "the pod was deleted before the agent finished")
        return obs
    blocked = _blocked(pod)
    if blocked:
        reason, message, hopeless = blocked
        status.conditions = set_condition(
            status.conditions, "Waiting", "True", reason, message, now
        )
        cond = next(c for c in status.conditions if c.type == "Waiting")
        since = _parse_time(cond.lastTransitionTime) or now
        if hopeless or (now - since).total_seconds() >= grace_s:
            return finish("Failed", reason, message, delete=True)
        if cond.lastTransitionTime == timestamp(now):
            obs.events.append(("Warning", reason, message))
        return obs
    started = _agent_started(pod)
    if started is not None and status.phase != "Running":
        status.phase = "Running"
        status.startTime = status.startTime or started or timestamp(now)
        status.conditions = set_condition(status.conditions, "Waiting", "False", "Started", "", now)
        obs.events.append(("Normal", "Started", f"the agent started in pod {_name(pod)}"))
    return obs


def _name(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", ""))
