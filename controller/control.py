"""The controller's side of each run's control channel (`protos/control.proto`; the pod's side
is runtime.control).

One `ControlHub` keeps one gRPC stream open per running run (`Watch`, to the pod IP and the
`controlPort`, authenticated with the run's control token) and holds the latest state it
sent; each new state queues the run for a reconcile, and the reconciler alone writes the
AgentRun's status (`status.pendingApprovals`, `status.approvals`): one writer per run. A
restarted controller opens the stream again and gets the whole state at once: nothing is
kept but what the pod reports now.

What the pod reports is untrusted input: at most 32 pending calls are shown, each string
cut, arguments with secret-looking values redacted (`skills._redact`) before they reach the
status. The approval the controller signs is bound to the argument digest the person saw.

gRPC lives in this module only (the import-linter contract allows it here): the channel is
gRPC like the skills', with deadlines, streaming and status codes for free.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import grpc

from controller.crd.models import AgentRun, AgentRunStatus, ApprovalRecord, PendingApproval
from controller.runner import Key
from protos import control_pb2 as pb
from protos import control_pb2_grpc as pb_grpc
from protos.approval import sign

__all__ = [
    "ControlError",
    "ControlHub",
    "Synced",
    "pending_from_state",
    "redact_arguments",
    "sync_approvals",
]

log = logging.getLogger("podium.controller")
MAX_PENDING = 32
MAX_ARGUMENTS = 2048
DECIDE_TIMEOUT_S = 10.0
OUTCOMES = {"approved": "Approved", "denied": "Denied", "timed_out": "TimedOut"}


class ControlError(Exception):
    """A decision the pod did not take: `code` is the gRPC status name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Channel:
    address: str
    token: str
    channel: grpc.aio.Channel
    task: asyncio.Task[None] | None = None
    state: pb.RunState | None = None
    errors: int = 0
    refused: bool = False
    """The pod refused our token (UNAUTHENTICATED)."""

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


@dataclass
class ControlHub:
    """One stream per running run; `changed(key)` is called on every new state."""

    changed: Callable[[Key], None] = lambda key: None
    channels: dict[Key, _Channel] = field(default_factory=lambda: {})

    def ensure(self, key: Key, address: str, token: str) -> None:
        """Follow the run at `address` (idempotent; a new address or token starts again)."""
        current = self.channels.get(key)
        if current is not None and (current.address, current.token) == (address, token):
            return
        self.drop(key)
        channel = _Channel(address, token, grpc.aio.insecure_channel(address))
        self.channels[key] = channel
        channel.task = asyncio.create_task(self._follow(key, channel))

    def state(self, key: Key) -> pb.RunState | None:
        channel = self.channels.get(key)
        return channel.state if channel else None

    def drop(self, key: Key) -> None:
        channel = self.channels.pop(key, None)
        if channel is None:
            return
        if channel.task is not None:
            channel.task.cancel()
        task = asyncio.create_task(channel.channel.close())
        task.add_done_callback(lambda _: None)

    async def close(self) -> None:
        for key in list(self.channels):
            self.drop(key)
        await asyncio.sleep(0)

    async def _follow(self, key: Key, ch: _Channel) -> None:
        stub = pb_grpc.ControlStub(ch.channel)
        while True:
            try:
                stream = stub.Watch(pb.WatchRequest(), metadata=ch.metadata)
                async for state in stream:
                    ch.state, ch.errors, ch.refused = state, 0, False
                    self.changed(key)
                    if state.finished:
                        return
                ch.errors += 1  # closed before the run finished (the sidecar restarted?)
                await asyncio.sleep(min(2.0, 0.05 * 2 ** min(ch.errors, 6)))
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                ch.errors += 1
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED and not ch.refused:
                    ch.refused = True
                    log.warning("control channel of %s/%s refused our token", key.namespace,
                                key.name)  # fmt: skip
                await asyncio.sleep(min(2.0, 0.05 * 2 ** min(ch.errors, 6)))

    async def decide(self, key: Key, decision: pb.Decision) -> int:
        """Deliver one decision; the call's number, or ControlError."""
        ch = self.channels.get(key)
        if ch is None:
            raise ControlError("UNAVAILABLE", "no control channel to the run's pod")
        stub = pb_grpc.ControlStub(ch.channel)
        try:
            reply: pb.DecideReply = await stub.Decide(
                decision, metadata=ch.metadata, timeout=DECIDE_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise ControlError(exc.code().name, str(exc.details() or exc.code().name)) from None
        return int(reply.number)


# ---------------------------------------------------------------- status projection


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time(unix: float) -> str | None:
    if unix <= 0:
        return None
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def redact_arguments(arguments_json: str) -> str:
    """The arguments as a person may see them in the status: secret-looking values (and
    Secrets inside manifests) replaced by `<redacted>`, cut to fit."""
    from skills._redact import Redactor

    redactor = Redactor()
    try:
        data: Any = json.loads(arguments_json or "{}")
    except ValueError:
        return _cut("(arguments that are not JSON)", MAX_ARGUMENTS)
    data = redactor.values(data)
    if isinstance(data, dict):
        items = cast(dict[str, Any], data).items()
        data = {
            k: redactor.manifest(v) if isinstance(v, str) and "kind:" in v else v for k, v in items
        }
    return _cut(json.dumps(data, sort_keys=True, ensure_ascii=False), MAX_ARGUMENTS)


def pending_from_state(state: pb.RunState) -> list[PendingApproval]:
    return [
        PendingApproval(
            number=int(p.number),
            callId=_cut(p.call_id, 256),
            tool=_cut(p.tool, 256),
            skill=_cut(p.skill, 256),
            arguments=redact_arguments(p.arguments_json),
            argumentsSha256=_cut(p.arguments_sha256, 64),
            reason=_cut(p.reason, 1024),
            since=_time(p.since),
            timeoutSeconds=p.timeout_s or None,
        )
        for p in list(state.pending)[:MAX_PENDING]
    ]


def outcome_record(decided: pb.DecidedApproval) -> ApprovalRecord | None:
    outcome = OUTCOMES.get(decided.outcome)
    if outcome is None:
        return None
    return ApprovalRecord.model_validate(
        {
            "number": int(decided.number),
            "callId": _cut(decided.call_id, 256),
            "tool": _cut(decided.tool, 256),
            "decision": outcome,
            "by": _cut(decided.by, 256),
            "reason": _cut(decided.reason, 1024),
            "time": _time(decided.at),
        }
    )


# ---------------------------------------------------------------- one reconcile's share


@dataclass
class Synced:
    events: list[tuple[str, str, str]] = field(default_factory=lambda: [])
    """(Normal|Warning, reason, message) to record on the run."""
    retry: bool = False
    """A decision could not be delivered yet: look again soon."""


def _pod_address(pods: list[dict[str, Any]], port: int) -> str | None:
    for pod in reversed(pods):  # the newest pod (sorted by creation)
        status: dict[str, Any] = pod.get("status") or {}
        ip = str(status.get("podIP") or "")
        if ip and status.get("phase") in ("Pending", "Running"):
            return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    return None


async def sync_approvals(
    hub: ControlHub,
    run: AgentRun,
    status: AgentRunStatus,
    pods: list[dict[str, Any]],
    port: int,
    approval_key: str,
    control_token: str,
    now: datetime,
) -> Synced:
    """Project the pod's approval state onto `status` and deliver `spec.decisions` not yet
    delivered (signing approvals with the run's key). `status` is changed in place."""
    synced = Synced()
    key = Key("AgentRun", run.namespace, run.name)
    address = _pod_address(
        sorted(pods, key=lambda p: p.get("metadata", {}).get("creationTimestamp") or ""), port
    )
    if address is not None:  # else the pod has ended: what it last said still counts
        hub.ensure(key, address, control_token)
    state = hub.state(key)
    if state is None:
        return synced
    done = {r.callId for r in status.approvals}
    for decided in state.decided:
        record = outcome_record(decided)
        if record is None or record.callId in done or record.decision != "TimedOut":
            continue
        status.approvals.append(record)
        done.add(record.callId)
        message = f"nobody decided {record.tool} (call {record.callId}) in time"
        synced.events.append(("Warning", "ApprovalTimedOut", message))
    pending = [p for p in pending_from_state(state) if p.callId not in done]
    for decision in run.spec.decisions:
        call = next((p for p in pending if decision.call in (p.callId, str(p.number))), None)
        if call is None:
            continue  # decided already, or not (yet) waiting
        approve = decision.decision == "approve"
        token = ""
        if approve:
            token = sign(approval_key, run_id=run.name, call_id=call.callId, tool=call.tool,
                         arguments_json="", args_sha256=call.argumentsSha256,
                         by=decision.by)  # fmt: skip
        message = pb.Decision(call_id=call.callId, approve=approve, token=token,
                              by=decision.by, reason=decision.reason)  # fmt: skip
        try:
            await hub.decide(key, message)
        except ControlError as exc:
            if exc.code != "FAILED_PRECONDITION":  # not there yet: again soon
                log.info("decision on %s for %s/%s not delivered: %s", call.callId,
                         run.namespace, run.name, exc)  # fmt: skip
                synced.retry = True
                continue
        verb = "Approved" if approve else "Denied"
        status.approvals.append(
            ApprovalRecord(
                number=call.number,
                callId=call.callId,
                tool=call.tool,
                decision=verb,
                by=decision.by,
                reason=decision.reason,
                time=_time(now.timestamp()),
            )
        )
        done.add(call.callId)
        why = f": {decision.reason}" if decision.reason else ""
        synced.events.append(("Normal", f"Approval{'Granted' if approve else 'Denied'}",
                              f"{decision.by or 'someone'} {verb.lower()} {call.tool} "
                              f"(call {call.callId}){why}"))  # fmt: skip
    status.pendingApprovals = [p for p in pending if p.callId not in done]
    status.approvals = status.approvals[-256:]
    return synced
