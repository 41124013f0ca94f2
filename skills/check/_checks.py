"""The conformance checks, run against a sidecar listening on a Unix socket.

Each check adds a `Finding` (pass, warn, fail or skip) to the report; nothing here raises for
a misbehaving sidecar, so one broken tool never hides what the others do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import grpc
from grpc_health.v1 import health_pb2

from protos import GRPC_OPTIONS
from protos import skill_pb2 as pb
from protos import skill_pb2_grpc as pb_grpc
from protos.approval import CALL_TOKEN_HEADER
from protos.schema import SKILL_NAME_RE, TOOL_NAME_RE, compile_schema
from skills.check._arguments import (
    BrokenCall,
    CannotGenerateError,
    broken_calls,
    valid_arguments,
)
from skills.check._token import UNKNOWN_TOOL, check_call_token

Status = Literal["pass", "warn", "fail", "skip"]
KIND = pb.ToolResult.ErrorKind
KIND_NAMES = {v: k for k, v in KIND.items()}


@dataclass
class Finding:
    check: str
    status: Status
    detail: str = ""
    duration_ms: float | None = None


@dataclass
class Report:
    target: str
    skill: str = ""
    version: str = ""
    tools: int = 0
    findings: list[Finding] = field(default_factory=lambda: list[Finding]())
    duration_s: float = 0.0
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        return not any(f.status == "fail" for f in self.findings)

    def add(
        self, check: str, status: Status, detail: str = "", duration_ms: float | None = None
    ) -> None:
        self.findings.append(Finding(check, status, detail, duration_ms))

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "warn": 0, "fail": 0, "skip": 0}
        for f in self.findings:
            out[f.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "skill": self.skill,
            "version": self.version,
            "tools": self.tools,
            "ok": self.ok,
            "counts": self.counts(),
            "duration_s": round(self.duration_s, 3),
            "findings": [asdict(f) for f in self.findings],
            "log_tail": self.log_tail,
        }


@dataclass(frozen=True)
class CheckOptions:
    ready_timeout_s: float = 30.0
    """How long to wait for the sidecar's health check to say SERVING."""
    call_timeout_s: float = 20.0
    """Deadline given to each call (deadline_unix_ms); a result must come by then."""
    skip_destructive: bool = False
    """Do not invoke tools annotated destructive."""


@dataclass
class _Call:
    results: list[pb.ToolResult] = field(default_factory=lambda: list[pb.ToolResult]())
    events_after_result: int = 0
    progress: int = 0
    rpc_error: str = ""
    ms: float = 0.0


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


class SocketChecker:
    """Runs every check against one socket, filling `report`."""

    def __init__(
        self,
        socket: Path,
        report: Report,
        options: CheckOptions,
        alive: Callable[[], bool] = lambda: True,
        call_token: str | None = None,
    ) -> None:
        self.report = report
        self.options = options
        self.alive = alive
        self.call_token = call_token
        self.md: tuple[tuple[str, str], ...] = (
            ((CALL_TOKEN_HEADER, call_token),) if call_token else ()
        )
        self.channel = grpc.aio.insecure_channel(f"unix:{socket.absolute()}", options=GRPC_OPTIONS)
        self.stub = pb_grpc.SkillStub(self.channel)
        self.health = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )

    async def close(self) -> None:
        await self.channel.close()

    # ------------------------------------------------------------ health and Describe

    async def check_health(self) -> bool:
        started = time.perf_counter()
        deadline = time.monotonic() + self.options.ready_timeout_s
        status, error = "", ""
        while time.monotonic() < deadline:
            if not self.alive():
                error = "the sidecar exited before it answered"
                break
            try:
                reply = await self.health(
                    health_pb2.HealthCheckRequest(),
                    timeout=max(0.1, min(0.5, deadline - time.monotonic())),
                    wait_for_ready=True,
                )
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.aio.AioRpcError as exc:
                error = f"{exc.code().name}: {exc.details()}"
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    break  # no health service at all: waiting will not help
            await asyncio.sleep(0.05)
        if status != "SERVING":
            self.report.add(
                "health",
                "fail",
                f"grpc.health.v1 Check did not answer SERVING "
                f"({status or error or 'no answer'}; waited up to "
                f"{self.options.ready_timeout_s:g}s)",
                _ms(started),
            )
            return False
        self.report.add("health", "pass", "SERVING", _ms(started))
        try:
            named = await self.health(
                health_pb2.HealthCheckRequest(service="podium.skill.v1.Skill"), timeout=5
            )
            if named.status != health_pb2.HealthCheckResponse.SERVING:
                self.report.add("health of podium.skill.v1.Skill", "warn", "not SERVING")
        except grpc.aio.AioRpcError as exc:
            self.report.add(
                "health of podium.skill.v1.Skill", "warn", f"{exc.code().name} (serve it too)"
            )
        return True

    async def describe(self) -> pb.SkillDescription | None:
        started = time.perf_counter()
        try:
            d = await self.stub.Describe(pb.DescribeRequest(), timeout=10, metadata=self.md)
        except grpc.aio.AioRpcError as exc:
            self.report.add("describe", "fail", f"{exc.code().name}: {exc.details()}", _ms(started))
            return None
        r = self.report
        r.skill, r.version, r.tools = d.name, d.version, len(d.tools)
        if SKILL_NAME_RE.match(d.name):
            r.add("describe", "pass", f"{d.name} {d.version}: {len(d.tools)} tools", _ms(started))
        else:
            r.add(
                "describe",
                "fail",
                f"skill name {d.name!r} is not a DNS label (lowercase letters, digits, '-')",
                _ms(started),
            )
        if not d.version:
            r.add("describe: version", "warn", "empty")
        if not d.tools:
            r.add("describe: tools", "warn", "the skill offers no tools")
        for w in d.warnings:
            r.add("describe: warning", "warn", f"{w.source}: {w.message}")
        return d

    def tool_schemas(self, d: pb.SkillDescription) -> dict[str, dict[str, Any]]:
        """Check each tool's name, schema and annotations; the tools that can be called."""
        usable: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        for tool in d.tools:
            label = f"tool {tool.name or '(no name)'}"
            problems: list[str] = []
            if not TOOL_NAME_RE.match(tool.name):
                problems.append(f"name {tool.name!r} does not match {TOOL_NAME_RE.pattern}")
            if tool.name in seen:
                problems.append("the name is used twice")
            seen.add(tool.name)
            a = tool.annotations
            if a.read_only and a.destructive:
                problems.append("annotated both read_only and destructive")
            schema: Any = None
            try:
                schema = json.loads(tool.input_schema_json)
                compile_schema(schema)
            except json.JSONDecodeError as exc:
                problems.append(f"input_schema_json is not JSON: {exc}")
            except ValueError as exc:
                problems.append(str(exc))
            if problems:
                self.report.add(label, "fail", "; ".join(problems))
                continue
            if not tool.description.strip():
                self.report.add(label, "warn", "no description: the model sees only the name")
            else:
                self.report.add(label, "pass", _annotations(a))
            usable[tool.name] = cast(dict[str, Any], schema)
        return usable

    # ------------------------------------------------------------ Invoke

    async def call(self, tool: str, arguments: str) -> _Call:
        out = _Call()
        deadline = time.time() + self.options.call_timeout_s
        request = pb.InvokeRequest(
            call_id=f"check-{time.monotonic_ns()}",
            tool=tool,
            arguments_json=arguments,
            deadline_unix_ms=int(deadline * 1000),
            run_id="podium-check",
        )
        started = time.perf_counter()
        try:
            stream = self.stub.Invoke(
                request, timeout=self.options.call_timeout_s + 5, metadata=self.md
            )
            async for event in stream:
                which = event.WhichOneof("event")
                if out.results:
                    out.events_after_result += 1
                if which == "result":
                    out.results.append(event.result)
                elif which == "progress":
                    out.progress += 1
        except grpc.aio.AioRpcError as exc:
            out.rpc_error = f"{exc.code().name}: {exc.details()}"
        out.ms = _ms(started)
        return out

    def _shape(self, c: _Call) -> str:
        """What is wrong with the call's stream as such, or ''."""
        if c.rpc_error:
            return f"the call failed in gRPC ({c.rpc_error}) instead of ending with a result"
        if not c.results:
            return "the stream ended without a result"
        if len(c.results) > 1:
            return f"{len(c.results)} results (exactly one expected)"
        if c.events_after_result:
            return f"{c.events_after_result} events after the result"
        r = c.results[0]
        if r.is_error != (r.error_kind != KIND.NONE):
            return f"is_error={r.is_error} with error_kind {KIND_NAMES.get(r.error_kind)}"
        return ""

    async def valid_call(self, tool: str, schema: dict[str, Any], full: bool) -> dict[str, Any]:
        label = f"{tool}: {'every field' if full else 'required fields'} from the schema"
        try:
            args = valid_arguments(schema, full=full)
        except CannotGenerateError as exc:
            self.report.add(label, "skip", f"could not make arguments: {exc}")
            return {}
        c = await self.call(tool, json.dumps(args))
        wrong = self._shape(c)
        kind = KIND_NAMES.get(c.results[0].error_kind, "?") if c.results else ""
        text = c.results[0].text[:160] if c.results else ""
        if wrong:
            self.report.add(label, "fail", wrong, c.ms)
        elif kind in ("NONE", "TOOL"):
            self.report.add(label, "pass", f"{kind} {_short(text)}", c.ms)
        elif kind == "TIMEOUT":
            self.report.add(label, "warn", f"TIMEOUT {_short(text)}", c.ms)
        else:
            why = {
                "INVALID_ARGUMENTS": "the skill refuses arguments its own schema allows",
                "INTERNAL": "a bug in the skill",
                "UNKNOWN_TOOL": "the skill does not know a tool it describes",
            }.get(kind, "unexpected")
            self.report.add(label, "fail", f"{kind} ({why}): {_short(text)}", c.ms)
        return args

    async def broken_call(self, tool: str, broken: BrokenCall) -> None:
        label = f"{tool}: {broken.label}"
        c = await self.call(tool, broken.arguments_json)
        wrong = self._shape(c)
        if wrong:
            self.report.add(label, "fail", wrong, c.ms)
            return
        r = c.results[0]
        kind = KIND_NAMES.get(r.error_kind, "?")
        if kind == "INVALID_ARGUMENTS":
            self.report.add(label, "pass", f"INVALID_ARGUMENTS {_short(r.text)}", c.ms)
        elif kind == "TOOL" and not broken.strict:
            self.report.add(label, "warn", "TOOL error, INVALID_ARGUMENTS expected", c.ms)
        else:
            self.report.add(label, "fail", f"{kind} (INVALID_ARGUMENTS expected)", c.ms)

    async def unknown_tool(self) -> None:
        c = await self.call(UNKNOWN_TOOL, "{}")
        wrong = self._shape(c)
        kind = KIND_NAMES.get(c.results[0].error_kind, "?") if c.results else ""
        if wrong:
            self.report.add("unknown tool", "fail", wrong, c.ms)
        elif kind != "UNKNOWN_TOOL":
            self.report.add("unknown tool", "fail", f"{kind} (UNKNOWN_TOOL expected)", c.ms)
        else:
            self.report.add("unknown tool", "pass", "UNKNOWN_TOOL", c.ms)

    async def cancellation(self, calls: dict[str, dict[str, Any]]) -> None:
        """Cancel a call to each tool mid-flight (after its first event, or 100 ms); the
        sidecar must keep serving: health, Describe and a new call answer within 5 s."""
        if not calls:
            self.report.add("cancellation", "skip", "no tool to call")
            return
        started = time.perf_counter()
        for tool, args in calls.items():
            stream = self.stub.Invoke(
                pb.InvokeRequest(
                    call_id=f"cancel-{tool}", tool=tool, arguments_json=json.dumps(args)
                ),
                metadata=self.md,
            )

            async def first(s: Any = stream) -> None:
                async for _ in s:
                    return

            with contextlib.suppress(TimeoutError, grpc.aio.AioRpcError, asyncio.CancelledError):
                await asyncio.wait_for(first(), 0.1)
            stream.cancel()
        try:
            async with asyncio.timeout(5):
                reply = await self.health(health_pb2.HealthCheckRequest(), wait_for_ready=False)
                await self.stub.Describe(pb.DescribeRequest(), metadata=self.md)
                tool, args = next(iter(calls.items()))
                after = await self.call(tool, json.dumps(args))
        except (TimeoutError, grpc.aio.AioRpcError) as exc:
            detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else "no answer in 5 s"
            self.report.add(
                "cancellation",
                "fail",
                f"after cancelled calls the skill stopped answering: {detail}",
                _ms(started),
            )
            return
        wrong = self._shape(after)
        if reply.status != health_pb2.HealthCheckResponse.SERVING or wrong:
            self.report.add(
                "cancellation", "fail", wrong or "health is no longer SERVING", _ms(started)
            )
            return
        self.report.add(
            "cancellation",
            "pass",
            f"{len(calls)} calls cancelled mid-flight; still serving",
            _ms(started),
        )


def _annotations(a: pb.ToolAnnotations) -> str:
    names = [n for n in ("read_only", "destructive", "idempotent", "open_world") if getattr(a, n)]
    return "annotations: " + (", ".join(names) or "none")


def _short(text: str, limit: int = 90) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


async def check_socket(
    socket: Path,
    report: Report,
    options: CheckOptions,
    alive: Callable[[], bool] = lambda: True,
    call_token: str | None = None,
) -> None:
    """Every check that needs only the socket; `alive` says whether the sidecar still runs,
    `call_token` is the token the sidecar was given (None: not known, not checked)."""
    checker = SocketChecker(socket, report, options, alive, call_token)
    try:
        if not await checker.check_health():
            return
        description = await checker.describe()
        if description is None:
            return
        await check_call_token(checker.stub, report, call_token, description)
        schemas = checker.tool_schemas(description)
        destructive = {t.name for t in description.tools if t.annotations.destructive}
        callable_args: dict[str, dict[str, Any]] = {}
        for tool, schema in schemas.items():
            if options.skip_destructive and tool in destructive:
                report.add(f"{tool}: calls", "skip", "destructive (--skip-destructive)")
                continue
            args = await checker.valid_call(tool, schema, full=False)
            try:
                full = valid_arguments(schema, full=True)
            except CannotGenerateError:
                full = args
            if full != args:
                await checker.valid_call(tool, schema, full=True)
            for broken in broken_calls(schema, args):
                await checker.broken_call(tool, broken)
            if args or not schema.get("required"):
                callable_args[tool] = args
        await checker.unknown_tool()
        await checker.cancellation(callable_args)
    finally:
        await checker.close()
