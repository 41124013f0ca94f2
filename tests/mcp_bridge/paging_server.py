"""A small MCP server for the bridge tests, run as its own process over stdio.

It does what the third-party servers do not do on demand: list its tools a few per page,
change its tool list when asked (and say so with list_changed, on both protocol eras),
record that a call was cancelled, and exit when told to. Run it with `--legacy` to serve
only the initialize-handshake era (notifications/tools/list_changed) instead of both.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.runner import serve_loop
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

PAGE = 3
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 24).decode()
OBJECT: dict[str, Any] = {"type": "object", "properties": {}}


def _tool(
    name: str, description: str, *, read_only: bool = False, schema: dict[str, Any] | None = None
) -> types.Tool:
    return types.Tool(
        name=name,
        description=description,
        input_schema=schema or OBJECT,
        annotations=types.ToolAnnotations(read_only_hint=read_only, destructive_hint=not read_only),
    )


TOOLS: list[types.Tool] = [
    _tool(
        "echo",
        "Echo the text back.",
        read_only=True,
        schema={"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    ),
    _tool(
        "add_tool",
        "Add a tool named NAME and announce the change.",
        schema={"type": "object", "properties": {"name": {"type": "string"}}},
    ),
    _tool("sleep", "Sleep until cancelled; writes CANCEL_FILE when cancelled."),
    _tool("pid", "Return this server's process id.", read_only=True),
    _tool("fail", "Always fails with isError."),
    _tool("image", "Return a tiny PNG image.", read_only=True),
    _tool(
        "big",
        "Return N bytes of text.",
        schema={"type": "object", "properties": {"n": {"type": "integer"}}},
    ),
    _tool("exit", "Exit the process at once (a crash)."),
    _tool("a.b", "Collides with a_b once sanitised."),
    _tool("a_b", "Collides with a.b once sanitised."),
    _tool("x" * 90, "A name longer than model APIs accept."),
]


# Tools whose name and description try to drive the terminal (`--hostile`).
HOSTILE: list[types.Tool] = [
    _tool("clear\x1b[2J\x1b[Hscreen", "\x1b]0;pwned\x07Sets the title\x1b[31m red", read_only=True),
    _tool("bell\x07\x9b31m", "Rings\x07 and \u202eesrever\u202c", read_only=True),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--legacy", action="store_true")
    parser.add_argument("--hostile", action="store_true", help="serve only the HOSTILE tools")
    parser.add_argument("--cancel-file", default=os.environ.get("CANCEL_FILE", ""))
    parser.add_argument("--started-file", default="")
    parser.add_argument("--env-file", default="")
    parser.add_argument("--say-env", default="", help="print this variable to stderr")
    opts = parser.parse_args()
    if opts.say_env:
        print(f"{opts.say_env} is {os.environ.get(opts.say_env)}", file=sys.stderr, flush=True)
    if opts.hostile:
        TOOLS[:] = HOSTILE
    bus = InMemorySubscriptionBus()
    if opts.env_file:  # lets a test see which environment a stdio child got
        Path(opts.env_file).write_text("\n".join(sorted(os.environ)))

    async def list_tools(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        start = int(params.cursor) if params and params.cursor else 0
        page = TOOLS[start : start + PAGE]
        more = start + PAGE < len(TOOLS)
        return types.ListToolsResult(tools=page, next_cursor=str(start + PAGE) if more else None)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        args = params.arguments or {}
        text = types.TextContent
        match params.name:
            case "echo":
                return types.CallToolResult(
                    content=[text(text=str(args.get("text", "")))],
                    structured_content={"echo": args.get("text")},
                )
            case "add_tool":
                TOOLS.append(_tool(str(args["name"]), "Added at run time.", read_only=True))
                if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    await bus.publish(ToolsListChanged())
                else:
                    await ctx.session.send_tool_list_changed()
                return types.CallToolResult(content=[text(text="added")])
            case "sleep":
                if opts.started_file:
                    Path(opts.started_file).write_text("started")
                try:
                    await anyio.sleep(3600)
                except anyio.get_cancelled_exc_class():
                    if opts.cancel_file:
                        Path(opts.cancel_file).write_text("cancelled")
                    raise
                return types.CallToolResult(content=[text(text="woke")])
            case "pid":
                return types.CallToolResult(content=[text(text=str(os.getpid()))])
            case "fail":
                return types.CallToolResult(content=[text(text="it went wrong")], is_error=True)
            case "image":
                return types.CallToolResult(
                    content=[
                        text(text="here is a picture"),
                        types.ImageContent(data=PNG, mime_type="image/png"),
                    ]
                )
            case "big":
                return types.CallToolResult(content=[text(text="y" * int(args.get("n", 0)))])
            case "exit":
                os._exit(3)
            case _:
                return types.CallToolResult(content=[text(text=f"called {params.name}")])

    server: Server[Any] = Server(
        "paging-server",
        version="1.0",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=ListenHandler(bus),
    )

    async def run() -> None:
        async with stdio_server() as (read, write):
            if opts.legacy:
                init = server.create_initialization_options(NotificationOptions(tools_changed=True))
                async with server.lifespan(server) as state:
                    await serve_loop(server, read, write, lifespan_state=state, init_options=init)
            else:
                await server.run(read, write, server.create_initialization_options())

    anyio.run(run)


if __name__ == "__main__":
    sys.exit(main())
