"""`podium mcp ...`: look at what the MCP bridge would offer, without running an agent.

    podium mcp tools servers.json [--json] [--wait SECONDS]

starts (or connects to) every server in the file, and prints the tools the agent would see
after filtering (name, server, annotations, short description), every tool the filters
dropped and why, and every server that is unavailable and why. Exit status: 0 when every
server answered, 1 when one did not (or the config has a bad entry), 2 for a bad file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, TextIO

import anyio

from mcp_bridge._bridge import Bridge, Catalog, ExposedTool
from mcp_bridge._config import ConfigError, load_config
from skills.sdk import Annotations

DESCRIPTION_WIDTH = 70


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="podium mcp", description="Inspect MCP servers through the MCP bridge."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    tools = commands.add_parser(
        "tools", help="list the tools the agent would see, and the tools the filters drop"
    )
    tools.add_argument("config", help="servers file (mcpServers JSON or YAML)")
    tools.add_argument("--json", action="store_true", help="print JSON instead of a table")
    tools.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for slow servers (default 30)"
    )
    tools.add_argument("-v", "--verbose", action="store_true", help="show servers' logs")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bridge = Bridge(config)
    catalog = anyio.run(_collect, bridge, args.wait)
    if args.json:
        json.dump(_as_json(catalog), sys.stdout, indent=2)
        print()
    else:
        _print_table(catalog, sys.stdout)
    unavailable = any(conn.state != "ready" for conn in bridge.connections.values())
    return 1 if unavailable or config.errors else 0


async def _collect(bridge: Bridge, wait: float) -> Catalog:
    async with bridge.running(wait=wait):
        return bridge.catalog


def annotation_words(a: Annotations) -> str:
    words = [
        w
        for w, on in (
            ("read-only", a.read_only),
            ("destructive", a.destructive),
            ("idempotent", a.idempotent),
            ("open-world", a.open_world),
        )
        if on
    ]
    return ", ".join(words) or "-"


def _short(text: str | None) -> str:
    line = (text or "").strip().split("\n", 1)[0]
    return line if len(line) <= DESCRIPTION_WIDTH else line[: DESCRIPTION_WIDTH - 3] + "..."


def _print_table(catalog: Catalog, out: TextIO) -> None:
    rows = [
        (t.name, t.server, annotation_words(t.annotations), _short(t.tool.description))
        for t in catalog.tools
    ]
    header = ("TOOL", "SERVER", "ANNOTATIONS", "DESCRIPTION")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        out.write(
            "  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
            + "\n"
        )
    out.write(f"\n{len(catalog.tools)} tools\n")
    if catalog.dropped:
        out.write(f"\nDropped by filters ({len(catalog.dropped)}):\n")
        for d in catalog.dropped:
            out.write(f"  {d.server}/{d.tool}: {d.reason}\n")
    if catalog.warnings:
        out.write("\nWarnings:\n")
        for source, message in catalog.warnings:
            out.write(f"  {source}: {message}\n")


def _tool_json(t: ExposedTool) -> dict[str, Any]:
    a = t.annotations
    return {
        "name": t.name,
        "server": t.server,
        "tool": t.tool.name,
        "description": t.tool.description or "",
        "annotations": {
            "read_only": a.read_only,
            "destructive": a.destructive,
            "idempotent": a.idempotent,
            "open_world": a.open_world,
        },
    }


def _as_json(catalog: Catalog) -> dict[str, Any]:
    return {
        "tools": [_tool_json(t) for t in catalog.tools],
        "dropped": [
            {"server": d.server, "tool": d.tool, "reason": d.reason} for d in catalog.dropped
        ],
        "warnings": [{"source": s, "message": m} for s, m in catalog.warnings],
    }


if __name__ == "__main__":
    sys.exit(main())
