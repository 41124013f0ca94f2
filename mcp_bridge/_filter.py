"""Which of a server's tools the agent gets: `allow` / `deny` globs and `readOnly`."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

import mcp_types as types

from mcp_bridge._config import ServerConfig


@dataclass(frozen=True)
class Dropped:
    """A tool the filters removed, and why (shown by `podium mcp tools`)."""

    server: str
    tool: str
    reason: str


def filter_tools(
    server: str, tools: list[types.Tool], config: ServerConfig
) -> tuple[list[types.Tool], list[Dropped]]:
    """Keep what the config allows. `deny` wins over `allow`; patterns match the tool's
    own name (as the server spells it), case-sensitively."""
    kept: list[types.Tool] = []
    dropped: list[Dropped] = []
    for tool in tools:
        reason = _why_dropped(tool, config)
        if reason is None:
            kept.append(tool)
        else:
            dropped.append(Dropped(server, tool.name, reason))
    return kept, dropped


def unused_patterns(tools: list[types.Tool], config: ServerConfig) -> list[str]:
    """`allow` patterns that match none of the server's tools (likely typos)."""
    return [p for p in config.allow if not any(fnmatchcase(t.name, p) for t in tools)]


def _why_dropped(tool: types.Tool, config: ServerConfig) -> str | None:
    for pattern in config.deny:
        if fnmatchcase(tool.name, pattern):
            return f"denied by pattern {pattern!r}"
    if config.allow and not any(fnmatchcase(tool.name, p) for p in config.allow):
        return "matches no allow pattern (" + ", ".join(repr(p) for p in config.allow) + ")"
    if config.read_only and not (tool.annotations and tool.annotations.read_only_hint):
        return "readOnly is set and the server does not mark this tool read-only"
    return None
