"""`podium mcp serve-stdio -- COMMAND ARGS...`: any stdio MCP server, served over streamable
HTTP, so that one process (a Deployment in a cluster) can be shared by many runs.

The adapter starts COMMAND once, with the adapter's own environment (the server is the
program the operator asked for, not an untrusted child), connects to it with the official
client, and only then listens. It mirrors what the server offers: its name, version,
instructions and capabilities; tools (with progress), resources and templates, prompts and
completions are forwarded request by request, errors as the server gave them. A change to
the server's tool, resource or prompt list is passed on to every HTTP session that has
talked to the adapter. When COMMAND exits, the adapter exits with status 1 (the kubelet or
a supervisor restarts it): it never serves a dead server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

import anyio
import mcp_types as types
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ServerEvent,
    ToolsListChanged,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request

from mcp_bridge._streams import watched

__all__ = ["StdioAdapter", "serve"]

log = logging.getLogger("podium.mcp.serve-stdio")
CLIENT_INFO = types.Implementation(name="podium-mcp-serve-stdio", version="0.1.0")
Ctx = ServerRequestContext[Any, Any]
MAX_SESSIONS = 1000
GRACE = 3
"""Seconds in-flight requests (and open listen streams) get once the adapter stops."""


@dataclass
class StdioAdapter:
    """The forwarding handlers for one connected stdio server."""

    client: Client
    bus: InMemorySubscriptionBus = field(default_factory=InMemorySubscriptionBus)
    """2026-era HTTP clients hear of list changes on `subscriptions/listen` streams."""
    sessions: OrderedDict[str, ServerSession] = field(default_factory=lambda: OrderedDict())
    """Handshake-era HTTP sessions by `mcp-session-id`, told of changes by notification."""

    def _seen(self, ctx: Ctx) -> None:
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS or ctx.request is None:
            return
        sid = cast(Request, ctx.request).headers.get("mcp-session-id")
        if sid:
            self.sessions[sid] = ctx.session
            self.sessions.move_to_end(sid)
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)

    async def list_tools(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        self._seen(ctx)
        return await self.client.session.list_tools(params=params)

    async def call_tool(
        self, ctx: Ctx, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        self._seen(ctx)

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        return await self.client.call_tool(
            params.name, params.arguments, progress_callback=progress
        )

    async def list_resources(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        self._seen(ctx)
        return await self.client.session.list_resources(params=params)

    async def list_resource_templates(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        self._seen(ctx)
        return await self.client.session.list_resource_templates(params=params)

    async def read_resource(
        self, ctx: Ctx, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        self._seen(ctx)
        return await self.client.read_resource(params.uri)

    async def list_prompts(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        self._seen(ctx)
        return await self.client.session.list_prompts(params=params)

    async def get_prompt(
        self, ctx: Ctx, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        self._seen(ctx)
        return await self.client.get_prompt(params.name, params.arguments)

    async def complete(self, ctx: Ctx, params: types.CompleteRequestParams) -> types.CompleteResult:
        self._seen(ctx)
        return await self.client.complete(params.ref, params.argument.model_dump(), None)

    def server(self) -> Server[Any]:
        """A low-level server offering exactly what the stdio server offers."""
        caps = self.client.server_capabilities
        info = self.client.server_info
        handlers: dict[str, Any] = {}
        if caps.tools is not None:
            handlers.update(on_list_tools=self.list_tools, on_call_tool=self.call_tool)
        if caps.resources is not None:
            handlers.update(
                on_list_resources=self.list_resources,
                on_list_resource_templates=self.list_resource_templates,
                on_read_resource=self.read_resource,
            )
        if caps.prompts is not None:
            handlers.update(on_list_prompts=self.list_prompts, on_get_prompt=self.get_prompt)
        if caps.completions is not None:
            handlers.update(on_completion=self.complete)
        if self.announces_changes:
            handlers["on_subscriptions_listen"] = ListenHandler(self.bus)
        return _MirrorServer(
            self.notification_options(),
            info.name if info else "stdio-server",
            version=info.version if info else "",
            title=info.title if info else None,
            instructions=self.client.instructions,
            **handlers,
        )

    def notification_options(self) -> NotificationOptions:
        caps = self.client.server_capabilities
        return NotificationOptions(
            tools_changed=bool(caps.tools and caps.tools.list_changed),
            resources_changed=bool(caps.resources and caps.resources.list_changed),
            prompts_changed=bool(caps.prompts and caps.prompts.list_changed),
        )

    @property
    def announces_changes(self) -> bool:
        o = self.notification_options()
        return o.tools_changed or o.resources_changed or o.prompts_changed

    async def on_message(self, message: Any) -> None:
        """A handshake-era stdio server's notifications: list changes are passed on."""
        if isinstance(message, Exception):
            log.warning("stdio server: %s", message)
            return
        events: dict[type[Any], ServerEvent] = {
            types.ToolListChangedNotification: ToolsListChanged(),
            types.ResourceListChangedNotification: ResourcesListChanged(),
            types.PromptListChangedNotification: PromptsListChanged(),
        }
        event = events.get(cast(type[Any], type(message)))
        if event is not None:
            await self.changed(event)

    async def listen(self) -> None:
        """A 2026-era stdio server announces changes only on a listen stream: keep one."""
        o = self.notification_options()
        while True:
            try:
                async with self.client.listen(
                    tools_list_changed=o.tools_changed,
                    resources_list_changed=o.resources_changed,
                    prompts_list_changed=o.prompts_changed,
                ) as sub:
                    async for event in sub:
                        await self.changed(event)
            except (MCPError, RuntimeError) as exc:
                log.warning("change subscription to the stdio server ended: %s", exc)
            await anyio.sleep(1.0)

    async def changed(self, event: ServerEvent) -> None:
        """Tell every HTTP client, in its own era, that a list changed."""
        await self.bus.publish(event)
        sends = {
            ToolsListChanged: ServerSession.send_tool_list_changed,
            ResourcesListChanged: ServerSession.send_resource_list_changed,
            PromptsListChanged: ServerSession.send_prompt_list_changed,
        }
        send = sends.get(cast(type[Any], type(event)))
        if send is None:
            return
        for sid, session in list(self.sessions.items()):
            try:
                await send(session)
            except Exception as exc:  # that session has gone; the others still hear
                self.sessions.pop(sid, None)
                log.info("could not pass a list change to session %s: %s", sid, exc)


class _MirrorServer(Server[Any]):
    """A server whose handshake also advertises the stdio server's list-change support."""

    def __init__(self, notify: NotificationOptions, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._notify = notify

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or self._notify, experimental_capabilities, extensions
        )


class _Web(uvicorn.Server):
    """uvicorn, minus its signal handling: SIGTERM is a clean stop here (exit 0), where
    uvicorn would re-raise it after shutting down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


class _Relay:
    """Holds the adapter until the client exists (the client's handler is set first)."""

    adapter: StdioAdapter | None = None

    async def __call__(self, message: Any) -> None:
        if self.adapter is not None:
            await self.adapter.on_message(message)


async def serve(
    command: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str = "/mcp",
    stateless: bool = False,
    errlog: TextIO | None = None,
) -> int:
    """Run COMMAND and serve it until it exits (then 1) or the adapter is stopped (0)."""
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    ended = anyio.Event()
    stopped = anyio.Event()  # asked to stop: the server may exit too (a signal to the group)
    relay = _Relay()
    transport = watched(stdio_client(params, errlog=errlog or sys.stderr), ended)
    async with Client(
        transport, mode="auto", cache=None, client_info=CLIENT_INFO, message_handler=relay
    ) as client:
        adapter = StdioAdapter(client)
        relay.adapter = adapter
        app = adapter.server().streamable_http_app(
            streamable_http_path=path, stateless_http=stateless, host=host
        )
        web = _Web(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                lifespan="on",
                timeout_graceful_shutdown=GRACE,
            )
        )
        async with anyio.create_task_group() as tg:

            async def stop_when_child_exits() -> None:
                await ended.wait()
                if stopped.is_set():
                    return
                log.error("the stdio server %s exited: stopping", command[0])
                web.should_exit = True

            async def announce() -> None:
                while not web.started:  # noqa: ASYNC110 - uvicorn offers only a flag
                    await anyio.sleep(0.01)
                info = client.server_info
                what = f"{info.name} {info.version}" if info else "a server"
                print(
                    f"serving {what} ({' '.join(command)}, protocol {client.protocol_version}) "
                    f"on http://{host}:{port}{path}",
                    file=sys.stderr,
                    flush=True,
                )

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        stopped.set()
                        web.should_exit = True
                        return

            tg.start_soon(stop_when_child_exits)
            tg.start_soon(stop_on_signal)
            tg.start_soon(announce)
            if adapter.announces_changes and client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                tg.start_soon(adapter.listen)
            await web.serve()
            tg.cancel_scope.cancel()
    return 1 if ended.is_set() and not stopped.is_set() else 0
