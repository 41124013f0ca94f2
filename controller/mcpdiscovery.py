"""The MCPServer reconciler: apply a managed server's Deployment, Service and NetworkPolicy,
connect to the server with the official MCP client, and write what it offers into `.status`:
Ready (with the reason it is not), protocol version, server name and version, the tools the
resource's filters keep (with their annotations), the last error. Looked at again every
minute when ready, every 10 seconds when not.

Discovery sends a server's plain headers only: the controller reads no Secrets, so a server
that needs a secret header and refuses without it is `Ready: Unknown` (CredentialsNotChecked),
not down; runs get the header from the Secret and reach it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client._transport import TransportStreams
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from pydantic import ValidationError

from controller.crd.mcpserver import MCPServer, MCPServerStatus, ServerTool
from controller.crd.models import Condition
from controller.kube import Kube, NotFound
from controller.mcpservers import SERVER_LABEL, managed_objects, server_url
from controller.runner import Key, Watch
from controller.schedule import format_time

__all__ = ["MCPServerReconciler", "Probe", "probe"]

log = logging.getLogger("podium.controller.mcpservers")
READY_EVERY = 60.0
FAILING_EVERY = 10.0
MAX_PAGES = 50
CLIENT_INFO = types.Implementation(name="podium-controller", version="0.1.0")


@dataclass
class Probe:
    """What one connection to a server showed."""

    protocol: str | None = None
    name: str | None = None
    version: str | None = None
    tools: list[types.Tool] = field(default_factory=lambda: list[types.Tool]())
    error: str | None = None
    status_code: int | None = None


def _explain(error: BaseException) -> tuple[str, int | None]:
    exc: BaseException = error
    while isinstance(exc, BaseExceptionGroup):
        group = cast(BaseExceptionGroup[BaseException], exc)
        if not group.exceptions:
            break
        exc = group.exceptions[0]
    if isinstance(exc, httpx2.HTTPStatusError):
        code = int(cast(Any, exc.response).status_code)
        return f"HTTP {code} from the server", code
    if isinstance(exc, TimeoutError):
        return "no answer in time", None
    last = cast(BaseException, exc)
    text = f"{last.__class__.__name__}: {last}"
    return text[:500], None


@contextlib.asynccontextmanager
async def _transport(
    url: str, kind: str, headers: dict[str, str]
) -> AsyncGenerator[TransportStreams]:
    if kind == "sse":
        async with sse_client(url, headers=headers or None) as streams:
            yield streams
        return
    async with (
        create_mcp_http_client(headers=headers or None) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


async def probe(url: str, kind: str, headers: dict[str, str], timeout: float) -> Probe:
    """Connect, list every tool page by page, disconnect."""
    found = Probe()
    try:
        with anyio.fail_after(timeout):
            async with Client(
                _transport(url, kind, headers), mode="auto", cache=None, client_info=CLIENT_INFO
            ) as client:
                found.protocol = client.protocol_version
                info = client.server_info
                found.name, found.version = (info.name, info.version) if info else (None, None)
                cursor: str | None = None
                for _ in range(MAX_PAGES):
                    page = await client.list_tools(cursor=cursor)
                    found.tools += page.tools
                    cursor = page.next_cursor
                    if cursor is None:
                        break
    except Exception as exc:  # whatever a transport or a server can throw
        found.error, found.status_code = _explain(exc)
    return found


def _keep(server: MCPServer, tool: types.Tool) -> bool:
    spec = server.spec
    names = [tool.name, f"{spec.prefix if spec.prefix is not None else server.name}_{tool.name}"]
    if spec.allow and not any(fnmatch.fnmatchcase(n, p) for n in names for p in spec.allow):
        return False
    if any(fnmatch.fnmatchcase(n, p) for n in names for p in spec.deny):
        return False
    return not spec.readOnly or bool(tool.annotations and tool.annotations.read_only_hint)


def _tool(tool: types.Tool) -> ServerTool:
    a = tool.annotations
    return ServerTool(
        name=tool.name[:256],
        readOnly=bool(a and a.read_only_hint),
        destructive=bool(a and a.destructive_hint),
        idempotent=bool(a and a.idempotent_hint),
        openWorld=bool(a and a.open_world_hint),
        description=(tool.description or "").strip().split("\n", 1)[0][:200],
    )


def _server_keys(obj: dict[str, Any]) -> list[Key]:
    meta: dict[str, Any] = obj.get("metadata") or {}
    return [Key("MCPServer", meta.get("namespace", ""), meta.get("name", ""))]


def _owned_keys(obj: dict[str, Any]) -> list[Key]:
    meta: dict[str, Any] = obj.get("metadata") or {}
    labels: dict[str, str] = meta.get("labels") or {}
    name = labels.get(SERVER_LABEL)
    return [Key("MCPServer", meta.get("namespace", ""), name)] if name else []


Prober = Callable[[str, str, dict[str, str], float], Awaitable[Probe]]


class MCPServerReconciler:
    kind = "MCPServer"

    def __init__(
        self,
        kube: Kube,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        prober: Prober = probe,
    ) -> None:
        self.kube = kube
        self.clock = clock
        self.prober = prober

    def watches(self) -> Sequence[Watch]:
        return [
            Watch("MCPServer", _server_keys),
            Watch("Deployment", _owned_keys, {"app.kubernetes.io/name": "podium-mcpserver"}),
        ]

    async def reconcile(self, key: Key) -> float | None:
        raw = await self.kube.get("MCPServer", key.name, key.namespace)
        if raw is None:
            return None
        meta: dict[str, Any] = raw.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return None
        try:
            server = MCPServer.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            message = f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            await self._write(raw, self._status(None, "InvalidSpec", message, "False"))
            return None
        server.metadata.setdefault("namespace", key.namespace)
        for obj in managed_objects(server):
            await self.kube.apply(obj)
        external = server.spec.external
        plain: dict[str, str] = {}
        for h in external.headers if external else []:
            if h.value:
                plain[h.name] = h.value
        secret = bool(external and any(h.secretKeyRef for h in external.headers))
        url = server_url(server)
        seen = await self.prober(
            url,
            external.transport if external else "http",
            plain,
            server.spec.startupTimeoutSeconds,
        )
        if seen.error is None:
            status = self._status(server, "Discovered", f"{len(seen.tools)} tools", "True")
            kept = [t for t in seen.tools if _keep(server, t)]
            status.tools = [_tool(t) for t in kept[:256]]
            status.toolCount = len(kept)
            status.protocolVersion = seen.protocol
            status.serverName, status.serverVersion = seen.name, seen.version
        elif secret and seen.status_code in (401, 403):
            message = (
                f"{seen.error}: discovery sends no Secret headers (the controller reads no "
                "Secrets); runs get them and may well get in"
            )
            status = self._status(server, "CredentialsNotChecked", message, "Unknown")
            status.lastError = seen.error
        else:
            reason = "Unreachable" if seen.status_code is None else "Refused"
            status = self._status(server, reason, f"{url}: {seen.error}", "False")
            status.lastError = seen.error
        status.url = url
        status.observedGeneration = server.metadata.get("generation")
        await self._write(raw, status)
        return READY_EVERY if seen.error is None else FAILING_EVERY

    def _status(
        self, server: MCPServer | None, reason: str, message: str, ready: str
    ) -> MCPServerStatus:
        old = server.status if server else None
        previous = next((c for c in (old.conditions if old else []) if c.type == "Ready"), None)
        now = format_time(self.clock())
        since = previous.lastTransitionTime if previous and previous.status == ready else now
        condition = Condition(
            type="Ready",
            status="True" if ready == "True" else "False" if ready == "False" else "Unknown",
            reason=reason,
            message=message[:4096],
            lastTransitionTime=since,
        )
        return MCPServerStatus(conditions=[condition], lastChecked=now)

    async def _write(self, raw: dict[str, Any], status: MCPServerStatus) -> None:
        meta: dict[str, Any] = raw.get("metadata") or {}
        new = status.model_dump(mode="json", exclude_none=True)
        old: dict[str, Any] = dict(raw.get("status") or {})
        if {k: v for k, v in new.items() if k != "lastChecked"} == {
            k: v for k, v in old.items() if k != "lastChecked"
        }:
            return  # unchanged: no write (lastChecked moves only with a change)
        with contextlib.suppress(NotFound):
            await self.kube.patch_status(
                meta.get("name", ""), meta.get("namespace", ""), new, kind="MCPServer"
            )
