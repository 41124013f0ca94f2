"""The run's control service: how the controller reaches a running pod (`protos/control.proto`).

Why a sidecar of its own (`podium-control`, a native sidecar from the agent's image running
`podium control serve`), and not part of the agent or a skill:

- the agent holds no cluster credential and cannot watch the API, and mounted volumes update
  only after a delay, so something in the pod must listen; in the agent's container it would
  hand the agent the control token, and in a skill's it would share that skill's
  credentials with a second job;
- it holds one secret, the run's **control token** (from the keys Secret, into this container
  only), and no approval key: the controller signs approvals, the skills verify them, so a
  decision passing through here cannot be changed into another one;
- it listens on TCP (`--port`, the controller's `controlPort`, 7070 by default) because the
  controller is in another pod; the run's NetworkPolicy admits that port from the controller's
  pods only, and every call must carry `authorization: Bearer CONTROL_TOKEN` (constant-time
  comparison), so neither another pod nor another container of this one (which share its
  network namespace) can use it. SO_REUSEPORT is off, so no other process of the pod can bind
  the same port beside it.

What it does: it follows the agent's event log (`.podium/events.jsonl`): `approval_requested`
makes a call pending, `approval_decided` ends it, `run_finished` ends the run. `Watch` streams
that state (at once, then on every change); `Decide` writes the controller's signed decision to
`.podium/approvals/NUMBER.json`, where the agent's `FileApprover` is waiting. The agent could
write either file itself, and gains nothing by it: a pending call it makes up only asks a
person, and a decision file it writes carries no valid signature.

Later, cancel and follow-up messages are more RPCs on this same service and token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import grpc
import watchfiles

from protos import control_pb2 as pb
from protos import control_pb2_grpc as pb_grpc
from protos.approval import ApprovalError, arguments_digest
from protos.handoff import make_undumpable, take_secrets
from runtime.layout import RunPaths, write_atomic

__all__ = ["CONTROL_TOKEN_ENV", "DEFAULT_PORT", "ControlService", "RunFollower", "main", "serve"]

CONTROL_TOKEN_ENV = "PODIUM_CONTROL_TOKEN"  # noqa: S105 (a variable's name)
DEFAULT_PORT = 7070
MAX_PENDING = 64
"""At most this many waiting calls are reported (the agent's own requests: bounded)."""
MAX_DECIDED = 64
log = logging.getLogger("podium.control")


class RunFollower:
    """The state the controller acts on, from the agent's event log as it grows."""

    def __init__(self, paths: RunPaths) -> None:
        self.paths = paths
        self.pending: dict[int, pb.PendingApproval] = {}
        self.decided: list[pb.DecidedApproval] = []
        self.delivered: set[int] = set()
        """Calls this service wrote a decision for (a second Decide is refused)."""
        self.finished = False
        self.version = 0
        self.changed = asyncio.Condition()
        self._offset = 0
        self._partial = b""

    def state(self) -> pb.RunState:
        pending = sorted(self.pending.values(), key=lambda p: p.number)[:MAX_PENDING]
        return pb.RunState(
            pending=pending, decided=self.decided[-MAX_DECIDED:], finished=self.finished
        )

    def poll(self) -> bool:
        """Read what was appended since last time; True when the state changed."""
        try:
            with self.paths.events.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self._offset:  # a new log (the agent truncates it when it starts)
                    self._reset()
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return False
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for its end
        changed = False
        for line in lines:
            with contextlib.suppress(ValueError):
                event: object = json.loads(line)
                if isinstance(event, dict):
                    changed |= self._apply(cast(dict[str, Any], event))
        if changed:
            self.version += 1
        return changed

    def _reset(self) -> None:
        self.pending.clear()
        self.decided.clear()
        self.delivered.clear()
        self.finished = False
        self._offset = 0
        self._partial = b""

    def _apply(self, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind == "approval_requested":
            args = str(event.get("arguments", ""))
            try:
                digest = arguments_digest(args)
            except ApprovalError:
                digest = ""  # no approval can match it; a person may still deny it
            number = int(event.get("number", 0))
            self.pending[number] = pb.PendingApproval(
                number=number,
                call_id=str(event.get("id", "")),
                tool=str(event.get("name", "")),
                skill=str(event.get("skill", "")),
                arguments_json=args,
                arguments_sha256=digest,
                reason=str(event.get("reason", "")),
                since=float(event.get("ts", 0.0)),
                timeout_s=float(event.get("timeout_s", 0.0)),
            )
            return True
        if kind == "approval_decided":
            number = int(event.get("number", 0))
            self.pending.pop(number, None)
            self.decided.append(
                pb.DecidedApproval(
                    number=number,
                    call_id=str(event.get("id", "")),
                    tool=str(event.get("name", "")),
                    outcome=str(event.get("decision", "")),
                    by=str(event.get("by", "")),
                    reason=str(event.get("reason", "")),
                    at=float(event.get("ts", 0.0)),
                )
            )
            return True
        if kind == "run_finished":
            self.finished = True
            self.pending.clear()
            return True
        return False

    async def follow(self) -> None:
        """Poll the log on every change of `.podium/` (and at least every 200 ms)."""
        self.paths.podium.mkdir(parents=True, exist_ok=True)
        watch = watchfiles.awatch(  # pyright: ignore[reportUnknownMemberType]
            self.paths.podium,
            step=1,
            debounce=2,
            rust_timeout=200,
            yield_on_timeout=True,
            watch_filter=None,
            recursive=False,
        )
        await self._notify()
        async for _ in watch:
            if self.poll():
                await self._notify()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


class ControlService(pb_grpc.ControlServicer):
    def __init__(self, follower: RunFollower, token: str) -> None:
        self.follower = follower
        self._token = token.encode()

    async def _check(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        given = dict(context.invocation_metadata() or ()).get("authorization", "")
        if isinstance(given, bytes):
            given = given.decode(errors="replace")
        scheme, _, token = str(given).partition(" ")
        ok = bool(self._token) and scheme.lower() == "bearer"
        if not (hmac.compare_digest(token.encode(), self._token) and ok):
            log.warning("control: refused a caller without the run's control token (%s)",
                        context.peer())  # fmt: skip
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "the run's control token is "
                                "required")  # fmt: skip

    async def Watch(
        self, request: pb.WatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.RunState]:
        await self._check(context)
        follower = self.follower
        follower.poll()
        seen = [-1]
        while True:
            async with follower.changed:
                await follower.changed.wait_for(lambda: follower.version != seen[0])
                seen[0] = follower.version
                state = follower.state()
            yield state
            if state.finished:
                return

    async def Decide(
        self, request: pb.Decision, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.DecideReply:
        await self._check(context)
        follower = self.follower
        follower.poll()
        call = next((p for p in follower.pending.values() if p.call_id == request.call_id), None)
        if call is None or call.number in follower.delivered:
            if call is not None or any(d.call_id == request.call_id for d in follower.decided):
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                    f"call {request.call_id} was already decided")  # fmt: skip
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"no call {request.call_id} waits for approval")  # fmt: skip
        assert call is not None
        if request.approve and not request.token:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an approval needs its token")
        record = {
            "decision": "approve" if request.approve else "deny",
            "by": request.by,
            "reason": request.reason,
        }
        if request.approve:
            record["token"] = request.token
        write_atomic(follower.paths.approvals / f"{call.number}.json", json.dumps(record))
        follower.delivered.add(call.number)
        log.info("control: delivered %s of call %s (%s) by %s", record["decision"],
                 call.call_id, call.tool, request.by or "?")  # fmt: skip
        return pb.DecideReply(number=call.number)


async def serve(
    workspace: Path,
    token: str,
    port: int,
    host: str = "0.0.0.0",  # noqa: S104 (the controller is in another pod)
    stop: asyncio.Event | None = None,
    bound: asyncio.Future[int] | None = None,
) -> None:
    """Serve until `stop` is set (or the task is cancelled)."""
    follower = RunFollower(RunPaths(workspace))
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_ControlServicer_to_server(ControlService(follower, token), server)
    actual = server.add_insecure_port(f"{host}:{port}")
    if actual == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    await server.start()
    if bound is not None:
        bound.set_result(actual)
    following = asyncio.create_task(follower.follow())
    try:
        if stop is None:
            await server.wait_for_termination()
        else:
            await stop.wait()
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await server.stop(grace=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="podium control",
        description="The run's control service (what a cluster run's podium-control sidecar "
        "runs): the controller's channel for approvals.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("serve", help="serve the control service of the run in WORKSPACE")
    run.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default 7070)")
    run.add_argument(
        "--host", default="0.0.0.0",  # noqa: S104
        help="address to listen on (default all: the controller is in another pod)",
    )  # fmt: skip
    run.add_argument(
        "--workspace",
        type=Path,
        default=Path(os.environ.get("PODIUM_WORKSPACE", "/workspace")),
        help="the run's workspace (default: $PODIUM_WORKSPACE or /workspace)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # a line per change otherwise
    make_undumpable()
    token = take_secrets(CONTROL_TOKEN_ENV).get(CONTROL_TOKEN_ENV, "")
    if not token:
        print(f"podium control: {CONTROL_TOKEN_ENV} is not set: refusing to serve an "
              "unauthenticated control channel", file=sys.stderr)  # fmt: skip
        return 2

    async def run_until_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(args.workspace, token, args.port, args.host, stop)

    try:
        asyncio.run(run_until_signal())
    except OSError as exc:
        print(f"podium control: {exc}", file=sys.stderr)
        return 2
    return 0
