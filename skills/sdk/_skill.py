"""`Skill` and its `tool` decorator: typed Python functions become tools with JSON Schemas.

The schema comes from the type hints and the docstring's `Args:` section; arguments are
validated by pydantic before the function runs. `call()` turns every outcome (success,
ToolError, bad arguments, timeout, a bug) into one `ToolResult` message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast, get_type_hints

import docstring_parser
import pydantic

from protos import skill_pb2 as pb
from protos import timed_out
from skills.sdk._context import Context, ToolError, min_timeout

log = logging.getLogger("podium.skill")

F = TypeVar("F", bound=Callable[..., Any])
Handler = Callable[[Context, dict[str, Any]], Awaitable[Any]]
Lifespan = Callable[["Skill"], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Annotations:
    """Hints about a tool's behaviour (the four MCP defines)."""

    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False


@dataclass
class ToolOutput:
    """A richer return value than a string: text and/or structured data, plus artifacts."""

    text: str = ""
    data: Any = None
    is_error: bool = False
    artifacts: list[str] = field(default_factory=lambda: [])


@dataclass
class ToolDef:
    """One tool as the skill serves it. Built by `@skill.tool`, or by hand for tools that are
    not Python functions (the MCP bridge's)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    handler: Handler
    annotations: Annotations = Annotations()
    timeout: float | None = None

    def to_proto(self) -> pb.Tool:
        a = self.annotations
        return pb.Tool(
            name=self.name,
            description=self.description,
            input_schema_json=json.dumps(self.input_schema),
            annotations=pb.ToolAnnotations(
                read_only=a.read_only,
                destructive=a.destructive,
                idempotent=a.idempotent,
                open_world=a.open_world,
            ),
        )


class Skill:
    """A named set of tools plus the instructions that go into the agent's system prompt."""

    def __init__(
        self,
        name: str,
        *,
        instructions: str = "",
        version: str = "0.1.0",
        lifespan: Lifespan | None = None,
        dynamic_tools: bool = False,
    ) -> None:
        self.name = name
        self.instructions = instructions
        self.version = version
        self.lifespan = lifespan
        self.dynamic_tools = dynamic_tools
        self.tools: dict[str, ToolDef] = {}
        self.warnings: list[tuple[str, str]] = []
        self.log = logging.getLogger(f"podium.skill.{name}")

    def tool(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        read_only: bool = False,
        destructive: bool = False,
    ) -> Any:
        """Register a function as a tool. Usable bare (`@skill.tool`) or with options.

        Returns the function unchanged, so tests can call it directly.
        """

        def register(func: F) -> F:
            tool = tool_from_function(
                func,
                name=name,
                description=description,
                timeout=timeout,
                annotations=Annotations(
                    read_only=read_only, destructive=destructive, idempotent=read_only
                ),
            )
            self.add_tool(tool)
            return func

        return register(fn) if fn is not None else register

    def add_tool(self, tool: ToolDef) -> None:
        if tool.name in self.tools:
            raise ValueError(f"skill {self.name!r} already has a tool named {tool.name!r}")
        self.tools[tool.name] = tool

    def describe(self) -> pb.SkillDescription:
        return pb.SkillDescription(
            name=self.name,
            version=self.version,
            instructions=self.instructions,
            tools=[t.to_proto() for t in self.tools.values()],
            dynamic_tools=self.dynamic_tools,
            warnings=[pb.Warning(source=s, message=m) for s, m in self.warnings],
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncGenerator[None]:
        """Enter the skill's lifespan (open databases, connect servers...)."""
        if self.lifespan is None:
            yield
            return
        async with self.lifespan(self):
            yield

    async def call(self, request: pb.InvokeRequest, ctx: Context) -> pb.ToolResult:
        """Run one tool call and describe its outcome; never raises but for cancellation."""
        kind = pb.ToolResult.ErrorKind
        tool = self.tools.get(request.tool)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return _error(
                kind.UNKNOWN_TOOL, f"unknown tool {request.tool!r}; this skill has: {known}"
            )
        try:
            raw = json.loads(request.arguments_json or "{}")
        except json.JSONDecodeError as exc:
            return _error(kind.INVALID_ARGUMENTS, f"arguments are not valid JSON: {exc}")
        if not isinstance(raw, dict):
            return _error(kind.INVALID_ARGUMENTS, "arguments must be a JSON object")
        timeout = min_timeout(tool.timeout, ctx.remaining())
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                value = await tool.handler(ctx, cast(dict[str, Any], raw))
            return _to_result(value, ctx.artifacts)  # a value that cannot be sent is a bug too
        except TimeoutError:
            # The call's deadline (or the tool's own timeout) passed: say so in the words the
            # agent uses too, with the seconds the call had (what ran out, not how late).
            elapsed = time.monotonic() - started
            seconds = timeout if timeout is not None and elapsed >= timeout else elapsed
            return _error(kind.TIMEOUT, timed_out(tool.name, seconds))
        except ToolError as exc:
            return _error(kind.TOOL, str(exc) or type(exc).__name__)
        except pydantic.ValidationError as exc:
            return _error(kind.INVALID_ARGUMENTS, _explain(exc))
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            self.log.exception(
                "tool %s failed (error id %s, call %s)", tool.name, error_id, request.call_id
            )
            return _error(
                kind.INTERNAL,
                f"internal error in skill {self.name!r} "
                f"(error id {error_id}; details are in the skill's log)",
            )


# Sync tools run in a worker thread. A timeout stops waiting for them and reports it, but
# Python cannot stop a thread: work that may run long belongs in `ctx.run` (a killable child).
def tool_from_function(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    annotations: Annotations = Annotations(),
) -> ToolDef:
    """Build a ToolDef from a typed function: schema from hints, descriptions from docstring."""
    doc = docstring_parser.parse(inspect.getdoc(func) or "")
    param_docs = {p.arg_name: p.description or "" for p in doc.params}
    hints = get_type_hints(func)
    fields: dict[str, Any] = {}
    ctx_param: str | None = None
    for pname, param in inspect.signature(func).parameters.items():
        hint = hints.get(pname, Any)
        if hint is Context:
            ctx_param = pname
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {func.__name__}: *args/**kwargs are not supported")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (hint, pydantic.Field(default, description=param_docs.get(pname) or None))
    model = pydantic.create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
        f"{func.__name__}_args",
        __config__=pydantic.ConfigDict(extra="forbid"),
        **fields,
    )
    schema = _clean_schema(model.model_json_schema())  # pyright: ignore[reportUnknownMemberType]
    text = description or "\n\n".join(
        part for part in (doc.short_description, doc.long_description) if part
    )

    is_async = inspect.iscoroutinefunction(func)

    async def handler(ctx: Context, raw: dict[str, Any]) -> Any:
        args = model.model_validate(raw)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        kwargs: dict[str, Any] = {k: getattr(args, k) for k in fields}  # pyright: ignore[reportUnknownArgumentType]
        if ctx_param:
            kwargs[ctx_param] = ctx
        if is_async:
            return await func(**kwargs)
        # Sync tools run in a thread so one slow call does not stall the others.
        return await asyncio.to_thread(functools.partial(func, **kwargs))

    return ToolDef(
        name=name or func.__name__,
        description=text.strip(),
        input_schema=schema,
        handler=handler,
        annotations=annotations,
        timeout=timeout,
    )


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's `title` noise; models read names and descriptions, not titles."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            items = cast(Mapping[str, Any], node).items()
            return {k: strip(v) for k, v in items if not (k == "title" and isinstance(v, str))}
        if isinstance(node, list):
            return [strip(v) for v in cast(list[Any], node)]
        return node

    cleaned = cast(dict[str, Any], strip(schema))
    cleaned.setdefault("properties", {})
    return cleaned


def _explain(exc: pydantic.ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
    ]
    return "invalid arguments: " + "; ".join(problems)


def _error(kind: pb.ToolResult.ErrorKind.ValueType, message: str) -> pb.ToolResult:
    return pb.ToolResult(text=message, is_error=True, error_kind=kind)


def _to_result(value: Any, artifacts: list[str]) -> pb.ToolResult:
    if isinstance(value, ToolOutput):
        return pb.ToolResult(
            text=value.text or ("" if value.data is None else _dump(value.data)),
            structured_json="" if value.data is None else _dump(value.data),
            is_error=value.is_error,
            error_kind=pb.ToolResult.TOOL if value.is_error else pb.ToolResult.NONE,
            artifacts=[*artifacts, *value.artifacts],
        )
    if value is None:
        return pb.ToolResult(text="(done, no output)", artifacts=artifacts)
    if isinstance(value, str):
        return pb.ToolResult(text=value, artifacts=artifacts)
    dumped = _dump(value)
    return pb.ToolResult(text=dumped, structured_json=dumped, artifacts=artifacts)


def _dump(value: Any) -> str:
    return pydantic.TypeAdapter(Any).dump_json(value).decode()
