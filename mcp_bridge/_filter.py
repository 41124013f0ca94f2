"""Which of a server's tools the agent gets: `allow` / `deny` globs and `readOnly`.

A pattern matches a tool when it matches either of its names: the server's own (`read_file`,
as the MCP server spells it) or the one the model sees (`fs_read_file`, prefix included), so
a glob copied from either column of `podium mcp tools` does what was meant. Matching is
case-sensitive, `fnmatch` style (`*`, `?`, `[abc]`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

import mcp_types as types

from mcp_bridge._config import ServerConfig
from mcp_bridge._naming import ToolKey, exposed_name


@dataclass(frozen=True)
class Dropped:
    """A tool the filters removed, and why (shown by `podium mcp tools`)."""

    server: str
    tool: str
    reason: str


def prefix_of(server: str, config: ServerConfig) -> str:
    """The prefix of the names the model sees: the server's name unless the config says."""
    return server if config.prefix is None else config.prefix


def tool_names(server: str, tool: str, config: ServerConfig) -> tuple[str, str]:
    """The two names a pattern may match: the server's own, and the exposed one."""
    return tool, exposed_name(prefix_of(server, config), tool, ToolKey(server, tool))


def _matches(pattern: str, names: tuple[str, str]) -> bool:
    return any(fnmatchcase(n, pattern) for n in names)


def filter_tools(
    server: str, tools: list[types.Tool], config: ServerConfig
) -> tuple[list[types.Tool], list[Dropped]]:
    """Keep what the config allows. `deny` wins over `allow`."""
    kept: list[types.Tool] = []
    dropped: list[Dropped] = []
    for tool in tools:
        reason = _why_dropped(tool, tool_names(server, tool.name, config), config)
        if reason is None:
            kept.append(tool)
        else:
            dropped.append(Dropped(server, tool.name, reason))
    return kept, dropped


def unused_patterns(
    tools: list[types.Tool], config: ServerConfig, server: str = ""
) -> list[tuple[str, str]]:
    """(`allow` or `deny`, pattern) for each pattern that matches none of the server's tools
    by either name: most likely a typo, or a tool the server no longer has."""
    names = [tool_names(server, t.name, config) for t in tools]
    return [
        (kind, p)
        for kind, patterns in (("allow", config.allow), ("deny", config.deny))
        for p in patterns
        if not any(_matches(p, n) for n in names)
    ]


def _why_dropped(tool: types.Tool, names: tuple[str, str], config: ServerConfig) -> str | None:
    for pattern in config.deny:
        if _matches(pattern, names):
            return f"denied by pattern {pattern!r}"
    if config.allow and not any(_matches(p, names) for p in config.allow):
        return "matches no allow pattern (" + ", ".join(repr(p) for p in config.allow) + ")"
    if config.read_only and not (tool.annotations and tool.annotations.read_only_hint):
        return "readOnly is set and the server does not mark this tool read-only"
    return None
