"""The bridge: every configured server's connection, and the skill's tool list built from
what they offer (filtered, named, annotated), rebuilt whenever one of them changes."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
import pydantic
from mcp.shared.exceptions import MCPError

from mcp_bridge._config import BridgeConfig
from mcp_bridge._connection import ServerConnection, ServerUnavailable
from mcp_bridge._filter import Dropped, filter_tools, prefix_of, unused_patterns
from mcp_bridge._naming import ToolKey, assign_names
from mcp_bridge._results import ARTIFACT_DIR, to_output
from skills.sdk import Annotations, Context, Skill, ToolDef, ToolError

MAX_SERVER_INSTRUCTIONS = 2000
INSTRUCTIONS = (
    "Tools named PREFIX_TOOL come from MCP servers. Images and other files they return, and "
    f"outputs too long to show whole, are saved under `{ARTIFACT_DIR}/` in the workspace."
)


@dataclass(frozen=True)
class ExposedTool:
    """A tool as the agent sees it, and where it comes from."""

    name: str
    server: str
    tool: types.Tool
    annotations: Annotations


@dataclass
class Catalog:
    tools: list[ExposedTool] = field(default_factory=lambda: [])
    dropped: list[Dropped] = field(default_factory=lambda: [])
    warnings: list[tuple[str, str]] = field(default_factory=lambda: [])


def annotations_of(tool: types.Tool) -> Annotations:
    """MCP's hints, with MCP's defaults where a server says nothing: a tool is assumed to
    change things destructively and reach the open world unless it says otherwise."""
    hints = tool.annotations or types.ToolAnnotations()
    read_only = hints.read_only_hint is True
    return Annotations(
        read_only=read_only,
        destructive=not read_only and hints.destructive_hint is not False,
        idempotent=read_only or hints.idempotent_hint is True,
        open_world=hints.open_world_hint is not False,
    )


def _status(conn: ServerConnection) -> str:
    if conn.state == "starting":
        return "still starting"
    what = (
        "restarting (its last tool list is kept)" if conn.state == "restarting" else "unavailable"
    )
    return f"{what}: {conn.reason}; retrying in the background"


def _all_dropped(dropped: list[Dropped]) -> str:
    """One warning for a server whose every tool the filters removed, with the reasons."""
    reasons: dict[str, int] = {}
    for d in dropped:
        reasons[d.reason] = reasons.get(d.reason, 0) + 1
    why = "; ".join(f"{r} ({n})" for r, n in reasons.items())
    return f"the filters removed all {len(dropped)} of its tools: {why}"


class Bridge:
    """All servers of one config. Give it a Skill to keep that skill's tools current."""

    def __init__(self, config: BridgeConfig, skill: Skill | None = None) -> None:
        self.config = config
        self.skill = skill
        self.connections = {
            name: ServerConnection(name, server, redact=config.redact, on_change=self.rebuild)
            for name, server in config.servers.items()
            if not server.disabled
        }
        self.catalog = Catalog()

    @contextlib.asynccontextmanager
    async def running(self, *, wait: float) -> AsyncGenerator[Bridge]:
        """Start every server; return once each is up or has failed its first attempts
        (or `wait` seconds pass). Servers keep being retried in the background."""
        async with anyio.create_task_group() as tg:
            for conn in self.connections.values():
                tg.start_soon(conn.run)
            await self.wait_settled(wait)
            self.rebuild()
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()

    async def wait_settled(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            for conn in self.connections.values():
                await conn.settled.wait()

    def rebuild(self) -> None:
        """Recompute the catalog and, with a skill, its tools, warnings and instructions."""
        self.catalog = self._build()
        if self.skill is None:
            return
        tools = {t.name: self._tool_def(t) for t in self.catalog.tools}
        self.skill.tools.clear()
        self.skill.tools.update(tools)
        self.skill.warnings[:] = self.catalog.warnings
        self.skill.instructions = self._instructions()

    def _build(self) -> Catalog:
        catalog = Catalog()
        for name, error in self.config.errors.items():
            catalog.warnings.append((f"mcp:{name}", f"not started: bad config entry: {error}"))
        for name, server in self.config.servers.items():
            if server.disabled:
                catalog.warnings.append((f"mcp:{name}", "disabled in the config"))
        for name, keys in self.config.ignored.items():
            catalog.warnings.append((f"mcp:{name}", "ignored keys: " + ", ".join(keys)))
        candidates: list[tuple[str, ToolKey]] = []
        by_key: dict[ToolKey, types.Tool] = {}
        for name, conn in self.connections.items():
            cfg = conn.config
            if conn.state != "ready":
                catalog.warnings.append((f"mcp:{name}", _status(conn)))
            kept, dropped = filter_tools(name, conn.tools, cfg)
            catalog.dropped.extend(dropped)
            if conn.tools:
                catalog.warnings.extend(
                    (f"mcp:{name}", f"{kind} pattern {p!r} matches none of its tools")
                    for kind, p in unused_patterns(conn.tools, cfg, name)
                )
            if conn.tools and not kept:
                catalog.warnings.append((f"mcp:{name}", _all_dropped(dropped)))
            elif conn.state == "ready" and not conn.tools:
                catalog.warnings.append((f"mcp:{name}", "the server offers no tools"))
            prefix = prefix_of(name, cfg)
            for tool in kept:
                key = ToolKey(name, tool.name)
                by_key[key] = tool
                candidates.append((prefix, key))
        naming = assign_names(candidates)
        catalog.warnings.extend(("mcp", msg) for msg in naming.collisions)
        for key, exposed in sorted(naming.names.items(), key=lambda kv: kv[1]):
            tool = by_key[key]
            catalog.tools.append(ExposedTool(exposed, key.server, tool, annotations_of(tool)))
        return catalog

    def _tool_def(self, exposed: ExposedTool) -> ToolDef:
        tool = exposed.tool
        cfg = self.connections[exposed.server].config
        return ToolDef(
            name=exposed.name,
            description=tool.description or tool.title or "",
            input_schema=tool.input_schema,
            handler=functools.partial(self.call, exposed.server, tool.name),
            annotations=exposed.annotations,
            timeout=cfg.timeout,
        )

    def _instructions(self) -> str:
        parts = [INSTRUCTIONS]
        for name, conn in self.connections.items():
            if conn.instructions:
                text = conn.instructions.strip()[:MAX_SERVER_INSTRUCTIONS]
                parts.append(f"### MCP server `{name}`\n{text}")
        return "\n\n".join(parts)

    async def call(self, server: str, tool: str, ctx: Context, arguments: dict[str, Any]) -> Any:
        """Run one tool call on its server (the handler behind every bridged tool)."""
        conn = self.connections[server]
        redact = self.config.redact

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            ctx.progress(progress, total or 0.0, message or "")

        try:
            result = await conn.call(tool, arguments, progress=progress)
        except ServerUnavailable as exc:
            raise ToolError(redact(str(exc))) from None
        except MCPError as exc:
            raise ToolError(
                redact(f"MCP server {server!r} refused the call: {exc.message}")
            ) from None
        except (RuntimeError, pydantic.ValidationError) as exc:
            # The server answered with something the MCP client cannot accept (a result that
            # breaks its own output schema, a malformed result): the server's fault, not ours.
            raise ToolError(
                redact(f"MCP server {server!r} returned an unusable result: {exc}")
            ) from None
        return to_output(result, ctx=ctx, server=server, max_bytes=conn.config.max_output_bytes)
