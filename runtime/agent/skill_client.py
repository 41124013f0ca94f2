"""Finding skills and talking to them: `GrpcSkillClient` over a Unix socket (or TCP).

`connect_skills` waits (with watchfiles, not polling) for each expected skill's socket to
appear under `.podium/sockets/`, then for its gRPC health check to say SERVING, and names
every skill that is not ready when the deadline passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
import watchfiles
from grpc_health.v1 import health_pb2

from protos import DEADLINE_GRACE_S, GRPC_OPTIONS, timed_out
from protos import skill_pb2 as pb
from protos import skill_pb2_grpc as pb_grpc
from protos.approval import CALL_TOKEN_HEADER
from protos.schema import check_tool
from runtime.agent.base import ProgressCallback, SkillInfo, SkillTool, ToolAnnotations, ToolOutcome

_ERROR_KINDS = {v: k.lower() for k, v in pb.ToolResult.ErrorKind.items()}


class SkillNotReadyError(Exception):
    pass


class GrpcSkillClient:
    """One skill, over one gRPC channel."""

    def __init__(self, name: str, target: str, token: str | None = None) -> None:
        self.name = name
        self.target = target
        # The skill answers only callers that carry its call token (protos.approval).
        self._metadata = ((CALL_TOKEN_HEADER, token),) if token else ()
        self._channel = grpc.aio.insecure_channel(target, options=GRPC_OPTIONS)
        self._stub = pb_grpc.SkillStub(self._channel)
        self._health = self._channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )

    @classmethod
    def for_socket(cls, name: str, socket: Path, token: str | None = None) -> GrpcSkillClient:
        return cls(name, f"unix:{socket.absolute()}", token)

    async def serving(self, timeout: float) -> bool:
        """True once the skill's health check says SERVING."""
        try:
            reply = await self._health(
                health_pb2.HealthCheckRequest(), timeout=timeout, wait_for_ready=True
            )
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    async def describe(self) -> SkillInfo:
        d = await self._stub.Describe(pb.DescribeRequest(), timeout=10, metadata=self._metadata)
        tools: list[SkillTool] = []
        refused: list[tuple[str, str]] = []
        for t in d.tools:
            # One bad tool must not cost the skill its others, nor the model request its
            # validity (providers refuse a whole request over one bad function).
            try:
                schema = check_tool(t.name, t.input_schema_json)
            except ValueError as exc:
                refused.append((t.name, str(exc)))
                continue
            tools.append(
                SkillTool(
                    skill=self.name,
                    name=t.name,
                    description=t.description,
                    input_schema=schema,
                    annotations=ToolAnnotations(
                        t.annotations.read_only,
                        t.annotations.destructive,
                        t.annotations.idempotent,
                        t.annotations.open_world,
                    ),
                )
            )
        # Named as the run named it: two instances of one skill share a Describe name.
        return SkillInfo(
            name=self.name,
            version=d.version,
            instructions=d.instructions,
            tools=tuple(tools),
            dynamic_tools=d.dynamic_tools,
            warnings=tuple((w.source, w.message) for w in d.warnings),
            refused=tuple(refused),
        )

    async def invoke(
        self,
        call_id: str,
        tool: str,
        arguments: str,
        *,
        deadline: float | None,
        on_event: ProgressCallback | None = None,
        approval: str = "",
    ) -> ToolOutcome:
        """Run a tool call. `deadline` is a `time.monotonic()` value, this process's one
        clock (the wire carries Unix ms: converted here, and only here). The skill answers a
        call past its deadline with a TIMEOUT result; gRPC's own deadline comes
        DEADLINE_GRACE_S later, for a skill that cannot answer, and says the same. Cancelling
        the awaiting task cancels the call at the skill (gRPC propagates the cancellation).
        `approval` is a person's signed approval of exactly this call, when the policy asks
        for one."""
        budget = None if deadline is None else max(0.0, deadline - time.monotonic())
        request = pb.InvokeRequest(
            call_id=call_id,
            tool=tool,
            arguments_json=arguments,
            deadline_unix_ms=0 if budget is None else max(1, round((time.time() + budget) * 1000)),
            approval=approval,
        )
        timeout = None if budget is None else budget + DEADLINE_GRACE_S
        try:
            async for event in self._stub.Invoke(request, timeout=timeout, metadata=self._metadata):
                which = event.WhichOneof("event")
                if which == "result":
                    r = event.result
                    return ToolOutcome(
                        text=r.text,
                        is_error=r.is_error,
                        error_kind=_ERROR_KINDS.get(r.error_kind, ""),
                        structured=r.structured_json,
                        artifacts=tuple(r.artifacts),
                    )
                if on_event and which == "progress":
                    p = event.progress
                    total = f"/{p.total:g}" if p.total else ""
                    on_event("progress", f"{p.progress:g}{total} {p.message}".strip())
                elif on_event and which == "log":
                    on_event("log", f"{event.log.level}: {event.log.message}")
        except grpc.aio.AioRpcError as exc:
            return _rpc_error(self.name, tool, exc, budget)
        return ToolOutcome(
            text=f"skill {self.name!r} ended the call to {tool} without a result",
            is_error=True,
            error_kind="internal",
        )

    async def close(self) -> None:
        await self._channel.close()


def _rpc_error(
    skill: str, tool: str, exc: grpc.aio.AioRpcError, budget: float | None
) -> ToolOutcome:
    code = exc.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:  # the skill did not answer its own timeout
        text = timed_out(tool, budget or 0.0)
        return ToolOutcome(text=text, is_error=True, error_kind="timeout")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return ToolOutcome(
            text=f"skill {skill!r} stopped answering during {tool} (it may have crashed): "
            f"{exc.details()}",
            is_error=True,
            error_kind="unavailable",
        )
    return ToolOutcome(
        text=f"skill {skill!r} failed on {tool}: {code.name} {exc.details()}",
        is_error=True,
        error_kind="internal",
    )


async def connect_skills(
    sockets: Path,
    names: Sequence[str],
    timeout: float,
    tokens: Mapping[str, str] | None = None,
) -> dict[str, GrpcSkillClient]:
    """Wait for every named skill to be SERVING on `sockets/NAME.sock`; raise naming the
    ones that are not by `timeout` seconds."""
    deadline = time.monotonic() + timeout
    sockets.mkdir(parents=True, exist_ok=True)
    missing = {n for n in names if not (sockets / f"{n}.sock").exists()}
    if missing:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                # step=1 ms: a socket appearing is noticed in ~2 ms rather than ~80 ms; the
                # 50 ms timeout re-checks in case it appeared before the watch began.
                watch = watchfiles.awatch(  # pyright: ignore[reportUnknownMemberType]
                    sockets,
                    step=1,
                    debounce=50,
                    rust_timeout=50,
                    yield_on_timeout=True,
                    watch_filter=None,
                    recursive=False,
                )
                async for _ in watch:
                    missing = {n for n in missing if not (sockets / f"{n}.sock").exists()}
                    if not missing:
                        break
        if missing:
            raise SkillNotReadyError(_not_ready(missing, sockets, timeout, "no socket"))
    tokens = tokens or {}
    clients = {
        n: GrpcSkillClient.for_socket(n, sockets / f"{n}.sock", tokens.get(n)) for n in names
    }
    remaining = max(0.1, deadline - time.monotonic())
    ready = await asyncio.gather(*(c.serving(remaining) for c in clients.values()))
    unhealthy = {n for n, ok in zip(clients, ready, strict=True) if not ok}
    if unhealthy:
        await asyncio.gather(*(c.close() for c in clients.values()))
        raise SkillNotReadyError(
            _not_ready(unhealthy, sockets, timeout, "socket present but not SERVING")
        )
    return clients


def _not_ready(names: set[str], sockets: Path, timeout: float, why: str) -> str:
    listed = ", ".join(sorted(names))
    return (
        f"skill(s) not ready after {timeout:g}s: {listed} ({why} in {sockets}); "
        "check that each skill started and look at its log"
    )
