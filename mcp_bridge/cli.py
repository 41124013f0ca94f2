"""`podium mcp ...`: look at what the MCP bridge would offer, without running an agent.

    podium mcp tools servers.json [--json] [--wait SECONDS]
    podium mcp serve-stdio [--host 127.0.0.1] [--port 8000] [--path /mcp] -- COMMAND ARGS...

starts (or connects to) every server in the file, and prints the tools the agent would see
after filtering (name, server, the server's own name, annotations, short description), every
tool the filters dropped and why, and every server that is unavailable and why. Exit status:
0 when every server answered and some tool is left, 1 when a server did not, the config has
a bad entry or no tool is left, 2 for a bad file. Everything a server chose (names,
descriptions, errors) is printed through `printable`; the MCP SDK's own log lines (with their
tracebacks) only with `-v`.

`serve-stdio` serves a stdio MCP server (from npm, PyPI, anywhere) over streamable HTTP, so
that one process can be shared by many runs (see `mcp_bridge._serve_stdio`). It exits 1
when COMMAND exits, 2 when COMMAND cannot be started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Generator
from typing import Any, TextIO

import anyio

from mcp_bridge._bridge import Bridge, Catalog, ExposedTool
from mcp_bridge._config import ConfigError, load_config
from skills.sdk import Annotations, printable

DESCRIPTION_WIDTH = 70
PATTERN_NOTE = (
    "allow/deny patterns match either name: the server's own (MCP NAME) or the one the "
    "model sees (TOOL)"
)


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
    tools.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show the bridge's and the MCP SDK's logs, tracebacks included",
    )
    serve = commands.add_parser(
        "serve-stdio", help="serve a stdio MCP server over streamable HTTP: -- COMMAND ARGS..."
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--path", default="/mcp", help="endpoint path (default /mcp)")
    serve.add_argument(
        "--stateless", action="store_true", help="no sessions (for several replicas)"
    )
    serve.add_argument("-v", "--verbose", action="store_true", help="log each connection")
    serve.add_argument(
        "server", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS...", help="the stdio server"
    )
    args = parser.parse_args(argv)
    if args.command == "serve-stdio":
        return _serve_stdio(args)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
        return _tools(args)
    with _quiet(("mcp", "podium.mcp")):  # what failed is in Warnings, without SDK tracebacks
        return _tools(args)


@contextlib.contextmanager
def _quiet(names: tuple[str, ...]) -> Generator[None]:
    """Silence these loggers (a handler of their own: else logging's last resort prints)."""
    loggers = [logging.getLogger(n) for n in names]
    null = logging.NullHandler()
    saved = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.addHandler(null)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, propagate in zip(loggers, saved, strict=True):
            lg.removeHandler(null)
            lg.propagate = propagate


def _tools(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"podium mcp tools: {printable(exc, one_line=True)}", file=sys.stderr)
        return 2
    bridge = Bridge(config)
    catalog = anyio.run(_collect, bridge, args.wait)
    if args.json:
        json.dump(_as_json(catalog), sys.stdout, indent=2)
        print()
    else:
        _print_table(catalog, sys.stdout)
    unavailable = any(conn.state != "ready" for conn in bridge.connections.values())
    return 1 if unavailable or config.errors or not catalog.tools else 0


def _serve_stdio(args: argparse.Namespace) -> int:
    from mcp_bridge._serve_stdio import serve

    command: list[str] = args.server[1:] if args.server[:1] == ["--"] else args.server
    if not command:
        print("podium mcp serve-stdio: give the server to run: -- COMMAND ARGS...", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return anyio.run(
            lambda: serve(
                command, host=args.host, port=args.port, path=args.path, stateless=args.stateless
            )
        )
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(
            f"podium mcp serve-stdio: cannot start {command[0]!r}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2


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
    line = printable((text or "").strip().split("\n", 1)[0], one_line=True)
    return line if len(line) <= DESCRIPTION_WIDTH else line[: DESCRIPTION_WIDTH - 3] + "..."


def _safe(text: str) -> str:
    return printable(text, one_line=True)


def _print_table(catalog: Catalog, out: TextIO) -> None:
    rows = [
        (
            t.name,
            _safe(t.server),
            _safe(t.tool.name),
            annotation_words(t.annotations),
            _short(t.tool.description),
        )
        for t in catalog.tools
    ]
    header = ("TOOL", "SERVER", "MCP NAME", "ANNOTATIONS", "DESCRIPTION")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        out.write(
            "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True))
            + "  "
            + row[4]
            + "\n"
        )
    out.write(f"\n{len(catalog.tools)} tools ({PATTERN_NOTE})\n")
    if catalog.dropped:
        out.write(f"\nDropped by filters ({len(catalog.dropped)}):\n")
        for d in catalog.dropped:
            out.write(f"  {_safe(d.server)}/{_safe(d.tool)}: {_safe(d.reason)}\n")
    if catalog.warnings:
        out.write("\nWarnings:\n")
        for source, message in catalog.warnings:
            out.write(f"  {_safe(source)}: {_safe(message)}\n")


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
