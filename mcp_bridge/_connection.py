"""One MCP server, kept connected: started (stdio) or reached (streamable HTTP, SSE) with the
official `mcp` client, its tools listed page by page, relisted on `list_changed`, and
restarted with backoff whenever the connection ends.

The supervisor (`run`) never gives up: a server that cannot be reached is `failed` with the
reason, and retried every few seconds (up to `MAX_BACKOFF`). While a server that was up is
being restarted, its last tool list stays published, so the agent gets a clear "restarting"
error rather than an unknown tool.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from typing import Any, Literal, cast

import anyio
import httpx2
import mcp_types as types
from anyio.abc import TaskStatus
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_bridge._config import Redactor, ServerConfig
from mcp_bridge._streams import StderrPipe, TransportStreams, streamable_http, watched

INITIAL_BACKOFF = 0.25
MAX_BACKOFF = 30.0
STARTUP_ATTEMPTS = 3
"""Failed attempts after which a server counts as settled (unavailable) for start-up."""
HEALTHY_AFTER = 60.0
"""A server up this long gets the short backoff again when it next stops."""
MAX_PAGES = 1000
CLIENT_INFO = types.Implementation(name="podium-mcp-bridge", version="0.1.0")

State = Literal["starting", "ready", "restarting", "failed"]


class _AttemptFailed(Exception):
    """One attempt to connect failed; the message is the reason, ready to show."""


class ServerUnavailable(Exception):
    """A call cannot reach its server; the message says why, in words for the model."""


class ServerConnection:
    """Keeps one MCP server connected and knows its tools."""

    def __init__(
        self,
        name: str,
        config: ServerConfig,
        *,
        redact: Redactor,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self.config = config
        self.redact = redact
        self.on_change = on_change
        self.log = logging.getLogger(f"podium.mcp.{name}")
        self.state: State = "starting"
        self.reason = ""
        self.tools: list[types.Tool] = []
        self.instructions: str | None = None
        self.attempts = 0
        self.settled = anyio.Event()
        """Set once the server is up, or has failed its first STARTUP_ATTEMPTS."""
        self.generation = 0
        """Counts successful connections (tests wait on it to see a restart)."""
        self._client: Client | None = None
        self._lost: anyio.Event | None = None
        self._refresh = anyio.Event()

    # ------------------------------------------------------------------ supervision

    async def run(self) -> None:
        """Connect, serve, and reconnect forever (until cancelled)."""
        delay = INITIAL_BACKOFF
        while True:
            self.attempts += 1
            ready_at: list[float] = []
            try:
                reason = await self._connect_and_serve(ready_at)
            except _AttemptFailed as exc:
                reason = str(exc)
            was_up = bool(ready_at)
            if was_up and anyio.current_time() - ready_at[0] > HEALTHY_AFTER:
                delay = INITIAL_BACKOFF
            self.state = "restarting" if self.tools else "failed"
            self.reason = self.redact(reason)
            self.log.warning(
                "MCP server %s is unavailable: %s (retrying in %.2gs)",
                self.name,
                self.reason,
                delay,
            )
            if self.attempts >= STARTUP_ATTEMPTS or was_up:
                self.settled.set()
            self.on_change()
            await anyio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def _connect_and_serve(self, ready_at: list[float]) -> str:
        """One connection, start to end; returns why it ended, or raises _AttemptFailed."""
        lost = anyio.Event()
        stderr = StderrPipe(self.log, self.redact) if self.config.kind == "stdio" else None
        self.log.info("connecting to MCP server %s (%s)", self.name, self.redact(self.target))
        try:
            with anyio.CancelScope(
                deadline=anyio.current_time() + self.config.startup_timeout
            ) as startup:
                async with Client(
                    watched(self._transport(stderr), lost),
                    mode="auto",
                    cache=None,
                    client_info=CLIENT_INFO,
                    message_handler=self._on_message,
                ) as client:
                    if stderr is not None:
                        stderr.spawned()
                    await self._serve(client, lost, startup, ready_at)
            if startup.cancelled_caught:
                raise TimeoutError(
                    f"no answer within startupTimeout ({self.config.startup_timeout:g}s)"
                )
        except Exception as exc:  # whatever a transport or a server can throw
            reason = self._explain(exc)
            tail = await stderr.finish() if stderr is not None else ""
            raise _AttemptFailed(f"{reason}; stderr: {tail}" if tail else reason) from exc
        finally:
            self._lost = None
            self._client = None
            if stderr is not None:
                stderr.close()
        if stderr is None:
            return "the connection closed"
        tail = await stderr.finish()
        return "the server process exited" + (f"; stderr: {tail}" if tail else "")

    async def _serve(
        self, client: Client, lost: anyio.Event, startup: anyio.CancelScope, ready_at: list[float]
    ) -> None:
        async with anyio.create_task_group() as tg:
            caps = client.server_capabilities.tools
            if client.protocol_version in MODERN_PROTOCOL_VERSIONS and caps and caps.list_changed:
                # Subscribe before the first listing, so that no change can fall between them.
                await tg.start(self._listen, client)
            tools = await self._list_tools(client)
            startup.deadline = math.inf
            self._lost = lost
            ready_at.append(anyio.current_time())
            self._publish(client, tools)
            tg.start_soon(self._refresher, client)
            await lost.wait()
            tg.cancel_scope.cancel()

    def _publish(self, client: Client, tools: list[types.Tool]) -> None:
        self._client = client
        self.tools = tools
        self.instructions = client.instructions
        self.state = "ready"
        self.reason = ""
        self.generation += 1
        self.log.info(
            "MCP server %s is ready with %d tools (protocol %s)",
            self.name,
            len(tools),
            client.protocol_version,
        )
        self.settled.set()
        self.on_change()

    def _transport(
        self, stderr: StderrPipe | None
    ) -> contextlib.AbstractAsyncContextManager[TransportStreams]:
        cfg = self.config
        if cfg.kind == "stdio":
            assert cfg.command is not None and stderr is not None
            params = StdioServerParameters(
                command=cfg.command, args=cfg.args, env=cfg.env or None, cwd=cfg.cwd
            )
            return stdio_client(params, errlog=stderr.writer)
        assert cfg.url is not None
        if cfg.kind == "sse":
            return sse_client(cfg.url, headers=cfg.headers or None)
        return streamable_http(cfg.url, cfg.headers)

    @property
    def target(self) -> str:
        cfg = self.config
        if cfg.kind == "stdio":
            return "stdio: " + " ".join([cfg.command or "", *cfg.args])
        return f"{cfg.kind}: {cfg.url}"

    # ------------------------------------------------------------------ tool list

    async def _list_tools(self, client: Client) -> list[types.Tool]:
        """Every page of tools/list, following next_cursor to the end."""
        tools: list[types.Tool] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                return tools
            if cursor in seen:
                raise RuntimeError(f"tools/list repeated the cursor {cursor!r}")
            seen.add(cursor)
        raise RuntimeError(f"tools/list did not end after {MAX_PAGES} pages")

    async def _on_message(self, message: types.ServerNotification | Exception) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._refresh.set()
        elif isinstance(message, Exception):
            self.log.warning(
                "MCP server %s: transport error: %s", self.name, self.redact(self._explain(message))
            )

    async def _refresher(self, client: Client) -> None:
        while True:
            await self._refresh.wait()
            self._refresh = anyio.Event()
            try:
                tools = await self._list_tools(client)
            except (MCPError, RuntimeError, httpx2.HTTPError) as exc:
                self.log.warning(
                    "MCP server %s: relisting tools failed: %s",
                    self.name,
                    self.redact(self._explain(exc)),
                )
                continue
            self.tools = tools
            self.log.info("MCP server %s changed its tools: now %d", self.name, len(tools))
            self.on_change()

    async def _listen(
        self, client: Client, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """2026-era servers announce changes only on a `subscriptions/listen` stream."""
        first = True
        while True:
            try:
                async with client.listen(tools_list_changed=True) as sub:
                    if first:
                        task_status.started()
                        first = False
                    else:  # a new subscription: catch up on what the gap may have hidden
                        self._refresh.set()
                    async for _event in sub:
                        self._refresh.set()
            except (MCPError, RuntimeError) as exc:
                self.log.warning(
                    "MCP server %s: change subscription ended: %s",
                    self.name,
                    self.redact(self._explain(exc)),
                )
            if first:  # never subscribed: start serving anyway, and keep trying
                task_status.started()
                first = False
            await anyio.sleep(1.0)

    # ------------------------------------------------------------------ calls

    async def call(
        self, tool: str, arguments: dict[str, Any], *, progress: ProgressFnT | None = None
    ) -> types.CallToolResult:
        """Call a tool. Raises ServerUnavailable when the server is not there (or goes away
        during the call), MCPError when the server refuses the request."""
        client = self._client
        if client is None:
            raise ServerUnavailable(self.unavailable_message())
        try:
            return await client.call_tool(tool, arguments, progress_callback=progress)
        except MCPError as exc:
            if exc.code != types.CONNECTION_CLOSED:
                raise
            if self._lost is not None:
                self._lost.set()
            again = "restarting" if self.config.kind == "stdio" else "reconnecting to"
            raise ServerUnavailable(
                f"MCP server {self.name!r} went away while this call was running (its process "
                "exited or the connection dropped), so the call may or may not have taken "
                f"effect. The bridge is {again} the server; try again shortly."
            ) from None

    def unavailable_message(self) -> str:
        if self.state == "starting":
            return f"MCP server {self.name!r} is still starting; try again shortly."
        return (
            f"MCP server {self.name!r} is unavailable ({self.reason}); the bridge keeps "
            "retrying it in the background."
        )

    def _explain(self, exc: BaseException) -> str:
        while isinstance(exc, BaseExceptionGroup):
            group = cast(BaseExceptionGroup[BaseException], exc)
            exc = group.exceptions[0]
        if isinstance(exc, FileNotFoundError | PermissionError) and self.config.kind == "stdio":
            text = f"cannot start {self.config.command!r}: {exc.strerror}"
        elif isinstance(exc, MCPError):
            text = f"{exc.message} (MCP error {exc.code})"
        elif isinstance(exc, httpx2.HTTPError):
            text = f"cannot reach {self.config.url}: {type(exc).__name__}: {exc}"
        else:
            text = str(exc) or type(exc).__name__
        return text
