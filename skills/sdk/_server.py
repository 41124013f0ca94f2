"""Serve a Skill over gRPC (Unix socket or TCP), with the standard health service.

Start-up order matters: the skill's lifespan runs first, then the socket is bound, then
health turns SERVING, so an agent that sees the socket never talks to a half-started skill.
On SIGTERM health turns NOT_SERVING, in-flight calls get a grace period, then are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Protocol, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from protos import GRPC_OPTIONS
from protos import skill_pb2 as pb
from protos import skill_pb2_grpc as pb_grpc
from protos.handoff import make_undumpable
from skills.sdk._context import Context
from skills.sdk._guard import Guard
from skills.sdk._run_spec import run_spec
from skills.sdk._skill import Skill

# Linux's limit for a Unix socket path (sun_path is 108 bytes, including the NUL).
MAX_SOCKET_PATH = 107


class _Health(Protocol):
    """The part of grpc_health's (untyped) asyncio servicer we use."""

    async def set(self, service: str, status: int) -> None: ...
    async def enter_graceful_shutdown(self) -> None: ...


class _Servicer(pb_grpc.SkillServicer):
    def __init__(self, skill: Skill, workspace: Path, run_id: str, guard: Guard) -> None:
        self.skill = skill
        self.workspace = workspace
        self.run_id = run_id
        self.guard = guard

    async def _authenticate(self, context: grpc.aio.ServicerContext[object, object]) -> None:
        metadata = {k: v for k, v in context.invocation_metadata() or ()}
        if not self.guard.authorised(metadata):
            self.skill.log.warning("policy: refused a call without this skill's call token")
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "this skill answers only its run's agent"
            )

    async def Describe(  # gRPC's method name
        self, request: pb.DescribeRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.SkillDescription:
        await self._authenticate(context)
        return self.skill.describe()

    # grpc.aio lets a streaming handler write with context.write() instead of yielding;
    # the generated base class only knows the generator form.
    async def Invoke(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, request: pb.InvokeRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> None:
        # The tool runs in this handler's own task (no extra task or queue: this is the hot
        # path), so a client cancel cancels the tool directly. Progress events are written
        # in order by a chain of small write tasks, which the result waits for.
        await self._authenticate(context)
        tool = self.skill.tools.get(request.tool)
        refusal = None if tool is None else self.guard.admit(request, tool.annotations)
        if refusal is not None:
            await context.write(pb.InvokeEvent(result=refusal))
            return
        deadline = None
        if request.deadline_unix_ms:
            deadline = time.monotonic() + max(0.0, request.deadline_unix_ms / 1000 - time.time())
        tail: asyncio.Task[None] | None = None

        def emit(event: pb.InvokeEvent) -> None:
            nonlocal tail
            tail = asyncio.ensure_future(_write_after(tail, context, event))

        ctx = Context(
            workspace=self.workspace,
            run_id=request.run_id or self.run_id,
            call_id=request.call_id,
            log=self.skill.log,
            deadline=deadline,
            _emit=emit,
        )
        try:
            result = await self.skill.call(request, ctx)
            if tail is not None:
                await tail
            await context.write(pb.InvokeEvent(result=result))
        finally:
            if tail is not None and not tail.done():
                tail.cancel()


async def _write_after(
    previous: asyncio.Task[None] | None,
    context: grpc.aio.ServicerContext[object, object],
    event: pb.InvokeEvent,
) -> None:
    if previous is not None:
        with contextlib.suppress(Exception):
            await previous
    with contextlib.suppress(Exception):  # the client may be gone; the result says the rest
        await context.write(event)


async def serve(
    skill: Skill,
    *,
    socket: Path | None = None,
    port: int | None = None,
    host: str = "127.0.0.1",
    workspace: Path | None = None,
    run_id: str | None = None,
    stop: asyncio.Event | None = None,
    grace: float = 5.0,
    guard: Guard | None = None,
) -> None:
    """Serve `skill` until `stop` is set (or SIGTERM/SIGINT when `stop` is None).

    `guard` says what the skill enforces; by default it comes from the environment the
    launcher gave (call token, approval key, the run spec's policy)."""
    if (socket is None) == (port is None):
        raise ValueError("give exactly one of socket or port")
    workspace = workspace or Path(os.environ.get("PODIUM_WORKSPACE", "/workspace"))
    # The run's spec is read (and checked) before serving: tools see it as `ctx.run_spec`.
    spec = run_spec()
    run_id = run_id or os.environ.get("PODIUM_RUN_ID") or str(spec.get("run_id") or "local")
    if socket is not None and len(str(socket.absolute())) > MAX_SOCKET_PATH:
        raise ValueError(
            f"socket path is longer than {MAX_SOCKET_PATH} bytes: {socket} "
            "(use a shorter workspace path)"
        )
    stop = stop or _stop_on_signals()
    if guard is None:
        make_undumpable()  # this process holds the run's secrets: keep /proc out of it
        guard = Guard.from_environment(run_id, workspace)
    if guard.call_token is None:
        skill.log.warning("skill %s has no call token: any local process may call it", skill.name)
    async with skill.running():
        server = grpc.aio.server(options=GRPC_OPTIONS)
        pb_grpc.add_SkillServicer_to_server(_Servicer(skill, workspace, run_id, guard), server)
        # grpc_health ships no types for its asyncio servicer; it is used in these lines only.
        health_servicer = cast(_Health, health.aio.HealthServicer())  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)  # pyright: ignore[reportUnknownMemberType]
        if socket is not None:
            socket.parent.mkdir(parents=True, exist_ok=True)
            socket.unlink(missing_ok=True)
            server.add_insecure_port(f"unix:{socket.absolute()}")
        else:
            server.add_insecure_port(f"{host}:{port}")
        await server.start()
        for service in ("", "podium.skill.v1.Skill"):
            await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        skill.log.info("skill %s serving on %s", skill.name, socket or f"{host}:{port}")
        try:
            await stop.wait()
        finally:
            await health_servicer.enter_graceful_shutdown()
            await server.stop(grace)
            if socket is not None:
                socket.unlink(missing_ok=True)
            skill.log.info("skill %s stopped", skill.name)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def serve_forever(skill: Skill, **kwargs: object) -> None:
    """Blocking form of `serve`, for a skill file's `if __name__ == "__main__":`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(skill, **kwargs))  # pyright: ignore[reportArgumentType]
