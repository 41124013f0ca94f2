"""The `MCPServer` kind (podium.dev/v1alpha1): an MCP server a cluster runs once (or reaches
outside) and many runs share, with the bridge's filters on the resource.

- **external**: a `url` (streamable HTTP, or legacy SSE), headers whose values come from
  Secrets (never copied into a ConfigMap: the run's bridge gets them as env references);
- **managed**: an image and command the controller runs as a Deployment and a Service; a
  stdio-only server is wrapped by `podium mcp serve-stdio`, so the image needs `podium` (and
  the server) on its PATH.

The controller connects to each server and writes what it offers into `.status` (Ready,
protocol version, the tools with their annotations, the last error).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.crd.models import Condition, Resources, SecretEnv, SecretKeyRef

__all__ = [
    "ExternalServer",
    "Header",
    "MCPServer",
    "MCPServerSpec",
    "MCPServerStatus",
    "ManagedServer",
    "ServerTool",
]

Glob = Annotated[str, Field(min_length=1, max_length=256)]
HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"


def _cel(*rules: tuple[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


class Header(
    _Model,
    json_schema_extra=_cel(
        (
            "has(self.value) != has(self.secretKeyRef)",
            "a header has exactly one of value or secretKeyRef",
        ),
    ),
):
    """One HTTP header sent to an external server."""

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=HEADER_NAME)]
    value: Annotated[str | None, Field(max_length=4096)] = None
    """A plain value (not for secrets)."""
    secretKeyRef: SecretKeyRef | None = None
    """The value, from a Secret in the server's namespace (e.g. `Authorization`)."""


class ExternalServer(_Model):
    url: Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^https?://")]
    """The endpoint (keep secrets out of it: use headers)."""
    transport: Literal["http", "sse"] = "http"
    """`http` (streamable HTTP) or `sse` (the legacy transport)."""
    headers: Annotated[list[Header], Field(max_length=16)] = Field(
        default_factory=lambda: list[Header]()
    )


class ManagedServer(_Model):
    """A server the controller runs: a Deployment (non-root, read-only root) and a Service."""

    image: Annotated[str, Field(min_length=1, max_length=512)]
    command: Annotated[list[Annotated[str, Field(max_length=1024)]], Field(min_length=1)]
    """The server's program and arguments (an argument list, no shell)."""
    stdio: bool = True
    """The command speaks MCP on stdin/stdout: it is wrapped by `podium mcp serve-stdio` (which
    the image must have). False: the command serves streamable HTTP itself on `port`."""
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    path: Annotated[str, Field(max_length=256, pattern=r"^/")] = "/mcp"
    env: Annotated[dict[str, Annotated[str, Field(max_length=4096)]], Field(max_length=64)] = Field(
        default_factory=lambda: dict[str, str]()
    )
    secretEnv: Annotated[list[SecretEnv], Field(max_length=32)] = Field(
        default_factory=lambda: list[SecretEnv]()
    )
    """Environment from Secrets, for the server's container."""
    replicas: Annotated[int, Field(ge=1, le=20)] = 1
    resources: Resources = Field(default_factory=Resources)


class MCPServerSpec(
    _Model,
    json_schema_extra=_cel(
        (
            "has(self.external) != has(self.managed)",
            "an MCPServer is exactly one of external or managed",
        ),
    ),
):
    """Where the server is, and which of its tools runs get (as the bridge's config says)."""

    external: ExternalServer | None = None
    managed: ManagedServer | None = None
    allow: Annotated[list[Glob], Field(max_length=64)] = Field(default_factory=lambda: list[str]())
    """Glob patterns of tool names to keep (default: all)."""
    deny: Annotated[list[Glob], Field(max_length=64)] = Field(default_factory=lambda: list[str]())
    """Glob patterns of tool names to drop (wins over allow)."""
    readOnly: bool = False
    """Keep only tools annotated read-only."""
    prefix: Annotated[str | None, Field(max_length=32, pattern=r"^[A-Za-z0-9_]*$")] = None
    """Prefix of the tool names the model sees (default: the server's name; "" for none)."""
    timeoutSeconds: Annotated[int, Field(ge=1, le=3600)] = 60
    """Longest one call may take."""
    startupTimeoutSeconds: Annotated[int, Field(ge=1, le=600)] = 30
    """Longest connecting and listing the tools may take."""
    maxOutputBytes: Annotated[int, Field(ge=1000, le=10_000_000)] = 100_000


class ServerTool(_Model):
    """A tool the server offers, as discovery saw it (after the filters)."""

    name: Annotated[str, Field(max_length=256)]
    readOnly: bool = False
    destructive: bool = False
    idempotent: bool = False
    openWorld: bool = False
    description: Annotated[str, Field(max_length=200)] = ""


class MCPServerStatus(_Model):
    url: Annotated[str | None, Field(max_length=2048)] = None
    """Where runs reach the server."""
    protocolVersion: Annotated[str | None, Field(max_length=32)] = None
    serverName: Annotated[str | None, Field(max_length=256)] = None
    serverVersion: Annotated[str | None, Field(max_length=128)] = None
    toolCount: int | None = None
    tools: Annotated[list[ServerTool], Field(max_length=256)] = Field(
        default_factory=lambda: list[ServerTool]()
    )
    lastError: Annotated[str | None, Field(max_length=2048)] = None
    lastChecked: Annotated[str | None, Field(max_length=64)] = None
    observedGeneration: int | None = None
    conditions: Annotated[list[Condition], Field(max_length=8)] = Field(
        default_factory=lambda: list[Condition]()
    )


class MCPServer(_Model):
    apiVersion: Literal["podium.dev/v1alpha1"] = "podium.dev/v1alpha1"
    kind: Literal["MCPServer"] = "MCPServer"
    metadata: dict[str, Any] = Field(default_factory=lambda: dict[str, Any]())
    spec: MCPServerSpec
    status: MCPServerStatus | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "default")

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.metadata.get("labels") or {})
